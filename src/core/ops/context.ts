import {ensureContext, type ContextOutcome} from '../context/context.js'
import {BerthError, ExitCode} from '../errors.js'
import {withMachine} from '../machine/machine.js'
import type {Store} from '../store/store.js'

/** Creates or updates a machine's docker context and records it, so `rm` removes it. */
export function machineContext(store: Store, name: string, force = false): Promise<ContextOutcome> {
  return withMachine(store, name, 'berth context', async (machine) => {
    if (machine.record.Berth === undefined || machine.record.Berth.Phase !== 'provisioned') {
      throw new BerthError(
        `machine "${name}" is not provisioned`,
        ExitCode.failure,
        `run \`berth provision ${name}\``,
      )
    }
    if (!machine.record.Driver.IPAddress) machine.record.Driver.IPAddress = await machine.driver.getIP()
    const outcome = await ensureContext(machine.record, force)
    machine.record.Berth.DockerContext = name
    await machine.save()
    return outcome
  })
}
