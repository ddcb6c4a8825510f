import {createHash, randomBytes} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import type {Client, ClientChannel, SFTPWrapper} from 'ssh2'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import {poll} from '../poll.js'

export interface SshTarget {
  host: string
  port: number
  user: string
  privateKeyPath: string
  /** Names the machine in errors. */
  machine: string
}

/**
 * Trust on first use: with no pinned key the first key seen is accepted and handed to `pin`;
 * after that any other key is refused.
 */
export interface HostKeyPolicy {
  pinned?: string
  pin(hostKey: string): Promise<void>
}

export class HostKeyMismatchError extends BerthError {}

/** A private key that cannot be used: retrying will not help. */
export class SshKeyError extends BerthError {}

export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}

export interface ExecOptions {
  onStdout?: (chunk: Buffer) => void
  onStderr?: (chunk: Buffer) => void
  /** Allocate a terminal (for interactive sessions). */
  pty?: boolean
  /** Fed to the command's stdin; without it the command sees end-of-input at once. */
  stdin?: NodeJS.ReadableStream
}

/** Single-quotes a string for POSIX sh. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`
}

/** "ssh-ed25519 AAAA..." from the wire-format key blob ssh2 hands the verifier. */
export function hostKeyLine(blob: Buffer): string {
  const typeLength = blob.readUInt32BE(0)
  const type = blob.subarray(4, 4 + typeLength).toString('ascii')
  return `${type} ${blob.toString('base64')}`
}

export function fingerprint(hostKey: string): string {
  const blob = Buffer.from(hostKey.split(' ')[1] ?? '', 'base64')
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')
}

export class SshSession {
  constructor(
    private readonly client: Client,
    readonly target: SshTarget,
  ) {}

  private get sudo(): string {
    return this.target.user === 'root' ? '' : 'sudo -n '
  }

  /** Runs a shell command as root (through sudo for other users), streaming its output. */
  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const wrapped = this.sudo ? `${this.sudo}sh -c ${shellQuote(command)}` : command
    return this.execRaw(wrapped, options)
  }

  execRaw(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, {pty: options.pty}, (err: Error | undefined, stream: ClientChannel) => {
        if (err) return reject(err)
        if (options.stdin) options.stdin.pipe(stream)
        else stream.end()
        const out: Buffer[] = []
        const errOut: Buffer[] = []
        stream.on('data', (chunk: Buffer) => {
          out.push(chunk)
          options.onStdout?.(chunk)
        })
        stream.stderr.on('data', (chunk: Buffer) => {
          errOut.push(chunk)
          options.onStderr?.(chunk)
        })
        stream.on('close', (code: number | null, signal?: string) => {
          resolve({
            code: code ?? (signal ? 128 : 255),
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(errOut).toString('utf8'),
          })
        })
        stream.on('error', reject)
      })
    })
  }

  /** Runs a command and fails with its last stderr line when it exits non-zero. */
  async run(command: string, what: string, options: ExecOptions = {}): Promise<string> {
    const result = await this.exec(command, options)
    if (result.code !== 0) {
      const detail =
        (result.stderr || result.stdout).trim().split('\n').filter(Boolean).pop() ??
        `exit code ${result.code}`
      throw new BerthError(`${what} failed on ${this.target.machine}: ${detail}`)
    }
    return result.stdout
  }

  sftp(): Promise<SFTPWrapper> {
    return new Promise((resolve, reject) =>
      this.client.sftp((err, sftp) => (err ? reject(err) : resolve(sftp))),
    )
  }

  /**
   * Uploads content over SFTP (never through a command line) to a private temp file, then
   * moves it into place with its mode in one `install`, so readers never see half a file.
   */
  async upload(remotePath: string, content: string | Buffer, mode: number): Promise<void> {
    const sftp = await this.sftp()
    const tmp = `.berth-upload-${randomBytes(6).toString('hex')}`
    try {
      await new Promise<void>((resolve, reject) =>
        sftp.writeFile(tmp, content, {mode: 0o600}, (err) => (err ? reject(err) : resolve())),
      )
    } finally {
      sftp.end()
    }
    const modeText = mode.toString(8).padStart(4, '0')
    // The temp file lives in the login user's home; `install` copies it as root with the wanted mode.
    const home = (await this.execRaw('pwd')).stdout.trim()
    await this.run(
      `install -D -m ${modeText} ${shellQuote(`${home}/${tmp}`)} ${shellQuote(remotePath)}; s=$?; rm -f ${shellQuote(`${home}/${tmp}`)}; exit $s`,
      `uploading ${remotePath}`,
    )
  }

  /** An interactive shell bound to this process's terminal; resolves with the remote exit code. */
  shell(command?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const stdin = process.stdin
      const window = {
        rows: process.stdout.rows ?? 24,
        cols: process.stdout.columns ?? 80,
        term: process.env.TERM ?? 'xterm',
      }
      const onStream = (err: Error | undefined, stream: ClientChannel) => {
        if (err) return reject(err)
        const raw = stdin.isTTY
        if (raw) stdin.setRawMode(true)
        stdin.pipe(stream)
        stream.pipe(process.stdout)
        stream.stderr.pipe(process.stderr)
        const onResize = () => stream.setWindow(process.stdout.rows ?? 24, process.stdout.columns ?? 80, 0, 0)
        process.stdout.on('resize', onResize)
        stream.on('close', (code: number | null) => {
          process.stdout.off('resize', onResize)
          stdin.unpipe(stream)
          if (raw) stdin.setRawMode(false)
          stdin.pause()
          resolve(code ?? 0)
        })
      }
      if (command) this.client.exec(command, {pty: window}, onStream)
      else this.client.shell(window, onStream)
    })
  }

  close(): void {
    this.client.end()
  }
}

