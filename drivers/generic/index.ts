import {copyFile, chmod, readFile} from 'node:fs/promises'
import {connect, isIP} from 'node:net'
import {resolve} from 'node:path'
import {homedir} from 'node:os'
import ssh2 from 'ssh2'
import {baseState, BerthError, ExitCode, oneLine} from '../../src/core/drivers/kit.js'
import type {
  Driver,
  DriverContext,
  DriverPlugin,
  MachineState,
  OptionValues,
  SshAddress,
} from '../../src/core/drivers/kit.js'
import {descriptor} from './descriptor.js'
import type {GenericState} from './state.js'

/** Resolves when a TCP connection to host:port opens within `timeoutMs`. */
function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({host, port})
    const finish = (ok: boolean) => {
      socket.destroy()
      done(ok)
    }
    socket.setTimeout(timeoutMs, () => finish(false))
    socket.once('connect', () => finish(true))
    socket.once('error', () => finish(false))
  })
}

class GenericDriver implements Driver {
  constructor(
    readonly state: GenericState,
    private readonly context: DriverContext,
  ) {}

  async preCreateCheck(): Promise<void> {}

  /** Nothing to make: the host exists. The user's key is copied in so the record stands alone. */
  async create(): Promise<void> {
    const source = this.state.SourceSSHKeyPath
    const target = `${this.context.machineDir}/id_ssh`
    await copyFile(source, target)
    await chmod(target, 0o600)
    this.state.SSHKeyPath = target
  }

  async start(): Promise<void> {
    throw new BerthError('the generic driver cannot start a host; start it yourself', ExitCode.failure)
  }

  async stop(): Promise<void> {
    throw new BerthError('the generic driver cannot stop a host; stop it yourself', ExitCode.failure)
  }

  async restart(): Promise<void> {
    throw new BerthError(
      'the generic driver cannot restart a host; use `berth ssh NAME reboot`',
      ExitCode.failure,
    )
  }

  async kill(): Promise<void> {
    throw new BerthError('the generic driver cannot kill a host', ExitCode.failure)
  }

  /** The host is not berth's: removing the machine leaves it (and its engine) as it is. */
  async remove(): Promise<void> {}

  async getState(): Promise<MachineState> {
    // Berth cannot see the host's power state; a host whose SSH port answers is running.
    return (await canConnect(this.state.IPAddress, this.state.SSHPort, 3000)) ? 'Running' : 'Stopped'
  }

  async getIP(): Promise<string> {
    return this.state.IPAddress
  }

  async getSSHAddress(): Promise<SshAddress> {
    return {
      host: this.state.IPAddress,
      port: this.state.SSHPort,
      user: this.state.SSHUser,
      keyPath: this.state.SSHKeyPath,
    }
  }
}

export const genericDriver: DriverPlugin<GenericState> = {
  ...descriptor,

  async configure(values: OptionValues, context: DriverContext): Promise<GenericState> {
    const host = values['generic-ip-address']
    if (typeof host !== 'string' || host === '') {
      throw new BerthError('--generic-ip-address is required for the generic driver', ExitCode.usage)
    }
    if (!isIP(host) && !/^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/.test(host)) {
      throw new BerthError(
        `--generic-ip-address ${JSON.stringify(host)} is neither an IP address nor a hostname`,
        ExitCode.usage,
      )
    }
    const port = Number(values['generic-ssh-port'] ?? 22)
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new BerthError(`--generic-ssh-port ${port} is not a port`, ExitCode.usage)
    const candidates = values['generic-ssh-key']
      ? [resolve(String(values['generic-ssh-key']))]
      : [`${homedir()}/.ssh/id_ed25519`, `${homedir()}/.ssh/id_rsa`]
    let keyPath: string | undefined
    let lastError = ''
    for (const candidate of candidates) {
      try {
        const parsed = ssh2.utils.parseKey(await readFile(candidate))
        if (parsed instanceof Error) throw parsed
        keyPath = candidate
        break
      } catch (err) {
        lastError = `${candidate}: ${oneLine(err)}`
      }
    }
    if (!keyPath)
      throw new BerthError(
        `no usable SSH private key (${lastError})`,
        ExitCode.usage,
        'pass --generic-ssh-key PATH',
      )
    return baseState(context, {
      IPAddress: host,
      SSHUser: String(values['generic-ssh-user'] ?? 'root'),
      SSHPort: port,
      SSHKeyPath: keyPath,
      SourceSSHKeyPath: keyPath,
    })
  },

  load(state: GenericState, context: DriverContext): Driver {
    return new GenericDriver(state, context)
  },
}
