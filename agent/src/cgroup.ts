/**
 * Container resource usage read straight from cgroupfs: v1 (one hierarchy per controller) and
 * v2 (unified), with Docker's cgroupfs driver (`docker/<id>`) or systemd driver
 * (`system.slice/docker-<id>.scope`). The container's own /proc/<pid>/cgroup names its cgroup
 * (that also covers `--cgroup-parent`); the driver layouts are the fallback when no pid is known.
 * Reads are synchronous on purpose: tiny files from a pseudo-filesystem are several times
 * faster that way than through fs/promises.
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import type {OpenFiles} from './openfiles.js'
import type {BlkioOp} from './schema.js'

export type CgroupVersion = 1 | 2

export interface CgroupLocation {
  version: CgroupVersion
  /** v2: the one directory; v1: one per controller this agent reads. */
  dirs: {cpu: string; cpuacct: string; memory: string; blkio: string}
}

export type BlkioDevice = Record<BlkioOp, number>

export interface CgroupSample {
  cpu: {
    totalNs: number
    userNs: number
    systemNs: number
    /** cgroup v1 only. */
    perCpuNs: number[]
    periods: number
    throttledPeriods: number
    throttledNs: number
  }
  memory: {
    usage: number
    /** undefined when unlimited. */
    limit: number | undefined
    maxUsage: number | undefined
    failCount: number
    stat: Record<string, number>
  }
  blkio: {bytes: Map<string, BlkioDevice>; ops: Map<string, BlkioDevice>}
}

export function cgroupVersion(root: string): CgroupVersion {
  return existsSync(join(root, 'cgroup.controllers')) ? 2 : 1
}

/** `/proc/<pid>/cgroup` as controller -> path ('' for the v2 unified line). */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>()
  for (const line of text.split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line.trim())
    if (!match) continue
    const controllers = match[1]!
    if (controllers === '') paths.set('', match[2]!)
    for (const controller of controllers.split(','))
      if (controller) paths.set(controller.replace(/^name=/, ''), match[2]!)
  }
  return paths
}

/** Where Docker's two cgroup drivers put a container, relative to a hierarchy's root. */
export function driverPaths(id: string): string[] {
  return [`/docker/${id}`, `/system.slice/docker-${id}.scope`]
}

/**
 * The container's cgroup directories, from its init process when it has one, else from the
 * driver layouts; undefined when none exists (the container is gone or not started).
 */
export function locateCgroup(
  cgroupRoot: string,
  procRoot: string,
  version: CgroupVersion,
  id: string,
  pid: number,
): CgroupLocation | undefined {
  let fromProc: Map<string, string> | undefined
  if (pid > 0) {
    try {
      fromProc = parseProcCgroup(readFileSync(join(procRoot, String(pid), 'cgroup'), 'utf8'))
    } catch {
      fromProc = undefined // the process just exited
    }
  }
  if (version === 2) {
    const relative = fromProc?.get('')
    // Seen from a private cgroup namespace (a swarm task has no host cgroupns) the path starts
    // with "/..": useless under the host's hierarchy, so the driver layouts are tried instead.
    const candidates =
      relative !== undefined && relative !== '/' && !relative.startsWith('/..') ? [relative] : driverPaths(id)
    const dir = candidates.map((c) => join(cgroupRoot, c)).find((d) => existsSync(join(d, 'cgroup.procs')))
    return dir ? {version, dirs: {cpu: dir, cpuacct: dir, memory: dir, blkio: dir}} : undefined
  }
  const dirFor = (controller: string): string | undefined => {
    const relative = fromProc?.get(controller)
    const candidates =
      relative !== undefined && relative !== '/' ? [relative, ...driverPaths(id)] : driverPaths(id)
    return candidates.map((c) => join(cgroupRoot, controller, c)).find((d) => existsSync(d))
  }
  const cpuacct = dirFor('cpuacct')
  const memory = dirFor('memory')
  if (!cpuacct || !memory) return undefined
  return {version, dirs: {cpu: dirFor('cpu') ?? cpuacct, cpuacct, memory, blkio: dirFor('blkio') ?? memory}}
}

/** `key value` lines (cpu.stat, memory.stat, cpuacct.stat, memory.events). */
export function parseFlatKeyed(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {}
  if (!text) return out
  // Sliced by hand, not split: memory.stat alone has 30-40 lines per container per cycle.
  for (let start = 0; start < text.length;) {
    let end = text.indexOf('\n', start)
    if (end < 0) end = text.length
    const line = text.slice(start, end).trim()
    start = end + 1
    const space = line.search(/\s/)
    if (space <= 0) continue
    const value = line.slice(space + 1).trim()
    if (INTEGER.test(value)) out[line.slice(0, space)] = Number(value)
  }
  return out
}

const INTEGER = /^-?\d+$/

function number(text: string | undefined): number | undefined {
  const value = text?.trim()
  return value && /^\d+$/.test(value) ? Number(value) : undefined
}

const emptyDevice = (): BlkioDevice => ({read: 0, write: 0, sync: 0, async: 0, total: 0})

/** v1 `blkio.throttle.io_service_bytes_recursive` / `io_serviced_recursive`: `8:0 Read 123` lines and `Total N`. */
export function parseBlkioV1(text: string | undefined): Map<string, BlkioDevice> {
  const devices = new Map<string, BlkioDevice>()
  for (const line of (text ?? '').split('\n')) {
    const [device, op, value] = line.trim().split(/\s+/)
    if (!device || !op || value === undefined || !/^\d+:\d+$/.test(device)) continue
    const key = op.toLowerCase() as keyof BlkioDevice
    if (!(key in emptyDevice())) continue
    const entry = devices.get(device) ?? emptyDevice()
    entry[key] += Number(value)
    devices.set(device, entry)
  }
  return devices
}

