/** One stats cycle: engine, containers (cgroupfs + /proc/<pid>/net/dev) and host, as Telegraf's measurements. */
import {join} from 'node:path'
import {
  cgroupVersion,
  locateCgroup,
  readCgroup,
  type BlkioDevice,
  type CgroupLocation,
  type CgroupSample,
  type CgroupVersion,
} from './cgroup.js'
import type {ContainerInfo} from './containers.js'
import type {EngineInfo} from './docker.js'
import {formatSeries, point, type FieldValue, type Point} from './lineprotocol.js'
import {OpenFiles} from './openfiles.js'
import {
  parseMeminfo,
  parseNetDev,
  parseProcStat,
  systemCpuNs,
  type CpuTimes,
  type NetCounters,
} from './procfs.js'
import {
  BLKIO_COUNTER,
  CONTAINER_BLKIO,
  CONTAINER_CPU,
  CONTAINER_MEM,
  CONTAINER_NET,
  CONTAINER_STATUS,
  CPU_TOTAL,
  DOCKER,
  HOST_CPU,
  HOST_MEM,
  HOST_SYSTEM,
  TOTAL,
  type BlkioOp,
  type Fields,
  type Tags,
} from './schema.js'

export interface StatsPaths {
  cgroupRoot: string
  procRoot: string
}

interface Previous {
  containerNs: number
  systemNs: number
}

const toNs = (iso: string): number => {
  const ms = Date.parse(iso)
  return Number.isNaN(ms) || ms <= 0 ? 0 : ms * 1_000_000
}

/**
 * A container whose CPU counter has not moved since the last full read ran no instruction: its
 * other counters are taken from that read for at most this many cycles (a minute at the default
 * 10 s), then read again, so that what the kernel changes without it (page cache reclaimed,
 * packets received) shows within that bound. At 1,000 mostly idle containers this is most of
 * a cycle's reads and garbage (cAdvisor backs off idle containers' housekeeping the same way).
 */
export const FULL_READ_EVERY = 6

interface Located {
  pid: number
  location: CgroupLocation
  files: OpenFiles
  /**
   * The last full read, how many cycles it has been reused, and the points made from it with that
   * series (one container record and engine), re-sent with a new time while the container is idle.
   */
  last?: {
    sample: CgroupSample
    reused: number
    series: Series
    labelCollisions: number
    points: Point[]
  }
}

/** A container's tags, for one container record and engine. */
interface Series {
  container: ContainerInfo
  engine: string
  tags: Record<string, string>
  cpuTags: Record<string, string>
  statusSeries: string | undefined
  cpuSeries: string | undefined
}

export class StatsCollector {
  readonly version: CgroupVersion
  /** Per container: its cgroup, its stat files held open while its init process lives, its last full read. */
  private readonly locations = new Map<string, Located>()
  private readonly hostFiles = new OpenFiles()
  private readonly previous = new Map<string, Previous>()
  private readonly series = new Map<string, Series>()
  private previousHost: CpuTimes | undefined
  /** Labels left off `docker_container_mem` in the last cycle: named like one of the kernel's memory.stat keys. */
  labelCollisions = 0

  constructor(
    private readonly paths: StatsPaths,
    private readonly host: string,
  ) {
    this.version = cgroupVersion(paths.cgroupRoot)
  }

