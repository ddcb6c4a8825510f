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
  type Measurement,
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
  startedNs: number
  /** The status fields the record says (all but the uptime). */
  statusFields: Fields<typeof CONTAINER_STATUS, FieldValue>
  /** Formatted series of the counter points (see `taggerOf`), by measurement and extra tag. */
  counterSeries: Map<string, string | null>
}

/** The container's tags with at most one more (cpu, device, network), and their series formatted. */
type Tagger = (
  measurement: Measurement,
  key?: string,
  value?: string,
) => {tags: Record<string, string>; text: string | undefined}

/** Bounds the series kept per container: one whose interfaces come and go under new names cannot grow it. */
const MAX_KEPT_SERIES = 256

/**
 * A full read formats thousands of counter points whose tags are the container's plus one: their
 * series are formatted once per container record (sorting, checking and escaping the tags was most
 * of a full read's formatting).
 */
function taggerOf(series: Series): Tagger {
  return (measurement, key, value) => {
    const tags = key === undefined ? series.tags : {...series.tags, [key]: value!}
    const cacheKey = key === undefined ? measurement.name : `${measurement.name}\n${key}\n${value}`
    let text = series.counterSeries.get(cacheKey)
    if (text === undefined) {
      if (series.counterSeries.size >= MAX_KEPT_SERIES) series.counterSeries.clear()
      text = formatSeries(measurement.name, tags) ?? null
      series.counterSeries.set(cacheKey, text)
    }
    return {tags, text: text ?? undefined}
  }
}

export class StatsCollector {
  readonly version: CgroupVersion
  /** Per container: its cgroup, its stat files held open while its init process lives, its last full read. */
  private readonly locations = new Map<string, Located>()
  private readonly hostFiles = new OpenFiles()
  private readonly previous = new Map<string, Previous>()
  private readonly series = new Map<string, Series>()
  /** The total-CPU fields a sample says, one object per sample (an idle container's is reused). */
  private readonly cpuFields = new WeakMap<CgroupSample, Fields<typeof CONTAINER_CPU, FieldValue>>()
  private previousHost: CpuTimes | undefined
  /** Labels left off `docker_container_mem` in the last cycle: named like one of the kernel's memory.stat keys. */
  labelCollisions = 0

  constructor(
    private readonly paths: StatsPaths,
    private readonly host: string,
  ) {
    this.version = cgroupVersion(paths.cgroupRoot)
  }

  /** One cycle's points, all at once (tests; the agent hands them over as they are made, see `emit`). */
  collect(engine: EngineInfo, containers: ContainerInfo[], time: bigint): Point[] {
    const points: Point[] = []
    this.emit(engine, containers, time, (some) => points.push(...some))
    return points
  }

  /**
   * One cycle, each container's points handed to `sink` as soon as they are made: at 1,000
   * containers the cycle's 9,000 points held together until its end outlived V8's young
   * generation, and collecting them from the old one cost a major collection every cycle.
   */
  emit(engine: EngineInfo, containers: ContainerInfo[], time: bigint, sink: (points: Point[]) => void): void {
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
    sink(points)
    const live = new Set<string>()
    this.labelCollisions = 0
    const engineKey = `${engine.Name}\n${engine.ServerVersion}`
    for (const container of containers) {
      live.add(container.id)
      sink(
        this.containerPoints(
          container,
          this.seriesOf(container, engineTags, engineKey),
          systemNs,
          stat.onlineCpus,
          hostMemory,
          time,
        ),
      )
    }
    for (const id of this.previous.keys()) if (!live.has(id)) this.previous.delete(id)
    for (const id of this.series.keys()) if (!live.has(id)) this.series.delete(id)
    for (const id of this.locations.keys()) if (!live.has(id)) this.forget(id)
    sink(this.hostPoints(stat.total, stat.onlineCpus, meminfo, time))
  }

  /** A container's points of one cycle: its status, and its usage when it runs. */
  private containerPoints(
    container: ContainerInfo,
    series: Series,
    systemNs: number,
    onlineCpus: number,
    hostMemory: number,
    time: bigint,
  ): Point[] {
    const {tags, cpuTags, statusSeries, cpuSeries, startedNs} = series
    const id = container.id
    const points: Point[] = []
    points.push(
      point(
        CONTAINER_STATUS,
        tags,
        {uptime_ns: container.state === 'running' && startedNs ? Math.max(0, Number(time) - startedNs) : 0},
        time,
        statusSeries,
        series.statusFields,
      ),
    )
    if (container.state !== 'running' && container.state !== 'paused') {
      // An open file would keep the removed cgroup alive in the kernel (a dying memcg).
      this.forget(id)
      return points
    }
    const located = this.locate(container)
    if (!located) return points
    const {last} = located
    const reusable = last && last.reused < FULL_READ_EVERY - 1 ? last.sample : undefined
    const sample = readCgroup(located.location, located.files, reusable)
    if (!sample) return points
    const before = this.previous.get(id)
    this.previous.set(id, {containerNs: sample.cpu.totalNs, systemNs})
    const systemDelta = before ? systemNs - before.systemNs : 0
    const usagePercent =
      before && systemDelta > 0
        ? ((sample.cpu.totalNs - before.containerNs) / systemDelta) * onlineCpus * 100
        : 0
    points.push(
      point(
        CONTAINER_CPU,
        cpuTags,
        {usage_system: systemNs, usage_percent: {float: Math.max(0, usagePercent)}},
        time,
        cpuSeries,
        this.cpuFieldsOf(sample, id),
      ),
    )
    const idle = sample === reusable
    if (idle && last!.series === series) {
      last!.reused++
      this.labelCollisions += last!.labelCollisions
      for (const unchanged of last!.points) points.push({...unchanged, time})
      return points
    }
    const collisionsBefore = this.labelCollisions
    const counters = this.counterPoints(series, container, sample, located.files, hostMemory, time)
    for (const counter of counters) counter.fixed = true
    if (last?.series === series) keepUnchangedFields(counters, last.points)
    located.last = {
      sample,
      reused: idle ? last!.reused + 1 : 0,
      series,
      labelCollisions: this.labelCollisions - collisionsBefore,
      points: counters,
    }
    points.push(...counters)
    return points
  }

