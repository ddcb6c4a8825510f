import {readdirSync} from 'node:fs'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {OpenFiles} from '../../agent/src/openfiles.js'
import {
  cgroupVersion,
  locateCgroup,
  parseBlkioV1,
  parseFlatKeyed,
  parseIoStatV2,
  parseProcCgroup,
  readCgroup,
} from '../../agent/src/cgroup.js'
import type {ContainerInfo} from '../../agent/src/containers.js'
import {splitImage} from '../../agent/src/containers.js'
import type {EngineInfo} from '../../agent/src/docker.js'
import {allFields, formatPoint, type Point} from '../../agent/src/lineprotocol.js'
import {parseMeminfo, parseNetDev, parseProcStat, systemCpuNs} from '../../agent/src/procfs.js'
import {MEASUREMENTS} from '../../agent/src/schema.js'
import {FULL_READ_EVERY, StatsCollector} from '../../agent/src/stats.js'

const ID = 'c0ffee'.padEnd(64, '0')
let root: string

async function tree(files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), {recursive: true})
    await writeFile(join(root, path), content)
  }
}

const v1Files = (base: (controller: string) => string): Record<string, string> => ({
  [`${base('cpuacct')}/cpuacct.usage`]: '3000000000\n',
  [`${base('cpuacct')}/cpuacct.usage_percpu`]: '1000000000 2000000000 \n',
  [`${base('cpuacct')}/cpuacct.stat`]: 'user 150\nsystem 50\n',
  [`${base('cpu')}/cpu.stat`]: 'nr_periods 10\nnr_throttled 2\nthrottled_time 5000\n',
  [`${base('memory')}/memory.usage_in_bytes`]: '104857600\n',
  [`${base('memory')}/memory.limit_in_bytes`]: '9223372036854771712\n',
  [`${base('memory')}/memory.max_usage_in_bytes`]: '209715200\n',
  [`${base('memory')}/memory.failcnt`]: '3\n',
  [`${base('memory')}/memory.stat`]: 'cache 4194304\nrss 100663296\ntotal_inactive_file 4194304\n',
  [`${base('blkio')}/blkio.throttle.io_service_bytes_recursive`]:
    '8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 8192\n8:0 Async 4096\n8:0 Total 12288\nTotal 12288\n',
  [`${base('blkio')}/blkio.throttle.io_serviced_recursive`]:
    '8:0 Read 1\n8:0 Write 2\n8:0 Sync 2\n8:0 Async 1\n8:0 Total 3\nTotal 3\n',
})

const engineInfo = (cpus: number) =>
  ({Name: 'eng', ServerVersion: '20.10.24', NCPU: cpus, MemTotal: 1 << 30, NFd: 30, Images: 3}) as EngineInfo

/** A running container of the fixture host (pid 42), with its own network unless told otherwise. */
const webContainer = (overrides: Partial<ContainerInfo> = {}): ContainerInfo => ({
  id: ID,
  name: 'web',
  image: 'busybox',
  version: 'latest',
  tty: false,
  labels: {},
  labelsDropped: 0,
  ownNetwork: true,
  state: 'running',
  pid: 42,
  exitCode: 0,
  oomKilled: false,
  startedAt: '2026-12-01T08:00:00Z',
  finishedAt: '0001-01-01T00:00:00Z',
  restartCount: 0,
  ...overrides,
})

const v2Files = (dir: string): Record<string, string> => ({
  'cgroup.controllers': 'cpu io memory pids\n',
  [`${dir}/cgroup.procs`]: '42\n',
  [`${dir}/cpu.stat`]:
    'usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\nnr_periods 10\nnr_throttled 2\nthrottled_usec 5\n',
  [`${dir}/memory.current`]: '104857600\n',
  [`${dir}/memory.max`]: '268435456\n',
  [`${dir}/memory.peak`]: '209715200\n',
  [`${dir}/memory.events`]: 'low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n',
  [`${dir}/memory.stat`]: 'anon 100663296\nfile 4194304\ninactive_file 4194304\n',
  [`${dir}/io.stat`]: '8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n',
})

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'agent-cg-'))
})
afterEach(async () => {
  await rm(root, {recursive: true, force: true})
})