  collect(engine: EngineInfo, containers: ContainerInfo[], time: bigint): Point[] {
    const engineTags = {
      host: this.host,
      engine_host: engine.Name,
      server_version: engine.ServerVersion,
    } satisfies Tags<typeof DOCKER>
    const stat = parseProcStat(this.hostFile('stat'))
    const systemNs = systemCpuNs(stat)
    const meminfo = parseMeminfo(this.hostFile('meminfo'))
    const hostMemory = meminfo.MemTotal ?? engine.MemTotal
    const points: Point[] = [
      point(
        DOCKER,
        engineTags,
        {
          n_containers: containers.length,
          n_containers_running: containers.filter((c) => c.state === 'running').length,
          n_containers_stopped: containers.filter(
            (c) => c.state === 'exited' || c.state === 'created' || c.state === 'dead',
          ).length,
          n_containers_paused: containers.filter((c) => c.state === 'paused').length,
          n_images: engine.Images,
          n_cpus: engine.NCPU,
          n_used_file_descriptors: engine.NFd,
          memory_total: engine.MemTotal,
        },
        time,
      ),
    ]
    const live = new Set<string>()
    this.labelCollisions = 0
    const engineKey = `${engine.Name}\n${engine.ServerVersion}`
    for (const container of containers) {
      live.add(container.id)
      const series = this.seriesOf(container, engineTags, engineKey)
      const {tags, cpuTags, statusSeries, cpuSeries} = series
      const id = container.id
      const startedNs = toNs(container.startedAt)
      points.push(
        point(
          CONTAINER_STATUS,
          tags,
          {
            oomkilled: container.oomKilled,
            pid: container.pid,
            exitcode: container.exitCode,
            started_at: startedNs,
            finished_at: toNs(container.finishedAt),
            uptime_ns: container.state === 'running' && startedNs ? Math.max(0, Number(time) - startedNs) : 0,
            restart_count: container.restartCount,
            container_id: id,
          },
          time,
          statusSeries,
        ),
      )
      if (container.state !== 'running' && container.state !== 'paused') {
        // An open file would keep the removed cgroup alive in the kernel (a dying memcg).
        this.forget(id)
        continue
      }
      const located = this.locate(container)
      if (!located) continue
      const {last} = located
      const reusable = last && last.reused < FULL_READ_EVERY - 1 ? last.sample : undefined
      const sample = readCgroup(located.location, located.files, reusable)
      if (!sample) continue
      const before = this.previous.get(id)
      this.previous.set(id, {containerNs: sample.cpu.totalNs, systemNs})
      const systemDelta = before ? systemNs - before.systemNs : 0
      const usagePercent =
        before && systemDelta > 0
          ? ((sample.cpu.totalNs - before.containerNs) / systemDelta) * stat.onlineCpus * 100
          : 0
      points.push(
        point(
          CONTAINER_CPU,
          cpuTags,
          {
            usage_total: sample.cpu.totalNs,
            usage_in_usermode: sample.cpu.userNs,
            usage_in_kernelmode: sample.cpu.systemNs,
            usage_system: systemNs,
            throttling_periods: sample.cpu.periods,
            throttling_throttled_periods: sample.cpu.throttledPeriods,
            throttling_throttled_time: sample.cpu.throttledNs,
            usage_percent: {float: Math.max(0, usagePercent)},
            container_id: id,
          },
          time,
          cpuSeries,
        ),
      )
      const idle = sample === reusable
      if (idle && last!.series === series) {
        last!.reused++
        this.labelCollisions += last!.labelCollisions
        for (const unchanged of last!.points) points.push({...unchanged, time})
        continue
      }
      const collisionsBefore = this.labelCollisions
      const counters = this.counterPoints(tags, container, sample, located.files, hostMemory, time)
      for (const counter of counters) counter.fixed = true
      located.last = {
        sample,
        reused: idle ? last!.reused + 1 : 0,
        series,
        labelCollisions: this.labelCollisions - collisionsBefore,
        points: counters,
      }
      points.push(...counters)
    }
    for (const id of this.previous.keys()) if (!live.has(id)) this.previous.delete(id)
    for (const id of this.series.keys()) if (!live.has(id)) this.series.delete(id)
    for (const id of this.locations.keys()) if (!live.has(id)) this.forget(id)
    points.push(...this.hostPoints(stat.total, stat.onlineCpus, meminfo, time))
    return points
  }