/** v2 `io.stat`: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0` per device. */
export function parseIoStatV2(text: string | undefined): {
  bytes: Map<string, BlkioDevice>
  ops: Map<string, BlkioDevice>
} {
  const bytes = new Map<string, BlkioDevice>()
  const ops = new Map<string, BlkioDevice>()
  for (const line of (text ?? '').split('\n')) {
    const [device, ...pairs] = line.trim().split(/\s+/)
    if (!device || !/^\d+:\d+$/.test(device)) continue
    const values = Object.fromEntries(pairs.map((p) => p.split('=')).map(([k, v]) => [k, Number(v)]))
    const b = emptyDevice()
    b.read = values.rbytes ?? 0
    b.write = values.wbytes ?? 0
    b.total = b.read + b.write
    const o = emptyDevice()
    o.read = values.rios ?? 0
    o.write = values.wios ?? 0
    o.total = o.read + o.write
    bytes.set(device, b)
    ops.set(device, o)
  }
  return {bytes, ops}
}

/** USER_HZ is 100 on every Linux Docker runs on; cpuacct.stat counts in it. */
const NS_PER_TICK = 10_000_000

/**
 * One sample of the container's cgroup, through `files` (kept open across cycles by the caller).
 * With `idleSince`, the container's CPU counter is read first and, when it has not moved since that
 * sample, that sample is the answer (the same object): a container that ran no instruction has the
 * same CPU, throttling and block I/O counters, and the caller bounds how stale its memory may get.
 */
export function readCgroup(
  location: CgroupLocation,
  files: OpenFiles,
  idleSince?: CgroupSample,
): CgroupSample | undefined {
  // The directories are absolute and normalized already; path.join here was a tenth of a cycle.
  const read = (dir: string, file: string) => files.read(`${dir}/${file}`, true)
  return location.version === 2
    ? readV2(location.dirs.cpu, read, idleSince)
    : readV1(location.dirs, read, idleSince)
}

type Read = (dir: string, file: string) => string | undefined

function readV1(
  dirs: CgroupLocation['dirs'],
  read: Read,
  idleSince?: CgroupSample,
): CgroupSample | undefined {
  const total = number(read(dirs.cpuacct, 'cpuacct.usage'))
  if (idleSince && total === idleSince.cpu.totalNs) return idleSince
  const usage = number(read(dirs.memory, 'memory.usage_in_bytes'))
  if (total === undefined || usage === undefined) return undefined
  const times = parseFlatKeyed(read(dirs.cpuacct, 'cpuacct.stat'))
  const throttling = parseFlatKeyed(read(dirs.cpu, 'cpu.stat'))
  const stat = parseFlatKeyed(read(dirs.memory, 'memory.stat'))
  const limit = number(read(dirs.memory, 'memory.limit_in_bytes'))
  return {
    cpu: {
      totalNs: total,
      userNs: (times.user ?? 0) * NS_PER_TICK,
      systemNs: (times.system ?? 0) * NS_PER_TICK,
      perCpuNs: (read(dirs.cpuacct, 'cpuacct.usage_percpu') ?? '')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number),
      periods: throttling.nr_periods ?? 0,
      throttledPeriods: throttling.nr_throttled ?? 0,
      throttledNs: throttling.throttled_time ?? 0,
    },
    memory: {
      usage: Math.max(0, usage - (stat.total_inactive_file ?? 0)),
      // "No limit" reads as a page-rounded 2^63-1.
      limit: limit !== undefined && limit < 2 ** 62 ? limit : undefined,
      maxUsage: number(read(dirs.memory, 'memory.max_usage_in_bytes')),
      failCount: number(read(dirs.memory, 'memory.failcnt')) ?? 0,
      stat,
    },
    blkio: {
      bytes: parseBlkioV1(read(dirs.blkio, 'blkio.throttle.io_service_bytes_recursive')),
      ops: parseBlkioV1(read(dirs.blkio, 'blkio.throttle.io_serviced_recursive')),
    },
  }
}

function readV2(dir: string, read: Read, idleSince?: CgroupSample): CgroupSample | undefined {
  const cpu = parseFlatKeyed(read(dir, 'cpu.stat'))
  if (idleSince && cpu.usage_usec !== undefined && cpu.usage_usec * 1000 === idleSince.cpu.totalNs)
    return idleSince
  const current = number(read(dir, 'memory.current'))
  if (cpu.usage_usec === undefined || current === undefined) return undefined
  const stat = parseFlatKeyed(read(dir, 'memory.stat'))
  const events = parseFlatKeyed(read(dir, 'memory.events'))
  return {
    cpu: {
      totalNs: cpu.usage_usec * 1000,
      userNs: (cpu.user_usec ?? 0) * 1000,
      systemNs: (cpu.system_usec ?? 0) * 1000,
      perCpuNs: [],
      periods: cpu.nr_periods ?? 0,
      throttledPeriods: cpu.nr_throttled ?? 0,
      throttledNs: (cpu.throttled_usec ?? 0) * 1000,
    },
    memory: {
      usage: Math.max(0, current - (stat.inactive_file ?? 0)),
      limit: number(read(dir, 'memory.max')), // "max" when unlimited
      maxUsage: number(read(dir, 'memory.peak')),
      failCount: events.max ?? 0,
      stat,
    },
    blkio: parseIoStatV2(read(dir, 'io.stat')),
  }
}
