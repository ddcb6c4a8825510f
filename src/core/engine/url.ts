import {BerthError, ExitCode} from '../errors.js'
import type {MachineRecord} from '../store/record.js'

export const DEFAULT_ENGINE_PORT = 2376

/** The engine's URL from the record alone. */
export function engineUrl(record: MachineRecord): string {
  // The none driver registers an engine by its URL (docker-machine: drivers/none/driver.go GetURL).
  const registered = (record.Driver as {URL?: unknown}).URL
  if (record.DriverName === 'none' && typeof registered === 'string') return registered
  const ip = record.Driver.IPAddress
  if (!ip) throw new BerthError(`machine "${record.Name}" has no IP address yet`, ExitCode.failure)
  const host = ip.includes(':') ? `[${ip}]` : ip
  return `tcp://${host}:${record.Berth?.EnginePort ?? DEFAULT_ENGINE_PORT}`
}