describe('cgroup parsing', () => {
  it('reads flat keyed files: integers only, any spacing, no trailing newline needed', () => {
    expect(
      parseFlatKeyed('cache 4096\n  rss\t8192 \n\nswap -1\nsome avg10=0.00 total=0\nbad 1.5\nlast 7'),
    ).toEqual({cache: 4096, rss: 8192, swap: -1, last: 7})
    expect(parseFlatKeyed(undefined)).toEqual({})
  })
  it('reads /proc/<pid>/cgroup for v1 (joined controllers, named hierarchies) and v2', () => {
    const v1 = parseProcCgroup(
      '12:cpu,cpuacct:/docker/abc\n5:memory:/docker/abc\n1:name=systemd:/docker/abc\n',
    )
    expect([v1.get('cpu'), v1.get('cpuacct'), v1.get('memory'), v1.get('systemd')]).toEqual([
      '/docker/abc',
      '/docker/abc',
      '/docker/abc',
      '/docker/abc',
    ])
    expect(parseProcCgroup('0::/system.slice/docker-abc.scope\n').get('')).toBe(
      '/system.slice/docker-abc.scope',
    )
  })

  it('parses v1 blkio and v2 io.stat per device', () => {
    expect(parseBlkioV1('8:0 Read 10\n8:0 Write 5\n8:16 Read 1\nTotal 16\n')).toEqual(
      new Map([
        ['8:0', {read: 10, write: 5, sync: 0, async: 0, total: 0}],
        ['8:16', {read: 1, write: 0, sync: 0, async: 0, total: 0}],
      ]),
    )
    const v2 = parseIoStatV2('259:0 rbytes=100 wbytes=50 rios=2 wios=1 dbytes=0 dios=0\n')
    expect(v2.bytes.get('259:0')).toEqual({read: 100, write: 50, sync: 0, async: 0, total: 150})
    expect(v2.ops.get('259:0')).toEqual({read: 2, write: 1, sync: 0, async: 0, total: 3})
  })

  for (const [driver, path] of [
    ['cgroupfs', `docker/${ID}`],
    ['systemd', `system.slice/docker-${ID}.scope`],
  ] as const) {
    it(`v1 with the ${driver} driver: found by layout, usage minus inactive file, no limit reads as none`, async () => {
      await tree(v1Files((c) => `${c}/${path}`))
      expect(cgroupVersion(root)).toBe(1)
      const location = locateCgroup(root, join(root, 'proc'), 1, ID, 0)
      expect(location?.dirs.memory).toBe(join(root, 'memory', path))
      const sample = readCgroup(location!, new OpenFiles())!
      expect(sample.cpu).toEqual({
        totalNs: 3e9,
        userNs: 1.5e9,
        systemNs: 0.5e9,
        perCpuNs: [1e9, 2e9],
        periods: 10,
        throttledPeriods: 2,
        throttledNs: 5000,
      })
      expect(sample.memory).toMatchObject({
        usage: 96 * 1024 * 1024,
        limit: undefined,
        maxUsage: 200 * 1024 * 1024,
        failCount: 3,
      })
      expect(sample.blkio.bytes.get('8:0')).toEqual({
        read: 4096,
        write: 8192,
        sync: 8192,
        async: 4096,
        total: 12288,
      })
    })

    it(`v2 with the ${driver} driver: found by layout, usec to ns, memory.events max as fail count`, async () => {
      await tree(v2Files(path))
      expect(cgroupVersion(root)).toBe(2)
      const location = locateCgroup(root, join(root, 'proc'), 2, ID, 0)
      expect(location?.dirs.cpu).toBe(join(root, path))
      const sample = readCgroup(location!, new OpenFiles())!
      expect(sample.cpu).toEqual({
        totalNs: 3e9,
        userNs: 2e9,
        systemNs: 1e9,
        perCpuNs: [],
        periods: 10,
        throttledPeriods: 2,
        throttledNs: 5000,
      })
      expect(sample.memory).toMatchObject({
        usage: 96 * 1024 * 1024,
        limit: 256 * 1024 * 1024,
        maxUsage: 200 * 1024 * 1024,
        failCount: 7,
      })
      expect(sample.blkio.bytes.get('8:0')?.total).toBe(12288)
    })
  }

  it('prefers the cgroup /proc/<pid>/cgroup names (a --cgroup-parent outside both layouts)', async () => {
    await tree({...v2Files(`custom/parent/${ID}`), '/proc/42/cgroup': `0::/custom/parent/${ID}\n`})
    expect(locateCgroup(root, join(root, 'proc'), 2, ID, 42)?.dirs.memory).toBe(
      join(root, `custom/parent/${ID}`),
    )
    expect(locateCgroup(root, join(root, 'proc'), 2, 'other', 0)).toBeUndefined()
  })

  it('falls back to the driver layouts when /proc/<pid>/cgroup is seen from a private cgroup namespace (a swarm task)', async () => {
    await tree({
      ...v2Files(`system.slice/docker-${ID}.scope`),
      '/proc/42/cgroup': `0::/../../system.slice/docker-${ID}.scope\n`,
    })
    expect(locateCgroup(root, join(root, 'proc'), 2, ID, 42)?.dirs.memory).toBe(
      join(root, `system.slice/docker-${ID}.scope`),
    )
  })
})

