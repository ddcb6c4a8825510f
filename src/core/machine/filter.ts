import {BerthError, ExitCode} from '../errors.js'
import type {MachineState} from '../drivers/contract.js'
import type {ExpiringCert} from '../certs/expiry.js'

/** What `ls` shows of one machine; the filters match on it. */
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
  /** Its certificates that have expired or expire within 30 days. */
  expiringCerts?: ExpiringCert[]
}

export interface MachineFilter {
  key: 'driver' | 'state' | 'name' | 'label'
  value: string
}

/** Parses docker-machine's `ls --filter KEY=VALUE` forms. */
export function parseFilters(raw: string[]): MachineFilter[] {
  return raw.map((entry) => {
    const match = /^(driver|state|name|label)=(.*)$/.exec(entry)
    if (!match)
      throw new BerthError(
        `unsupported filter "${entry}" (use driver=, state=, name= or label=)`,
        ExitCode.usage,
      )
    if (match[1] === 'name') {
      try {
        new RegExp(match[2]!)
      } catch {
        throw new BerthError(`filter name=${match[2]}: not a valid regular expression`, ExitCode.usage)
      }
    }
    return {key: match[1] as MachineFilter['key'], value: match[2]!}
  })
}

/** Filters of one key are alternatives (OR); different keys must all match (AND), as in docker-machine. */
export function matchesFilters(status: MachineStatus, filters: MachineFilter[]): boolean {
  const byKey = new Map<string, MachineFilter[]>()
  for (const f of filters) byKey.set(f.key, [...(byKey.get(f.key) ?? []), f])
  for (const [key, group] of byKey) {
    const ok = group.some((f) => {
      switch (key) {
        case 'driver':
          return status.driver.toLowerCase() === f.value.toLowerCase()
        case 'state':
          return status.state.toLowerCase() === f.value.toLowerCase()
        case 'name':
          return new RegExp(f.value).test(status.name)
        default:
          return status.labels.includes(f.value)
      }
    })
    if (!ok) return false
  }
  return true
}