  private cpuFieldsOf(sample: CgroupSample, id: string): Fields<typeof CONTAINER_CPU, FieldValue> {
    let fields = this.cpuFields.get(sample)
    if (!fields) {
      fields = {
        usage_total: sample.cpu.totalNs,
        usage_in_usermode: sample.cpu.userNs,
        usage_in_kernelmode: sample.cpu.systemNs,
        throttling_periods: sample.cpu.periods,
        throttling_throttled_periods: sample.cpu.throttledPeriods,
        throttling_throttled_time: sample.cpu.throttledNs,
        container_id: id,
      }
      this.cpuFields.set(sample, fields)
    }
    return fields
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
      startedNs: toNs(container.startedAt),
      statusFields: {
        oomkilled: container.oomKilled,
        pid: container.pid,
        exitcode: container.exitCode,
        started_at: toNs(container.startedAt),
        finished_at: toNs(container.finishedAt),
        restart_count: container.restartCount,
        container_id: container.id,
      },
      counterSeries: new Map(),
    }
    this.series.set(container.id, series)
    return series
  }

  /** The points of one sample that stay the same while the container is idle: per-CPU, memory, block I/O, network. */
  private counterPoints(
    series: Series,
    container: ContainerInfo,
    sample: CgroupSample,
    files: OpenFiles,
    hostMemory: number,
    time: bigint,
  ): Point[] {
    const id = container.id
    const tagged = taggerOf(series)
    const points = sample.cpu.perCpuNs.map((ns, i) => {
      const {tags, text} = tagged(CONTAINER_CPU, 'cpu', `cpu${i}`)
      return point(CONTAINER_CPU, tags, {usage_total: ns, container_id: id}, time, text)
    })
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
    const memTags = this.withoutFieldNames(series.tags, container.labels, memFields)
    const memSeries = memTags === series.tags ? tagged(CONTAINER_MEM).text : undefined
    points.push(point(CONTAINER_MEM, memTags, memFields, time, memSeries))
    points.push(...blkioPoints(tagged, id, sample.blkio.bytes, sample.blkio.ops, time))
    if (container.ownNetwork && container.pid > 0)
      points.push(...this.networkPoints(tagged, container, files, time))
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

  private networkPoints(tagged: Tagger, container: ContainerInfo, files: OpenFiles, time: bigint): Point[] {
    const text = files.read(join(this.paths.procRoot, String(container.pid), 'net/dev'))
    if (text === undefined) return [] // the process just exited
    const interfaces = parseNetDev(text)
    const points: Point[] = []
    const total: Partial<NetCounters> = {}
    for (const [name, counters] of interfaces) {
      const {tags, text} = tagged(CONTAINER_NET, 'network', name)
      points.push(point(CONTAINER_NET, tags, {...counters, container_id: container.id}, time, text))
      for (const key of Object.keys(counters) as (keyof NetCounters)[])
        total[key] = (total[key] ?? 0) + counters[key]
    }
    if (points.length) {
      const {tags, text} = tagged(CONTAINER_NET, 'network', TOTAL)
      points.push(point(CONTAINER_NET, tags, {...total, container_id: container.id}, time, text))
    }
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

/**
 * Gives each point whose series and fields are the same as the last read's that read's fields
 * object, whose line is formatted already: most of an idle container's counters (memory.stat's
 * forty fields above all) are unchanged at its full read.
 */
function keepUnchangedFields(points: Point[], before: Point[]): void {
  for (let i = 0; i < points.length && i < before.length; i++) {
    const now = points[i]!
    const then = before[i]!
    if (now.series !== undefined && now.series === then.series && sameFields(now.fields, then.fields))
      now.fields = then.fields
  }
}

function sameFields(a: Point['fields'], b: Point['fields']): boolean {
  let count = 0
  for (const key in a) {
    count++
    const x = a[key]
    const y = b[key]
    if (x === y) continue
    if (typeof x !== 'object' || typeof y !== 'object' || x.float !== y.float) return false
  }
  for (const key in b) if (--count < 0 || !(key in a)) return false
  return count === 0
}

function blkioPoints(
  tagged: Tagger,
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
    const {tags, text} = tagged(CONTAINER_BLKIO, 'device', device)
    points.push(point(CONTAINER_BLKIO, tags, {...fields, container_id: id}, time, text))
  }
  const {tags, text} = tagged(CONTAINER_BLKIO, 'device', TOTAL)
  points.push(point(CONTAINER_BLKIO, tags, {...total, container_id: id}, time, text))
  return points
}