describe('procfs parsing', () => {
  it('reads /proc/stat, meminfo and net/dev (without lo)', () => {
    const stat = parseProcStat(
      'cpu  100 5 50 800 10 1 2 3 0 0\ncpu0 50 0 0 0 0 0 0 0 0 0\ncpu1 50 0 0 0 0 0 0 0 0 0\nintr 1\n',
    )
    expect(stat.onlineCpus).toBe(2)
    expect(systemCpuNs(stat)).toBe((100 + 5 + 50 + 800 + 10 + 1 + 2) * 1e7)
    expect(
      parseMeminfo('MemTotal:       2048 kB\nMemAvailable:   1024 kB\nHugePages_Total:       0\n'),
    ).toEqual({MemTotal: 2048 * 1024, MemAvailable: 1024 * 1024, HugePages_Total: 0})
    const net = parseNetDev(
      'Inter-|   Receive\n face |bytes\n    lo: 9 9 0 0 0 0 0 0 9 9 0 0 0 0 0 0\n  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\n',
    )
    expect([...net.keys()]).toEqual(['eth0'])
    expect(net.get('eth0')).toEqual({
      rx_bytes: 1000,
      rx_packets: 10,
      rx_errors: 1,
      rx_dropped: 2,
      tx_bytes: 2000,
      tx_packets: 20,
      tx_errors: 3,
      tx_dropped: 4,
    })
  })

  it('splits image references like Telegraf', () => {
    expect(splitImage('busybox:1.36')).toEqual({image: 'busybox', version: '1.36'})
    expect(splitImage('registry:5000/team/app')).toEqual({
      image: 'registry:5000/team/app',
      version: 'unknown',
    })
    expect(splitImage('registry:5000/app:2@sha256:ab')).toEqual({image: 'registry:5000/app', version: '2'})
  })
})

