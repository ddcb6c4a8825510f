/**
 * A fake driver: a real in-memory implementation of the driver contract (src/core/drivers/contract.ts)
 * whose "provider" is a FakeCloud the test holds, so a test can fail any step, make a resource vanish
 * behind berth's back, and see what the flows left behind. Registered through the registry's public API.
 */
import {createServer} from 'node:net'
import {
  baseState,
  type Driver,
  type DriverContext,
  type DriverPlugin,
  type MachineState,
  type SshAddress,
} from '../../src/core/drivers/contract.js'
import {registerDriver} from '../../src/core/drivers/registry.js'
import type {BaseDriverState} from '../../src/core/store/record.js'

export const FAKE_DRIVER = 'fake'

export type DriverStep =
  | 'preCreateCheck'
  | 'create'
  | 'start'
  | 'stop'
  | 'restart'
  | 'kill'
  | 'remove'
  | 'getState'
  | 'getIP'
  | 'getSSHAddress'

interface Failure {
  error: Error
  /** How many more calls fail; then the step works again. */
  times: number
  /** The step does its work and then fails (a half-made create, a stop that timed out after stopping). */
  afterEffect: boolean
}

interface FakeState extends BaseDriverState {
  EnginePort: number
}

/** The provider behind the fake driver: which machines exist and in what state. */
export class FakeCloud {
  readonly machines = new Map<string, {state: MachineState}>()
  readonly calls: string[] = []
  private readonly failures = new Map<DriverStep, Failure>()

  /** Makes `step` throw `message` (for `times` calls, after doing its work when `afterEffect`). */
  failAt(step: DriverStep, message: string, options: {times?: number; afterEffect?: boolean} = {}): void {
    this.failures.set(step, {
      error: new Error(message),
      times: options.times ?? Number.POSITIVE_INFINITY,
      afterEffect: options.afterEffect ?? false,
    })
  }

  heal(step: DriverStep): void {
    this.failures.delete(step)
  }

  reset(): void {
    this.machines.clear()
    this.calls.length = 0
    this.failures.clear()
  }

  /** Runs one step: records the call, fails before or after `work` as programmed. */
  async step<T>(machine: string, step: DriverStep, work: () => T): Promise<T> {
    this.calls.push(`${step} ${machine}`)
    const failure = this.failures.get(step)
    if (failure && failure.times > 0) {
      failure.times--
      if (failure.afterEffect) work()
      throw failure.error
    }
    return work()
  }
}

class FakeDriver implements Driver {
  constructor(
    readonly state: FakeState,
    private readonly cloud: FakeCloud,
  ) {}

  private get name(): string {
    return this.state.MachineName
  }

  private existing(): {state: MachineState} {
    const machine = this.cloud.machines.get(this.name)
    if (!machine) throw new Error(`fake machine ${this.name} does not exist`)
    return machine
  }

  private setState(state: MachineState): void {
    this.existing().state = state
  }

  preCreateCheck(): Promise<void> {
    return this.cloud.step(this.name, 'preCreateCheck', () => {})
  }

  create(): Promise<void> {
    return this.cloud.step(this.name, 'create', () => {
      this.cloud.machines.set(this.name, {state: 'Running'})
      this.state.IPAddress = '127.0.0.1'
    })
  }

  start(): Promise<void> {
    return this.cloud.step(this.name, 'start', () => this.setState('Running'))
  }

  stop(): Promise<void> {
    return this.cloud.step(this.name, 'stop', () => this.setState('Stopped'))
  }

  restart(): Promise<void> {
    return this.cloud.step(this.name, 'restart', () => this.setState('Running'))
  }

  kill(): Promise<void> {
    return this.cloud.step(this.name, 'kill', () => this.setState('Stopped'))
  }

  /** As the contract asks: a machine already gone is not an error. */
  remove(): Promise<void> {
    return this.cloud.step(this.name, 'remove', () => {
      this.cloud.machines.delete(this.name)
    })
  }

  getState(): Promise<MachineState> {
    return this.cloud.step(
      this.name,
      'getState',
      () => this.cloud.machines.get(this.name)?.state ?? 'NotFound',
    )
  }

  getIP(): Promise<string> {
    return this.cloud.step(this.name, 'getIP', () => {
      if (this.existing().state !== 'Running') throw new Error(`fake machine ${this.name} is not running`)
      return '127.0.0.1'
    })
  }

  getSSHAddress(): Promise<SshAddress> {
    return this.cloud.step(this.name, 'getSSHAddress', () => {
      this.existing()
      return {
        host: '127.0.0.1',
        port: this.state.SSHPort,
        user: this.state.SSHUser,
        keyPath: this.state.SSHKeyPath,
      }
    })
  }
}

/** A loopback port nothing listens on now, for the fake engine. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise((resolve) => server.close(resolve))
  return port
}

let registered: FakeCloud | undefined

/** Registers the fake driver once per test file and returns its provider. */
export function registerFakeDriver(): FakeCloud {
  if (registered) return registered
  const cloud = new FakeCloud()
  const plugin: DriverPlugin<FakeState> = {
    name: FAKE_DRIVER,
    description: 'in-memory driver for unit tests',
    options: [],
    configure: async (_values, context: DriverContext) => baseState(context, {EnginePort: await freePort()}),
    load: (state) => new FakeDriver(state, cloud),
  }
  registerDriver(plugin, 'test/fakes/driver.ts')
  registered = cloud
  return cloud
}
