import {EngineVersion, engineInfo, engineUrl} from '../engine/engine.js'
import {BerthError, ExitCode, HostNotRunningError, oneLine, withTimeout} from '../errors.js'
import {provisionMachine, verifyEngine} from '../provision/provision.js'
import type {MachineRecord} from '../store/record.js'
import type {Store} from '../store/store.js'
import type {MachineState} from '../drivers/contract.js'
import {leaveBeforeRemoval, swarmLabel} from '../swarm/swarm.js'
import {removeContext} from '../context/context.js'
import {renewServerCert} from './renew.js'
import {Machine, Reporter} from './machine.js'

/** Finishes or redoes provisioning; a machine whose driver never finished gets its driver step again. */
export async function reprovisionMachine(store: Store, name: string, reporter: Reporter, sshTimeoutMs: number): Promise<EngineVersion> {
  const release = await store.lock(name, 'berth provision')
  try {
    const machine = await Machine.open(store, name, reporter)
    if (machine.record.Berth.Phase === 'created') {
      reporter.step('Finishing the driver step an earlier create did not complete')
      await machine.driver.create()
      machine.record.Berth.Phase = 'driver'
      await machine.save()
    }
    return await provisionMachine(machine, reporter, {sshTimeoutMs})
  } finally {
    await release()
  }
}

/**
 * Removes a machine: the driver's resources, then its folder. With `force`, a machine whose record
 * is unreadable or whose driver fails is still removed from the store (the error is reported).
 */
export async function removeMachine(store: Store, name: string, force: boolean, reporter: Reporter): Promise<void> {
  const release = await store.lock(name, 'berth rm')
  try {
    let machine: Machine | undefined
    try {
      machine = await Machine.open(store, name, reporter)
    } catch (err) {
      if (!force || !(await store.exists(name))) throw err
      reporter.step(`Record unreadable (${oneLine(err)}); removing the folder only`)
    }
    // A swarm member leaves cleanly first (a manager is demoted so the rest keep quorum); best effort.
    if (machine) await leaveBeforeRemoval(store, machine, reporter)
    try {
      await machine?.driver.remove()
    } catch (err) {
      if (!force) throw new BerthError(`removing ${name} failed: ${oneLine(err)}`, 1, `\`berth rm -f ${name}\` removes it from the store anyway`)
      reporter.step(`Driver could not remove ${name} (${oneLine(err)}); removing it from the store anyway`)
    }
    if (machine?.record.Berth?.DockerContext) {
      await removeContext(machine.record.Berth.DockerContext).catch((err) => reporter.step(`Could not remove docker context: ${oneLine(err)}`))
    }
    await store.removeMachineDir(name)
  } finally {
    await release()
  }
}

export interface MachineStatus {
  name: string
  driver: string
  state: MachineState | 'Unknown'
  url: string
  dockerVersion: string
  error: string
  active: boolean
  labels: string[]
  /** Swarm role from the same `/info` call: "manager (leader)", "manager", "worker" or "". */
  swarm?: string
}

/** Everything `ls` shows for one machine, within one deadline; never throws. */
export async function machineStatus(store: Store, name: string, timeoutMs: number, dockerHost?: string): Promise<MachineStatus> {
  const status: MachineStatus = {name, driver: '', state: 'Unknown', url: '', dockerVersion: '', error: '', active: false, labels: [], swarm: ''}
  const work = async () => {
    // Record fields first: a machine whose driver berth lacks (a docker-machine record) still shows them.
    const record = await store.load(name)
    status.driver = record.DriverName
    status.labels = record.HostOptions?.EngineOptions?.Labels ?? []
    const machine = new Machine(store, record)
    status.state = await machine.driver.getState()
    // As docker-machine's ls (commands/ls.go): the URL only of a running machine, which alone can be active.
    if (status.state !== 'Running') return
    if (record.Driver.IPAddress) {
      status.url = engineUrl(record)
      status.active = dockerHost === status.url
    }
    if (!isProvisioned(record)) {
      status.error = 'not provisioned: run `berth provision ' + name + '`'
      return
    }
    const ip = await machine.driver.getIP()
    if (record.Driver.IPAddress && ip !== record.Driver.IPAddress) {
      status.error = `IP changed from ${record.Driver.IPAddress} to ${ip}: run \`berth regenerate-certs ${name}\` (or \`berth start ${name}\`)`
      return
    }
    const info = await engineInfo(machine.record, timeoutMs).catch((err: unknown) => {
      throw /altnames|certificate has expired|not yet valid/i.test(oneLine(err)) ? new BerthError(`${oneLine(err)}: run \`berth regenerate-certs ${name}\``) : err
    })
    status.dockerVersion = 'v' + info.ServerVersion
    status.swarm = await swarmLabel(machine.record, info.Swarm, timeoutMs)
  }
  try {
    await withTimeout(work(), timeoutMs, 'status check')
  } catch (err) {
    status.error = oneLine(err)
  }
  return status
}

/** docker-machine's own records have no Berth section: they were provisioned by docker-machine. */
export function isProvisioned(record: MachineRecord): boolean {
  return record.Berth === undefined || record.Berth.Phase === 'provisioned'
}

export type PowerAction = 'start' | 'stop' | 'restart' | 'kill'

