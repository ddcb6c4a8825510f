import {expiringCerts} from '../certs/expiry.js'
import {engineInfo, engineUrl} from '../engine/engine.js'
import {BerthError, oneLine, withTimeout} from '../errors.js'
import type {MachineStatus} from '../machine/filter.js'
import {isProvisioned, Machine} from '../machine/machine.js'
import type {Store} from '../store/store.js'
import {swarmLabel} from '../swarm/swarm.js'

export type {MachineStatus} from '../machine/filter.js'

/** Everything `ls` shows for one machine, within one deadline; never throws. */
export async function machineStatus(
  store: Store,
  name: string,
  timeoutMs: number,
  dockerHost?: string,
  /** The name the user runs (`docker-machine` when berth stands in for it), for the hints in ERRORS. */
  program = 'berth',
): Promise<MachineStatus> {
  const status: MachineStatus = {
    name,
    driver: '',
    state: 'Unknown',
    url: '',
    dockerVersion: '',
    error: '',
    active: false,
    labels: [],
    swarm: '',
    expiringCerts: [],
  }
  const work = async () => {
    // Record fields first: a machine whose driver berth lacks (a docker-machine record) still shows them.
    const record = await store.load(name)
    status.driver = record.DriverName
    status.labels = record.HostOptions?.EngineOptions?.Labels ?? []
    status.expiringCerts = await expiringCerts(record)
    const machine = await Machine.bind(store, record)
    status.state = await machine.driver.getState()
    // As docker-machine's ls (commands/ls.go): the URL only of a running machine, which alone can be active.
    if (status.state !== 'Running') return
    if (record.Driver.IPAddress) {
      status.url = engineUrl(record)
      status.active = dockerHost === status.url
    }
    if (!isProvisioned(record)) {
      status.error = `not provisioned: run \`${program} provision ${name}\``
      return
    }
    const ip = await machine.driver.getIP()
    if (record.Driver.IPAddress && ip !== record.Driver.IPAddress) {
      status.error = `IP changed from ${record.Driver.IPAddress} to ${ip}: run \`${program} regenerate-certs ${name}\` (or \`${program} start ${name}\`)`
      return
    }
    const info = await engineInfo(machine.record, timeoutMs).catch((err: unknown) => {
      throw /altnames|certificate has expired|not yet valid/i.test(oneLine(err))
        ? new BerthError(`${oneLine(err)}: run \`${program} regenerate-certs ${name}\``)
        : err
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
