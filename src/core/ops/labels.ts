import {BerthError, ExitCode} from '../errors.js'
import {withMachine} from '../machine/machine.js'
import type {Store} from '../store/store.js'

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
export function updateLabels(
  store: Store,
  name: string,
  labels: Record<string, string>,
): Promise<Record<string, string>> {
  return withMachine(store, name, 'berth update-labels', async (machine) => {
    if (!machine.driver.updateLabels) {
      throw new BerthError(
        `the ${machine.record.DriverName} driver does not support labels (its machines have no provider tags)`,
      )
    }
    const merged = {...(machine.record.Berth.Labels ?? {}), ...labels}
    await machine.driver.updateLabels(merged)
    machine.record.Berth.Labels = merged
    await machine.save()
    return merged
  })
}