/** The URL of a machine's engine, refused while it is not running (`env`, `url`: `eval "$(env x)" || exit` must stop). */
export async function runningEngineUrl(store: Store, record: MachineRecord): Promise<string> {
  const state = await new Machine(store, record).driver.getState()
  if (state !== 'Running') throw new HostNotRunningError(record.Name, state)
  return engineUrl(record)
}

/** The state each action leads to; docker-machine refuses an action whose state already holds (libmachine/host/host.go). */
const TARGET_STATE: Partial<Record<PowerAction, MachineState>> = {start: 'Running', stop: 'Stopped', kill: 'Stopped'}

/**
 * Runs a driver power action under the machine's lock. After start and restart the IP is read
 * again: drivers may hand out a new one.
 */
export async function powerAction(store: Store, name: string, action: PowerAction, reporter: Reporter, refuseIfAlready = false): Promise<MachineState> {
  const release = await store.lock(name, `berth ${action}`)
  try {
    const machine = await Machine.open(store, name, reporter)
    const target = TARGET_STATE[action]
    if (refuseIfAlready && target && (await machine.driver.getState()) === target) {
      const message = `Machine "${name}" is already ${target.toLowerCase()}.` // libmachine/mcnerror/errors.go: ErrHostAlreadyInState
      throw new BerthError(message, ExitCode.failure, undefined, message)
    }
    const before = machine.record.Driver.IPAddress // drivers may update their state (this record) in start
    const bootBefore = action === 'restart' && machine.record.Berth?.Phase === 'provisioned' ? await bootMark(machine, 10_000).catch(() => undefined) : undefined
    await machine.driver[action]()
    if (bootBefore) await waitForReboot(machine, bootBefore, reporter)
    if (action === 'start' || action === 'restart') {
      const ip = await machine.driver.getIP()
      machine.record.Driver.IPAddress = ip
      await machine.save()
      // The server certificate names the old IP: reissue it for the new one (the engine restarts, keeping containers).
      if (ip !== before) {
        reporter.step(`IP changed from ${before} to ${ip}`)
        if (machine.record.Berth?.Phase === 'provisioned') await renewServerCert(machine, reporter)
      }
      // Done means usable: `berth start m && docker ...` must not race the engine's boot.
      if (isProvisioned(machine.record)) {
        reporter.step('Waiting for the engine over mutual TLS')
        await verifyEngine(machine, 120_000)
      }
    }
    return await machine.driver.getState()
  } finally {
    await release()
  }
}

/** Starts a stopped machine first, as docker-machine's upgrade does (libmachine/host/host.go: Upgrade). */
export async function startIfStopped(store: Store, name: string, reporter: Reporter): Promise<void> {
  const state = await (await Machine.open(store, name)).driver.getState()
  if (state !== 'Stopped') return
  reporter.step('Starting machine so machine can be upgraded...')
  await powerAction(store, name, 'start', reporter)
}

/** Changes with every boot of a VM (boot_id) and of a system container (PID 1's start time). */
async function bootMark(machine: Machine, deadlineMs: number): Promise<string> {
  const session = await machine.ssh(deadlineMs)
  try {
    return (await session.run('cat /proc/sys/kernel/random/boot_id; cut -d" " -f22 /proc/1/stat', 'reading the boot id')).trim()
  } finally {
    session.close()
  }
}

/**
 * Some providers' reboot only queues one (EC2's RebootInstances): until the machine has booted
 * again its old engine may still answer, so "restarted" waits for a new boot first.
 */
async function waitForReboot(machine: Machine, before: string, reporter: Reporter, timeoutMs = 300_000): Promise<void> {
  reporter.step(`Waiting for ${machine.name} to boot again`)
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    // A DHCP lease or a container's bridge address may change with the boot: ask the driver anew.
    const ip = await machine.driver.getIP().catch(() => undefined)
    if (ip) machine.record.Driver.IPAddress = ip
    // Bounded per try: a connection that goes down with the machine must not hang the wait.
    const mark = await withTimeout(bootMark(machine, 15_000), 20_000, 'reading the boot id').catch(() => undefined)
    if (mark !== undefined && mark !== before) return
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
  throw new BerthError(`${machine.name} did not reboot within ${timeoutMs / 1000}s`, ExitCode.timeout, 'see its console; `berth restart` again or `berth kill` and `berth start`')
}

/** Parses `--label KEY=VALUE` values. */
export function parseLabels(values: string[]): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const value of values) {
    const eq = value.indexOf('=')
    if (eq <= 0) throw new BerthError(`--label ${JSON.stringify(value)}: expected KEY=VALUE`, ExitCode.usage)
    labels[value.slice(0, eq)] = value.slice(eq + 1)
  }
  return labels
}

/** Sets labels on a machine: the provider's tags first, then the record, so a failure changes nothing. */
export async function updateLabels(store: Store, name: string, labels: Record<string, string>): Promise<Record<string, string>> {
  const release = await store.lock(name, 'berth update-labels')
  try {
    const machine = await Machine.open(store, name)
    if (!machine.driver.updateLabels) {
      throw new BerthError(`the ${machine.record.DriverName} driver does not support labels (its machines have no provider tags)`)
    }
    const merged = {...(machine.record.Berth.Labels ?? {}), ...labels}
    await machine.driver.updateLabels(merged)
    machine.record.Berth.Labels = merged
    await machine.save()
    return merged
  } finally {
    await release()
  }
}
