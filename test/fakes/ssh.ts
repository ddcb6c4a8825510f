/**
 * A fake SSH host behind the one SSH seam (useSshConnector in src/core/ssh/ssh.ts): it answers the
 * commands provisioning runs (OS detection, dockerd lookup, the unit's ExecStart), keeps
 * uploaded files, pins a host key like a real server, and can refuse connections or drop one
 * mid-provision. When dockerd is restarted it serves /version over mutual TLS with the certificates
 * berth uploaded, so the flows' last proof (verifyEngine) is real TLS, not a stub.
 */
import {createServer, type Server} from 'node:https'
import ssh2 from 'ssh2'
import {
  type ExecResult,
  type HostKeyPolicy,
  HostKeyMismatchError,
  type SshConnector,
  SshSession,
  type SshTarget,
  useSshConnector,
} from '../../src/core/ssh/ssh.js'

export const DEBIAN_OS_RELEASE =
  'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'

export class FakeHost {
  osRelease = DEBIAN_OS_RELEASE
  dockerdInstalled = true
  hostKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForUnitTestsOnly0000000000000'
  /** While set, connecting fails with this message (sshd not up yet). */
  refuseConnections?: string
  /** The connection drops when a command matching this runs (or an upload to a matching path). */
  dropOn?: RegExp
  /** The engine port dockerd listens on once restarted; the test sets it from the record. */
  enginePort?: number
  readonly commands: string[] = []
  readonly files = new Map<string, {content: string; mode: number}>()
  openSessions = 0
  private engine?: Server

  connector(): SshConnector {
    return async (target, policy) => {
      if (this.refuseConnections) throw new Error(this.refuseConnections)
      await this.checkHostKey(target, policy)
      this.openSessions++
      return new FakeSession(this, target)
    }
  }

  private async checkHostKey(target: SshTarget, policy: HostKeyPolicy): Promise<void> {
    if (policy.pinned === undefined) await policy.pin(this.hostKey)
    else if (policy.pinned !== this.hostKey)
      throw new HostKeyMismatchError(`SSH host key of ${target.machine} changed`)
  }

  /** Runs one command as the host would; throws when the connection drops on it. */
  async run(command: string): Promise<ExecResult> {
    this.commands.push(command)
    if (this.dropOn?.test(command)) throw new Error('Connection lost')
    const ok = (stdout = ''): ExecResult => ({code: 0, stdout, stderr: ''})
    if (command === 'cat /etc/os-release') return ok(this.osRelease)
    if (command.startsWith('command -v dockerd'))
      return this.dockerdInstalled ? ok() : {code: 1, stdout: '', stderr: ''}
    if (command.includes('systemctl show -p FragmentPath')) return ok('/usr/bin/dockerd -H fd://\n')
    if (command.includes('systemctl restart docker.service')) {
      await this.restartEngine()
      return ok()
    }
    if (command.includes('/proc/sys/kernel/random/boot_id')) return ok('boot-1\n1\n')
    return ok()
  }

  upload(path: string, content: string | Buffer, mode: number): void {
    if (this.dropOn?.test(path)) throw new Error('Connection lost')
    this.files.set(path, {content: content.toString(), mode})
  }

  /** dockerd with berth's TLS files: mutual TLS, client certificates from berth's CA only. */
  private async restartEngine(): Promise<void> {
    await this.stopEngine()
    if (this.enginePort === undefined) return
    const file = (name: string) => this.files.get(`/etc/docker/${name}`)?.content
    const server = createServer(
      {
        cert: file('server.pem'),
        key: file('server-key.pem'),
        ca: file('ca.pem'),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        res.setHeader('Content-Type', 'application/json')
        res.end(
          req.url?.endsWith('/version')
            ? JSON.stringify({Version: '27.0.0-fake', ApiVersion: '1.47', Os: 'linux', Arch: 'amd64'})
            : '{}',
        )
      },
    )
    await new Promise<void>((resolve, reject) =>
      server.once('error', reject).listen(this.enginePort, '127.0.0.1', resolve),
    )
    this.engine = server
  }

  async stopEngine(): Promise<void> {
    const engine = this.engine
    this.engine = undefined
    if (engine) await new Promise((resolve) => engine.close(resolve).closeAllConnections())
  }

  /** Routes berth's SSH to this host until `restore`. */
  install(): void {
    useSshConnector(this.connector())
  }
}

/** A session on a FakeHost. It drops like a real one: the failing command, then every later one. */
class FakeSession extends SshSession {
  private dropped = false

  constructor(
    private readonly host: FakeHost,
    target: SshTarget,
  ) {
    super(new ssh2.Client(), target) // never connected: every call below is answered by the host
  }

  override async execRaw(command: string): Promise<ExecResult> {
    return this.live(() => this.host.run(command))
  }

  override async upload(remotePath: string, content: string | Buffer, mode: number): Promise<void> {
    await this.live(async () => this.host.upload(remotePath, content, mode))
  }

  override close(): void {
    if (!this.dropped) this.host.openSessions--
    this.dropped = true
  }

  private async live<T>(work: () => Promise<T>): Promise<T> {
    if (this.dropped) throw new Error('Not connected')
    try {
      return await work()
    } catch (err) {
      this.close()
      throw err
    }
  }
}

export function restoreSsh(): void {
  useSshConnector()
}