  /** The container's tags and the formatted series of its points sent every cycle, made once per record and engine. */
  private seriesOf(container: ContainerInfo, engineTags: Tags<typeof DOCKER>, engine: string): Series {
    const cached = this.series.get(container.id)
    if (cached?.container === container && cached.engine === engine) return cached
    const containerTags = {
      ...engineTags,
      container_name: container.name,
      container_image: container.image,
      container_version: container.version,
      container_status: container.state,
    } satisfies Tags<typeof CONTAINER_STATUS>
    const tags: Record<string, string> = {...container.labels, ...containerTags}
    const cpuTags = {...tags, cpu: CPU_TOTAL}
    const series: Series = {
      container,
      engine,
      tags,
      cpuTags,
      statusSeries: formatSeries(CONTAINER_STATUS.name, tags),
      cpuSeries: formatSeries(CONTAINER_CPU.name, cpuTags),
    }
    this.series.set(container.id, series)
    return series
  }

  /** The points of one sample that stay the same while the container is idle: per-CPU, memory, block I/O, network. */
  private counterPoints(
    tags: Record<string, string>,
    container: ContainerInfo,
    sample: CgroupSample,
    files: OpenFiles,
    hostMemory: number,
    time: bigint,
  ): Point[] {
    const id = container.id
    const points = sample.cpu.perCpuNs.map((ns, i) =>
      point(CONTAINER_CPU, {...tags, cpu: `cpu${i}`}, {usage_total: ns, container_id: id}, time),
    )
    const limit = Math.min(sample.memory.limit ?? hostMemory, hostMemory)
    // The kernel's memory.stat keys first: a schema field of the same name wins.
    const memFields: Fields<typeof CONTAINER_MEM, FieldValue> = {
      ...sample.memory.stat,
      usage: sample.memory.usage,
      limit,
      max_usage: sample.memory.maxUsage,
      usage_percent: {float: limit > 0 ? (sample.memory.usage / limit) * 100 : 0},
      fail_count: sample.memory.failCount,
      container_id: id,
    }
    points.push(
      point(CONTAINER_MEM, this.withoutFieldNames(tags, container.labels, memFields), memFields, time),
    )
    points.push(...blkioPoints(tags, id, sample.blkio.bytes, sample.blkio.ops, time))
    if (container.ownNetwork && container.pid > 0)
      points.push(...this.networkPoints(tags, container, files, time))
    return points
  }

  /** A label named like a field of the point would make InfluxDB 3 refuse it: such labels are left off (and counted). */
  private withoutFieldNames(
    tags: Record<string, string>,
    labels: Record<string, string>,
    fields: Record<string, unknown>,
  ): Record<string, string> {
    let kept = tags
    for (const key of Object.keys(labels)) {
      if (!(key in fields)) continue
      if (kept === tags) kept = {...tags}
      delete kept[key]
      this.labelCollisions++
    }
    return kept
  }

  private locate(container: ContainerInfo): Located | undefined {
    const cached = this.locations.get(container.id)
    if (cached && cached.pid === container.pid) return cached
    if (cached) this.forget(container.id) // restarted: a new process, maybe a new cgroup
    const location = locateCgroup(
      this.paths.cgroupRoot,
      this.paths.procRoot,
      this.version,
      container.id,
      container.pid,
    )
    if (!location) return undefined
    const located: Located = {pid: container.pid, location, files: new OpenFiles()}
    this.locations.set(container.id, located)
    return located
  }

  private forget(id: string): void {
    this.locations.get(id)?.files.close()
    this.locations.delete(id)
  }

  private hostFile(name: string): string {
    const text = this.hostFiles.read(join(this.paths.procRoot, name))
    if (text === undefined) throw new Error(`cannot read ${join(this.paths.procRoot, name)}`)
    return text
  }

  private networkPoints(
    tags: Record<string, string>,
    container: ContainerInfo,
    files: OpenFiles,
    time: bigint,
  ): Point[] {
    const text = files.read(join(this.paths.procRoot, String(container.pid), 'net/dev'))
    if (text === undefined) return [] // the process just exited
    const interfaces = parseNetDev(text)
    const points: Point[] = []
    const total: Partial<NetCounters> = {}
    for (const [name, counters] of interfaces) {
      points.push(
        point(CONTAINER_NET, {...tags, network: name}, {...counters, container_id: container.id}, time),
      )
      for (const key of Object.keys(counters) as (keyof NetCounters)[])
        total[key] = (total[key] ?? 0) + counters[key]
    }
    if (points.length)
      points.push(
        point(CONTAINER_NET, {...tags, network: TOTAL}, {...total, container_id: container.id}, time),
      )
    return points
  }

