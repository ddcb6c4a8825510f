import {baseState, BerthError, ExitCode} from '../../src/core/drivers/kit.js'
import type {
  BaseDriverState,
  Driver,
  DriverContext,
  DriverPlugin,
  MachineState,
  OptionValues,
  SshAddress,
} from '../../src/core/drivers/kit.js'
import {descriptor} from './descriptor.js'

/** docker-machine's shape: the URL, and IPAddress as the URL's host:port (drivers/none/driver.go: SetConfigFromFlags). */
export interface NoneState extends BaseDriverState {
  URL: string
}

/** Its words for what a host without a driver cannot do (drivers/none/driver.go). */
const cannot = (what: string) => new BerthError(`hosts without a driver cannot be ${what}`, ExitCode.failure)

class NoneDriver implements Driver {
  constructor(readonly state: NoneState) {}

  async preCreateCheck(): Promise<void> {}
  async create(): Promise<void> {}
  async start(): Promise<void> {
    throw cannot('started')
  }
  async stop(): Promise<void> {
    throw cannot('stopped')
  }
  async restart(): Promise<void> {
    throw cannot('restarted')
  }
  async kill(): Promise<void> {
    throw cannot('killed')
  }
  /** The engine is not berth's: removing the registration leaves it alone. */
  async remove(): Promise<void> {}
  async getState(): Promise<MachineState> {
    return 'Running'
  }
  async getIP(): Promise<string> {
    return this.state.IPAddress
  }
  async getSSHAddress(): Promise<SshAddress> {
    throw new BerthError(
      `machine "${this.state.MachineName}" has no driver (none): there is no SSH access to it`,
      ExitCode.failure,
    )
  }
}

/** A tcp:// URL with a host and a port, nothing else (it becomes DOCKER_HOST and the record's address). */
export function parseEngineUrl(value: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new BerthError(`--url ${JSON.stringify(value)} is not a URL (tcp://HOST:PORT)`, ExitCode.usage)
  }
  if (url.protocol !== 'tcp:' || !url.hostname || !url.port || url.username || url.password)
    throw new BerthError(`--url ${JSON.stringify(value)} is not tcp://HOST:PORT`, ExitCode.usage)
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash)
    throw new BerthError(`--url ${JSON.stringify(value)} has more than tcp://HOST:PORT`, ExitCode.usage)
  return url
}

export const noneDriver: DriverPlugin<NoneState> = {
  ...descriptor,
  async configure(values: OptionValues, context: DriverContext): Promise<NoneState> {
    const value = values.url
    if (typeof value !== 'string' || value === '')
      throw new BerthError('--url option is required when no driver is selected', ExitCode.usage)
    const url = parseEngineUrl(value)
    return baseState(context, {
      URL: `tcp://${url.host}`,
      IPAddress: url.host,
      SSHUser: '',
      SSHPort: 0,
      SSHKeyPath: '',
    })
  },
  load(state: NoneState): Driver {
    return new NoneDriver(state)
  },
}
