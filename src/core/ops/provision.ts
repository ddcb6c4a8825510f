import type {EngineVersion} from '../engine/engine.js'
import {Reporter, withMachine} from '../machine/machine.js'
import {provisionMachine} from '../provision/provision.js'
import type {Store} from '../store/store.js'

/** Finishes or redoes provisioning; a machine whose driver never finished gets its driver step again. */
export function reprovisionMachine(
  store: Store,
  name: string,
  reporter: Reporter,
  sshTimeoutMs: number,
): Promise<EngineVersion> {
  return withMachine(
    store,
    name,
    'berth provision',
    async (machine) => {
      if (machine.record.Berth.Phase === 'created') {
        reporter.step('Finishing the driver step an earlier create did not complete')
        await machine.driver.create()
        machine.record.Berth.Phase = 'driver'
        await machine.save()
      }
      return provisionMachine(machine, reporter, {sshTimeoutMs})
    },
    reporter,
  )
}
