/** Host numbers from /proc, parsed from text so the parsers are testable with fixtures. */
import type {NetCounter} from './schema.js'

export interface CpuTimes {
  user: number
  nice: number
  system: number
  idle: number
  iowait: number
  irq: number
  softirq: number
  steal: number
  guest: number
  guestNice: number
}

export interface ProcStat {
  total: CpuTimes
  onlineCpus: number
}

/** The first line of /proc/stat (ticks) and the number of `cpuN` lines. */
export function parseProcStat(text: string): ProcStat {
  const lines = text.split('\n')
  const values = (lines.find((l) => l.startsWith('cpu ')) ?? 'cpu').trim().split(/\s+/).slice(1).map(Number)
  const [
    user = 0,
    nice = 0,
    system = 0,
    idle = 0,
    iowait = 0,
    irq = 0,
    softirq = 0,
    steal = 0,
    guest = 0,
    guestNice = 0,
  ] = values
  return {
    total: {user, nice, system, idle, iowait, irq, softirq, steal, guest, guestNice},
    onlineCpus: lines.filter((l) => /^cpu\d+\s/.test(l)).length,
  }
}

/**
 * The host's CPU time in ns as Docker's stats API counts it (user through softirq; guest time is
 * already inside user), the denominator of a container's usage_percent.
 */
export function systemCpuNs(stat: ProcStat): number {
  const t = stat.total
  return (t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq) * 10_000_000
}

/** /proc/meminfo in bytes. */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const match = /^(\w+(?:\(\w+\))?):\s+(\d+)(?:\s+kB)?/.exec(line)
    if (match) out[match[1]!] = Number(match[2]) * (line.includes('kB') ? 1024 : 1)
  }
  return out
}

/** Named as the schema's docker_container_net fields. */
export type NetCounters = Record<NetCounter, number>

/** /proc/<pid>/net/dev: counters per interface (loopback left out, as `docker stats` does). */
export function parseNetDev(text: string): Map<string, NetCounters> {
  const out = new Map<string, NetCounters>()
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':')
    if (colon < 0) continue
    const name = line.slice(0, colon).trim()
    if (name === 'lo') continue
    const v = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number)
    out.set(name, {
      rx_bytes: v[0]!,
      rx_packets: v[1]!,
      rx_errors: v[2]!,
      rx_dropped: v[3]!,
      tx_bytes: v[8]!,
      tx_packets: v[9]!,
      tx_errors: v[10]!,
      tx_dropped: v[11]!,
    })
  }
  return out
}