describe('a stats cycle over a fixture host', () => {
  it("writes Telegraf's measurements, with usage_percent from the deltas (one busy core of two = 100)", async () => {
    await tree({
      ...v1Files((c) => `sys/${c}/docker/${ID}`),
      'proc/42/cgroup': `4:memory:/docker/${ID}\n3:cpu,cpuacct:/docker/${ID}\n`,
      'proc/42/net/dev': 'h\nh\n  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n',
      'proc/meminfo':
        'MemTotal: 1048576 kB\nMemFree: 524288 kB\nMemAvailable: 786432 kB\nCached: 0 kB\nBuffers: 0 kB\n',
      'proc/stat': 'cpu  1000 0 0 1000 0 0 0 0 0 0\ncpu0 0\ncpu1 0\n',
      'proc/loadavg': '0.5 0.25 0.1 1/100 42\n',
      'proc/uptime': '123.4 200\n',
    })
    const stats = new StatsCollector({cgroupRoot: join(root, 'sys'), procRoot: join(root, 'proc')}, 'h1')
    const engine = engineInfo(2)
    const container = webContainer({labels: {'com.example.team': 'a b'}, restartCount: 1})
    stats.collect(engine, [container], 1n)
    // One second later on two CPUs (200 ticks = 2e9 ns of system time): the container used 1e9 ns more.
    await tree({
      [`sys/cpuacct/docker/${ID}/cpuacct.usage`]: '4000000000\n',
      'proc/stat': 'cpu  1100 0 0 1100 0 0 0 0 0 0\ncpu0 0\ncpu1 0\n',
    })
    const points = stats.collect(engine, [container], 2n)
    const find = (measurement: string, tag?: [string, string]): Point =>
      points.find((p) => p.measurement === measurement && (!tag || p.tags[tag[0]] === tag[1]))!
    const cpu = find('docker_container_cpu', ['cpu', 'cpu-total'])
    expect(cpu.tags).toMatchObject({
      host: 'h1',
      engine_host: 'eng',
      server_version: '20.10.24',
      container_name: 'web',
      container_image: 'busybox',
      container_version: 'latest',
      container_status: 'running',
      'com.example.team': 'a b',
    })
    expect(cpu.fields.usage_percent).toEqual({float: 100})
    expect(allFields(cpu)).toMatchObject({usage_total: 4e9, usage_system: 22e9, container_id: ID})
    expect(find('docker_container_cpu', ['cpu', 'cpu1']).fields.usage_total).toBe(2e9)
    const mem = find('docker_container_mem')
    expect(mem.fields).toMatchObject({
      usage: 96 * 1024 * 1024,
      limit: 1 << 30,
      usage_percent: {float: (96 / 1024) * 100},
      rss: 100663296,
      container_id: ID,
    })
    expect(find('docker_container_net', ['network', 'total']).fields).toMatchObject({
      rx_bytes: 1000,
      tx_packets: 20,
    })
    expect(find('docker_container_blkio', ['device', 'total']).fields.io_service_bytes_recursive_total).toBe(
      12288,
    )
    expect(allFields(find('docker_container_status'))).toMatchObject({
      uptime_ns: expect.any(Number),
      pid: 42,
      restart_count: 1,
      started_at: 1_796_112_000_000_000_000,
      finished_at: 0,
      oomkilled: false,
    })
    expect(find('docker').fields).toMatchObject({
      n_containers: 1,
      n_containers_running: 1,
      n_images: 3,
      n_cpus: 2,
    })
    expect(find('cpu').fields.usage_user).toEqual({float: 50})
    expect(find('mem').fields).toMatchObject({total: 1 << 30, used_percent: {float: 50}})
    expect(find('system').fields).toMatchObject({load1: {float: 0.5}, n_cpus: 2, uptime: 123})
    // Every name comes from the schema; on top only the container's labels (tags) and memory.stat's keys (fields).
    const memoryStat = ['cache', 'rss', 'total_inactive_file'] // the fixture's memory.stat
    for (const point of points) {
      const schema = MEASUREMENTS.find((m) => m.name === point.measurement)
      expect(schema, point.measurement).toBeDefined()
      expect(
        Object.keys(point.tags).filter((tag) => !(tag in schema!.tags) && !(tag in container.labels)),
        point.measurement,
      ).toEqual([])
      expect(
        Object.keys(allFields(point)).filter(
          (field) => !(field in schema!.fields) && !(point === mem && memoryStat.includes(field)),
        ),
        point.measurement,
      ).toEqual([])
    }
  })

  it('holds the stat files of a container open only while it runs, and re-reads them in place', async () => {
    await tree({
      ...v1Files((c) => `sys/${c}/docker/${ID}`),
      'sys/memory/memory.stat': '',
      'proc/42/cgroup': '',
      'proc/meminfo': 'MemTotal: 1048576 kB\nMemFree: 524288 kB\n',
      'proc/stat': 'cpu  1000 0 0 1000 0 0 0 0 0 0\ncpu0 0\n',
    })
    const stats = new StatsCollector({cgroupRoot: join(root, 'sys'), procRoot: join(root, 'proc')}, 'h1')
    const engine = engineInfo(1)
    const container = webContainer({ownNetwork: false})
    const openFds = () => readdirSync('/proc/self/fd').length
    const before = openFds()
    stats.collect(engine, [container], 1n)
    expect(openFds()).toBeGreaterThan(before + 5)
    // The container ran (its CPU counter moved), so every file is read again, in place.
    await tree({
      [`sys/memory/docker/${ID}/memory.usage_in_bytes`]: '5242880\n',
      [`sys/cpuacct/docker/${ID}/cpuacct.usage`]: '3000000001\n',
    })
    const usage = stats
      .collect(engine, [container], 2n)
      .find((p) => p.measurement === 'docker_container_mem')!.fields.usage
    expect(usage).toBe(5242880 - 4194304)
    stats.collect(engine, [{...container, state: 'exited', pid: 0}], 3n)
    expect(openFds()).toBe(before + 2) // /proc/stat and /proc/meminfo stay open
  })
})

