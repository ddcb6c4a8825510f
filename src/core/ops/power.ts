import type {MachineState} from '../drivers/contract.js'
import {BerthError, ExitCode, withTimeout} from '../errors.js'
import {isProvisioned, Machine, Reporter, withMachine} from '../machine/machine.js'
import {verifyEngine} from '../provision/provision.js'
import type {Store} from '../store/store.js'
import {poll} from '../poll.js'
import {renewServerCert} from './renew.js'

export type PowerAction = 'start' | 'stop' | 'restart' | 'kill'

/**
 * Runs a driver power action under the machine's lock. After start and restart the IP is read
 * again: drivers may hand out a new one.
 */
/** The state each action leads to; docker-machine refuses an action whose state already holds (libmachine/host/host.go). */
const TARGET_STATE: Partial<Record<PowerAction, MachineState>> = {
  start: 'Running',
  stop: 'Stopped',
  kill: 'Stopped',
}

/** Starts a stopped machine first, as docker-machine's upgrade does (libmachine/host/host.go: Upgrade). */
export async function startIfStopped(store: Store, name: string, reporter: Reporter): Promise<void> {
  const state = await (await Machine.open(store, name)).driver.getState()
  if (state !== 'Stopped') return
  reporter.step('Starting machine so machine can be upgraded...')
  await powerAction(store, name, 'start', reporter)
}

export function powerAction(
  store: Store,
  name: string,
  action: PowerAction,
  reporter: Reporter,
  refuseIfAlready = false,
): Promise<MachineState> {
  return withMachine(
    store,
    name,
    `berth ${action}`,
    async (machine) => {
      const target = TARGET_STATE[action]
      if (refuseIfAlready && target && (await machine.driver.getState()) === target) {
        const message = `Machine "${name}" is already ${target.toLowerCase()}.` // libmachine/mcnerror/errors.go: ErrHostAlreadyInState
        throw new BerthError(message, ExitCode.failure, undefined, message)
      }
      const before = machine.record.Driver.IPAddress // drivers may update their state (this record) in start
      const bootBefore =
        action === 'restart' && machine.record.Berth?.Phase === 'provisioned'
          ? await bootMark(machine, 10_000).catch(() => undefined)
          : undefined
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
      return machine.driver.getState()
    },
    reporter,
  )
}

/** Changes with every boot of a VM (boot_id) and of a system container (PID 1's start time). */
async function bootMark(machine: Machine, deadlineMs: number): Promise<string> {
  const session = await machine.ssh(deadlineMs)
  try {
    return (
      await session.run(
        'cat /proc/sys/kernel/random/boot_id; cut -d" " -f22 /proc/1/stat',
        'reading the boot id',
      )
    ).trim()
  } finally {
    session.close()
  }
}

/**
 * Some providers' reboot only queues one (EC2's RebootInstances): until the machine has booted
 * again its old engine may still answer, so "restarted" waits for a new boot first.
 */
async function waitForReboot(
  machine: Machine,
  before: string,
  reporter: Reporter,
  timeoutMs = 300_000,
): Promise<void> {
  reporter.step(`Waiting for ${machine.name} to boot again`)
  await poll(
    async () => {
      // A DHCP lease or a container's bridge address may change with the boot: ask the driver anew.
      const ip = await machine.driver.getIP().catch(() => undefined)
      if (ip) machine.record.Driver.IPAddress = ip
      // Bounded per try: a connection that goes down with the machine must not hang the wait.
      const mark = await withTimeout(bootMark(machine, 15_000), 20_000, 'reading the boot id')
      return mark !== before ? true : undefined
    },
    {
      timeoutMs,
      onTimeout: () => {
        throw new BerthError(
          `${machine.name} did not reboot within ${timeoutMs / 1000}s`,
          ExitCode.timeout,
          'see its console; `berth restart` again or `berth kill` and `berth start`',
        )
      },
    },
  )
}