export interface ConnectOptions {
  readyTimeoutMs?: number
}

export async function connectSsh(
  target: SshTarget,
  policy: HostKeyPolicy,
  options: ConnectOptions = {},
): Promise<SshSession> {
  const privateKey = await readFile(target.privateKeyPath).catch((err) => {
    throw new SshKeyError(`cannot read SSH key ${target.privateKeyPath}: ${oneLine(err)}`)
  })
  // ssh2 loads here, not at start-up: read commands open machines without ever connecting.
  const {default: ssh2} = await import('ssh2')
  const parsed = ssh2.utils.parseKey(privateKey)
  if (parsed instanceof Error)
    throw new SshKeyError(`cannot use SSH key ${target.privateKeyPath}: ${parsed.message}`)
  const client = new ssh2.Client()
  let seen: string | undefined
  let mismatch = false
  await new Promise<void>((resolve, reject) => {
    client.on('ready', () => resolve())
    client.on('error', (err) => reject(err))
    // ssh2 reports no error when a server drops the connection mid-handshake (sshd shutting down for a reboot).
    client.on('close', () => reject(new Error('connection closed before SSH was ready')))
    client.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey,
      readyTimeout: options.readyTimeoutMs ?? 20_000,
      hostVerifier: (blob: Buffer) => {
        seen = hostKeyLine(blob)
        mismatch = policy.pinned !== undefined && policy.pinned !== seen
        return !mismatch
      },
    })
  }).catch((err) => {
    client.end()
    if (mismatch && seen) {
      throw new HostKeyMismatchError(
        `SSH host key of ${target.machine} (${target.host}:${target.port}) changed: pinned ${fingerprint(policy.pinned!)}, offered ${fingerprint(seen)}; refusing to connect`,
        ExitCode.failure,
        'if the machine was really rebuilt, remove and recreate it',
      )
    }
    throw err
  })
  if (policy.pinned === undefined && seen) await policy.pin(seen)
  return new SshSession(client, target)
}

/** Opens one SSH session; the one seam unit tests replace (test/fakes/ssh.ts) to play a host. */
export type SshConnector = (
  target: SshTarget,
  policy: HostKeyPolicy,
  options: ConnectOptions,
) => Promise<SshSession>

let connector: SshConnector = connectSsh

/** Swaps how sessions are opened (tests only); with no argument, real SSH again. */
export function useSshConnector(next: SshConnector = connectSsh): void {
  connector = next
}

/**
 * Retries SSH until it answers or the deadline passes; the error says what was tried and the
 * last failure. A changed host key is never retried.
 */
export async function waitForSsh(
  target: SshTarget,
  policy: HostKeyPolicy,
  deadlineMs: number,
  whyDown?: () => Promise<Error | undefined>,
): Promise<SshSession> {
  let lastError = 'no attempt made'
  let lastDownCheck = 0
  return poll(
    async (remainingMs) => {
      try {
        return await connector(target, policy, {
          readyTimeoutMs: Math.max(1000, Math.min(10_000, remainingMs)),
        })
      } catch (err) {
        if (err instanceof HostKeyMismatchError || err instanceof SshKeyError) throw err
        lastError = oneLine(err)
      }
      // A machine that went down will not answer: say so now rather than at the deadline.
      if (whyDown && Date.now() - lastDownCheck >= 5000) {
        lastDownCheck = Date.now()
        const reason = await whyDown()
        if (reason) throw reason
      }
      return undefined
    },
    {
      timeoutMs: deadlineMs,
      retryable: () => false, // the attempt keeps the connection errors; what it throws ends the wait
      onTimeout: ({attempts}) => {
        throw new BerthError(
          `SSH to ${target.machine} (${target.user}@${target.host}:${target.port}, key ${target.privateKeyPath}) did not answer within ${Math.round(deadlineMs / 1000)}s after ${attempts} attempts; last error: ${lastError}`,
          ExitCode.timeout,
          'check that the machine is running and its SSH port is reachable',
        )
      },
    },
  )
}