  private hostPoints(
    cpu: CpuTimes,
    onlineCpus: number,
    meminfo: Record<string, number>,
    time: bigint,
  ): Point[] {
    const tags = {host: this.host}
    const points: Point[] = []
    const before = this.previousHost
    this.previousHost = cpu
    if (before) {
      const delta = (key: keyof CpuTimes) => cpu[key] - before[key]
      const keys: (keyof CpuTimes)[] = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal']
      const total = keys.reduce((sum, key) => sum + delta(key), 0)
      if (total > 0) {
        const pct = (key: keyof CpuTimes) => ({float: (delta(key) / total) * 100})
        points.push(
          point(
            HOST_CPU,
            {...tags, cpu: CPU_TOTAL},
            {
              usage_user: pct('user'),
              usage_system: pct('system'),
              usage_idle: pct('idle'),
              usage_nice: pct('nice'),
              usage_iowait: pct('iowait'),
              usage_irq: pct('irq'),
              usage_softirq: pct('softirq'),
              usage_steal: pct('steal'),
              usage_guest: pct('guest'),
              usage_guest_nice: pct('guestNice'),
            },
            time,
          ),
        )
      }
    }
    const total = meminfo.MemTotal ?? 0
    const available = meminfo.MemAvailable ?? meminfo.MemFree ?? 0
    const free = meminfo.MemFree ?? 0
    const cached = meminfo.Cached ?? 0
    const buffered = meminfo.Buffers ?? 0
    if (total > 0) {
      points.push(
        point(
          HOST_MEM,
          tags,
          {
            total,
            available,
            free,
            cached,
            buffered,
            used: total - free - cached - buffered,
            used_percent: {float: ((total - free - cached - buffered) / total) * 100},
            available_percent: {float: (available / total) * 100},
          },
          time,
        ),
      )
    }
    // loadavg and uptime are optional for a stats cycle
    const loadavg = this.hostFiles.read(join(this.paths.procRoot, 'loadavg'))
    const uptime = this.hostFiles.read(join(this.paths.procRoot, 'uptime'))
    if (loadavg !== undefined && uptime !== undefined) {
      const [load1, load5, load15] = loadavg.trim().split(/\s+/).map(Number)
      points.push(
        point(
          HOST_SYSTEM,
          tags,
          {
            load1: {float: load1!},
            load5: {float: load5!},
            load15: {float: load15!},
            n_cpus: onlineCpus,
            uptime: Math.floor(Number(uptime.split(/\s+/)[0])),
          },
          time,
        ),
      )
    }
    return points
  }
}

function blkioPoints(
  tags: Record<string, string>,
  id: string,
  bytes: Map<string, BlkioDevice>,
  ops: Map<string, BlkioDevice>,
  time: bigint,
): Point[] {
  const points: Point[] = []
  const total: Fields<typeof CONTAINER_BLKIO, number> = {}
  for (const device of new Set([...bytes.keys(), ...ops.keys()])) {
    const fields: Fields<typeof CONTAINER_BLKIO, number> = {}
    for (const [counter, source] of [
      [BLKIO_COUNTER.io_service_bytes_recursive, bytes.get(device)],
      [BLKIO_COUNTER.io_serviced_recursive, ops.get(device)],
    ] as const) {
      if (!source) continue
      for (const op of Object.keys(source) as BlkioOp[]) {
        const field = `${counter}_${op}` as const
        fields[field] = source[op]
        total[field] = (total[field] ?? 0) + source[op]
      }
    }
    points.push(point(CONTAINER_BLKIO, {...tags, device}, {...fields, container_id: id}, time))
  }
  points.push(point(CONTAINER_BLKIO, {...tags, device: TOTAL}, {...total, container_id: id}, time))
  return points
}
