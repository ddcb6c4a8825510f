import type {Driver, DriverContext} from '../drivers/contract.js'
import {driverPlugin} from '../drivers/registry.js'
import type {HostKeyPolicy, SshSession, SshTarget} from '../ssh/ssh.js'
import {waitForSsh} from '../ssh/ssh.js'
import {BERTH_SCHEMA_VERSION, type MachineRecord} from '../store/record.js'
import {DEFAULT_ENGINE_PORT} from '../engine/url.js'
import type {Store} from '../store/store.js'

/** Progress messages for the user; core never prints. */
export interface Reporter {
  step(message: string): void
}

export const silentReporter: Reporter = {step: () => {}}

export function driverContext(
  store: Store,
  name: string,
  reporter: Reporter = silentReporter,
): DriverContext {
  return {
    machineName: name,
    machineDir: store.machineDir(name),
    storePath: store.root,
    log: (m) => reporter.step(m),
  }
}

/** A machine record bound to its driver. */
export class Machine {
  constructor(
    readonly store: Store,
    readonly record: MachineRecord,
    readonly driver: Driver,
  ) {
    // A machine docker-machine made and provisioned, in its own store: berth's state starts here (host key pinned on first use).
    record.Berth ??= {
      SchemaVersion: BERTH_SCHEMA_VERSION,
      CreatedAt: '',
      Phase: 'provisioned',
      EnginePort: DEFAULT_ENGINE_PORT,
      Timings: {},
    }
  }

  /** Binds a record to its driver, loading the driver's code on first use. */
  static async bind(
    store: Store,
    record: MachineRecord,
    reporter: Reporter = silentReporter,
  ): Promise<Machine> {
    const plugin = await driverPlugin(record.DriverName)
    return new Machine(store, record, plugin.load(record.Driver, driverContext(store, record.Name, reporter)))
  }

  static async open(store: Store, name: string, reporter?: Reporter): Promise<Machine> {
    return Machine.bind(store, await store.load(name), reporter)
  }

  get name(): string {
    return this.record.Name
  }

  async save(): Promise<void> {
    this.record.Driver = this.driver.state
    // A host key the driver read out of band (a VM's console) is the pin from the start.
    if (!this.record.Berth.SSHHostKey && this.driver.state.SSHHostKey)
      this.record.Berth.SSHHostKey = this.driver.state.SSHHostKey
    await this.store.save(this.record)
  }

  async sshTarget(): Promise<SshTarget> {
    const address = await this.driver.getSSHAddress()
    return {
      host: address.host,
      port: address.port,
      user: address.user,
      privateKeyPath: address.keyPath,
      machine: this.name,
    }
  }

  hostKeyPolicy(): HostKeyPolicy {
    return {
      pinned: this.record.Berth.SSHHostKey ?? this.driver.state.SSHHostKey,
      pin: async (hostKey) => {
        this.record.Berth.SSHHostKey = hostKey
        await this.save()
      },
    }
  }

  async ssh(deadlineMs = 30_000): Promise<SshSession> {
    return waitForSsh(await this.sshTarget(), this.hostKeyPolicy(), deadlineMs, () => this.whyDown())
  }

  /**
   * Why SSH cannot answer, when the driver knows the machine is down and says why (the container
   * driver quotes systemd). A state alone is not enough: the generic driver calls a host whose SSH
   * port is still closed "Stopped", and that is exactly what waiting for SSH waits out.
   */
  private async whyDown(): Promise<Error | undefined> {
    const state = await this.driver.getState().catch(() => undefined)
    if (state !== 'Stopped' && state !== 'Error' && state !== 'NotFound') return undefined
    return this.driver.getIP().then(
      () => undefined,
      (err: Error) => err,
    )
  }
}

/** docker-machine's own records have no Berth section: they were provisioned by docker-machine. */
export function isProvisioned(record: MachineRecord): boolean {
  return record.Berth === undefined || record.Berth.Phase === 'provisioned'
}

/** Opens the machine under its lock and runs `fn` on it; the lock is released however `fn` ends. */
export function withMachine<T>(
  store: Store,
  name: string,
  purpose: string,
  fn: (machine: Machine) => Promise<T>,
  reporter?: Reporter,
): Promise<T> {
  return store.withLock(name, purpose, async () => fn(await Machine.open(store, name, reporter)))
}
