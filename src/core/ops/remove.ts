import {removeContext} from '../context/context.js'
import {BerthError, oneLine, withTimeout} from '../errors.js'
import {Machine, Reporter} from '../machine/machine.js'
import type {Store} from '../store/store.js'
import {connect, leaveSwarm, removeNodeThroughOtherManager} from '../swarm/swarm.js'

/**
 * Removes a machine: the driver's resources, then its folder. With `force`, a machine whose record
 * is unreadable or whose driver fails is still removed from the store (the error is reported).
 */
export function removeMachine(store: Store, name: string, force: boolean, reporter: Reporter): Promise<void> {
  return store.withLock(name, 'berth rm', async () => {
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
      if (!force)
        throw new BerthError(
          `removing ${name} failed: ${oneLine(err)}`,
          1,
          `\`berth rm -f ${name}\` removes it from the store anyway`,
        )
      reporter.step(`Driver could not remove ${name} (${oneLine(err)}); removing it from the store anyway`)
    }
    if (machine?.record.Berth?.DockerContext) {
      await removeContext(machine.record.Berth.DockerContext).catch((err) =>
        reporter.step(`Could not remove docker context: ${oneLine(err)}`),
      )
    }
    await store.removeMachineDir(name)
  })
}

/**
 * Before `rm`: takes the machine out of its swarm cleanly when it is reachable, or, when it is
 * not, removes its recorded node through another manager. Never throws; bounded in time.
 */
export async function leaveBeforeRemoval(
  store: Store,
  machine: Machine,
  reporter: Reporter,
  budgetMs = 30_000,
): Promise<void> {
  const work = async () => {
    if (machine.record.Berth?.Phase !== 'provisioned') return
    if (machine.record.DriverName === 'none') return // a registered engine is not berth's to take out of a swarm
    const membership = machine.record.Berth.Swarm
    const running = (await machine.driver.getState().catch(() => 'Unknown')) === 'Running'
    const self = running ? await connect(machine, 'machine', 5000).catch(() => undefined) : undefined
    if (self) {
      const state = self.info.LocalNodeState
      if (state === '' || state === 'inactive') return
      if (membership?.NodeID && self.info.NodeID && self.info.NodeID !== membership.NodeID) {
        // Not the node berth joined: the IP may now belong to another machine. Leave it alone.
        reporter.step(
          `The engine at ${machine.record.Driver.IPAddress} is not the swarm node berth recorded for ${machine.name}; leaving it alone`,
        )
        return
      }
      await leaveSwarm(machine, {force: true, store}, reporter)
      return
    }
    if (!membership?.NodeID) return
    reporter.step(`${machine.name} is unreachable; removing its node through another manager`)
    await removeNodeThroughOtherManager(store, machine, membership)
  }
  try {
    await withTimeout(work(), budgetMs, 'leaving the swarm')
  } catch (err) {
    reporter.step(`Could not take ${machine.name} out of its swarm (${oneLine(err)}); removing it anyway`)
  }
}