describe('an idle container (its CPU counter did not move)', () => {
  const engine = engineInfo(1)
  const container = webContainer()
  const memoryUsage = (points: Point[]) =>
    points.find((p) => p.measurement === 'docker_container_mem')!.fields.usage
  const rxBytes = (points: Point[]) =>
    points.find((p) => p.measurement === 'docker_container_net' && p.tags.network === 'total')!.fields
      .rx_bytes
  const netDev = (rx: number) => `h\nh\n  eth0: ${rx} 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n`

  beforeEach(async () => {
    await tree({
      ...v1Files((c) => `sys/${c}/docker/${ID}`),
      'proc/42/cgroup': '',
      'proc/42/net/dev': netDev(1000),
      'proc/meminfo': 'MemTotal: 1048576 kB\nMemFree: 524288 kB\n',
      'proc/stat': 'cpu  1000 0 0 1000 0 0 0 0 0 0\ncpu0 0\n',
    })
  })

  it(`keeps its last counters for at most ${FULL_READ_EVERY} cycles, then reads them again; a moved CPU counter reads them at once`, async () => {
    const stats = new StatsCollector({cgroupRoot: join(root, 'sys'), procRoot: join(root, 'proc')}, 'h1')
    expect(memoryUsage(stats.collect(engine, [container], 1n))).toBe(100663296)
    // What the kernel changes without the container running: page cache reclaimed, packets received.
    await tree({
      [`sys/memory/docker/${ID}/memory.usage_in_bytes`]: '8388608\n',
      'proc/42/net/dev': netDev(5000),
    })
    const cycles = Array.from({length: FULL_READ_EVERY}, (_, i) =>
      stats.collect(engine, [container], BigInt(i + 2)),
    )
    expect(cycles.map(memoryUsage)).toEqual([
      ...Array(FULL_READ_EVERY - 1).fill(100663296),
      8388608 - 4194304,
    ])
    expect(cycles.map(rxBytes)).toEqual([...Array(FULL_READ_EVERY - 1).fill(1000), 5000])
    // Every point is still sent every cycle, at that cycle's time.
    for (const [i, points] of cycles.entries()) {
      expect(points.filter((p) => p.tags.container_name === 'web').map((p) => p.time)).toEqual(
        Array(points.filter((p) => p.tags.container_name === 'web').length).fill(BigInt(i + 2)),
      )
      expect(points.filter((p) => p.tags.container_name === 'web').length).toBe(
        cycles[0]!.filter((p) => p.tags.container_name === 'web').length,
      )
    }
    await tree({
      [`sys/memory/docker/${ID}/memory.usage_in_bytes`]: '12582912\n',
      [`sys/cpuacct/docker/${ID}/cpuacct.usage`]: '3000000500\n',
    })
    expect(memoryUsage(stats.collect(engine, [container], 100n))).toBe(12582912 - 4194304)
  })

  it('formats its unchanged points once, and they read the same as a fresh collector formats them', async () => {
    const stats = new StatsCollector({cgroupRoot: join(root, 'sys'), procRoot: join(root, 'proc')}, 'h1')
    stats.collect(engine, [container], 1n).forEach(formatPoint)
    const reused = stats.collect(engine, [container], 2n)
    const fresh = new StatsCollector({cgroupRoot: join(root, 'sys'), procRoot: join(root, 'proc')}, 'h1')
    fresh.collect(engine, [container], 1n)
    const lines = (points: Point[]) =>
      points.filter((p) => p.measurement !== 'cpu' && p.tags.cpu !== 'cpu-total').map(formatPoint)
    expect(lines(reused)).toEqual(lines(fresh.collect(engine, [container], 2n)))
    expect(lines(reused).every((line) => line?.endsWith(' 2'))).toBe(true)
    // At the full read nothing changed: the same lines, from the fields already formatted.
    const mem = (points: Point[]) => points.find((p) => p.measurement === 'docker_container_mem')!
    let full = reused
    for (let cycle = 3; cycle < 3 + FULL_READ_EVERY - 1; cycle++)
      full = stats.collect(engine, [container], BigInt(cycle))
    let freshFull = fresh.collect(engine, [container], 2n)
    for (let cycle = 3; cycle < 3 + FULL_READ_EVERY - 1; cycle++)
      freshFull = fresh.collect(engine, [container], BigInt(cycle))
    expect(lines(full)).toEqual(lines(freshFull))
    expect(mem(full).fields).toBe(mem(reused).fields)
    await tree({[`sys/memory/docker/${ID}/memory.usage_in_bytes`]: '8388608\n'})
    for (let cycle = 10; cycle < 10 + FULL_READ_EVERY; cycle++)
      full = stats.collect(engine, [container], BigInt(cycle))
    expect(mem(full).fields.usage).toBe(8388608 - 4194304)
    // A renamed container (a new record from the registry) gets its new tags at once.
    const renamed = stats.collect(engine, [{...container, name: 'api'}], 3n)
    expect(renamed.filter((p) => p.tags.container_name === 'web')).toEqual([])
    expect(
      renamed
        .filter((p) => p.tags.container_name === 'api')
        .map(formatPoint)
        .every((l) => l?.includes('container_name=api')),
    ).toBe(true)
  })
})

describe('OpenFiles', () => {
  it('returns the current content on every read, whole past 64 KiB, and undefined for a missing file', async () => {
    const files = new OpenFiles()
    const big = 'x'.repeat(200 * 1024)
    await tree({a: 'one\n', big})
    expect(files.read(join(root, 'a'))).toBe('one\n')
    await tree({a: 'two, longer\n'})
    expect(files.read(join(root, 'a'))).toBe('two, longer\n')
    expect(files.read(join(root, 'big'))).toBe(big)
    expect(files.read(join(root, 'big'), true)).toBe(big)
    expect(files.read(join(root, 'missing'))).toBeUndefined()
    files.close()
  })
})
