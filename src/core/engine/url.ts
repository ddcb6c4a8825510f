import {BerthError, ExitCode} from '../errors.js'
import type {MachineRecord} from '../store/record.js'

export const DEFAULT_ENGINE_PORT = 2376

/** The engine's URL from the record alone. */
export function engineUrl(record: MachineRecord): string {
  const ip = record.Driver.IPAddress
  if (!ip) throw new BerthError(`machine "${record.Name}" has no IP address yet`, ExitCode.failure)
  const host = ip.includes(':') ? `[${ip}]` : ip
  return `tcp://${host}:${record.Berth?.EnginePort ?? DEFAULT_ENGINE_PORT}`
}
