import {engineUrl} from '../engine/url.js'
import {HostNotRunningError} from '../errors.js'
import {Machine} from '../machine/machine.js'
import type {MachineRecord} from '../store/record.js'
import type {Store} from '../store/store.js'

/** The URL of a machine's engine, refused while it is not running (`env`, `url`: `eval "$(env x)" || exit` must stop). */
export async function runningEngineUrl(store: Store, record: MachineRecord): Promise<string> {
  const state = await (await Machine.bind(store, record)).driver.getState()
  if (state !== 'Running') throw new HostNotRunningError(record.Name, state)
  return engineUrl(record)
}
