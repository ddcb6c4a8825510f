import type {BaseDriverState} from '../store/record.js'

/** Machine states, as docker-machine reported them. */
export const MachineStates = [
  'Running',
  'Stopped',
  'Paused',
  'Saved',
  'Starting',
  'Stopping',
  'Error',
  'NotFound',
] as const
export type MachineState = (typeof MachineStates)[number]

/** One driver flag, shown to users as `--NAME` on `create`; env is its environment fallback. */
export interface DriverOption {
  name: string
  description: string
  type: 'string' | 'integer' | 'boolean'
  env?: string
  default?: string | number | boolean
  multiple?: boolean
  /** The value names one host, address or device, so one set of flags can make one machine, not several. */
  identifiesOneMachine?: boolean
}

export type OptionValues = Record<string, string | number | boolean | string[] | undefined>

/** What a driver may use of the store; it never sees other machines. */
export interface DriverContext {
  machineName: string
  /** The machine's folder: keys a driver creates go here. */
  machineDir: string
  storePath: string
  /** Progress messages for the user (not data). */
  log(message: string): void
}

export interface SshAddress {
  host: string
  port: number
  user: string
  keyPath: string
}

/** A driver bound to one machine. Its `state` is persisted in the machine record after each step. */
export interface Driver {
  readonly state: BaseDriverState
  /** Checks that can fail before anything is made (exit code 3). */
  preCreateCheck(): Promise<void>
  /** Makes the machine; when it resolves the machine is running and its SSH port is meant to answer. */
  create(): Promise<void>
  start(): Promise<void>
  stop(): Promise<void>
  restart(): Promise<void>
  kill(): Promise<void>
  /** Deletes everything the driver made; a machine already gone is not an error. */
  remove(): Promise<void>
  getState(): Promise<MachineState>
  getIP(): Promise<string>
  getSSHAddress(): Promise<SshAddress>
  /** Pushes the machine's labels to the provider's tags; absent where the provider has none. */
  updateLabels?(labels: Record<string, string>): Promise<void>
}

/** A docker-machine driver state turned into this driver's, with lines for the user about what was left out. */
export interface AdoptedDriver<S extends BaseDriverState = BaseDriverState> {
  state: S
  notes: string[]
}

/**
 * What berth knows of a driver before its code loads: enough for `create`'s flags and help, and
 * for the registry. A built-in driver's descriptor is its own small module, so a command that
 * never acts on its machines never loads the driver (nor its SDK).
 */
export interface DriverDescriptor {
  name: string
  description: string
  options: DriverOption[]
  /** The plugin maps docker-machine records of this driver's name (it has `fromDockerMachine`). */
  adoptsDockerMachine?: boolean
}

/** A driver plugin: its descriptor, and how it turns flag values into a driver bound to a machine. */
export interface DriverPlugin<S extends BaseDriverState = BaseDriverState> extends DriverDescriptor {
  /** Validates option values and returns the driver's initial state; touches nothing. */
  configure(values: OptionValues, context: DriverContext): Promise<S>
  /** Binds a driver to a machine's persisted state. */
  load(state: S, context: DriverContext): Driver
  /**
   * Maps the `Driver` section of a docker-machine record of this driver's name onto this driver's
   * state (`berth import --from`); throws a BerthError for a record it cannot manage. Without it,
   * such records are refused unless the driver keeps docker-machine's own state shape.
   */
  fromDockerMachine?(driver: Record<string, unknown>, machineName: string): AdoptedDriver<S>
}

/** The base fields of a new machine's driver state, with the driver's own `fields` (which may override them). */
export function baseState<F extends object>(
  context: DriverContext,
  fields: F,
): Omit<BaseDriverState, keyof F> & F {
  return {
    IPAddress: '',
    MachineName: context.machineName,
    SSHUser: 'root',
    SSHPort: 22,
    SSHKeyPath: `${context.machineDir}/id_ed25519`,
    StorePath: context.storePath,
    ...fields,
  } as Omit<BaseDriverState, keyof F> & F
}
