/**
 * The agent's `disk` measurement: mountinfo parsed as the kernel writes it (escapes, optional
 * fields, bind mounts of one filesystem), Telegraf's ignore list, and statfs numbers that agree
 * with df on this machine's own root.
 */
import {execFileSync} from 'node:child_process'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {
  DEFAULT_IGNORE_FS,
  DiskCollector,
  MOUNTS_READ_EVERY,
  parseMountinfo,
  reportableMounts,
} from '../../agent/src/disk.js'
import {loadConfig} from '../../agent/src/config.js'
import {formatPoint} from '../../agent/src/lineprotocol.js'

const MOUNTINFO = [
  '22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro',
  '23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
  '24 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw,size=4008236k,mode=755',
  '25 22 0:24 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=804520k,mode=755',
  '30 22 254:17 / /srv/my\\040data rw,noatime shared:20 master:3 - xfs /dev/vdb1 rw,attr2',
  '31 22 254:1 /var/lib/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro',
  '33 22 254:65 /var/lib/docker/containers/c1/resolv.conf /etc/resolv.conf rw - ext4 /dev/vde rw',
  '34 22 254:65 /var/lib/docker/volumes/v1/_data /var/lib/docker rw - ext4 /dev/vde rw',
  '32 22 254:33 / /backup ro,relatime - ext4 /dev/mapper/vg-backup ro',
  '40 31 0:50 / /var/lib/docker/overlay2/abc/merged rw,relatime - overlay overlay rw,lowerdir=/x,upperdir=/y,workdir=/z',
  '41 32 254:49 / /backup rw,relatime - ext4 /dev/vdd rw',
  '',
  'garbage line',
].join('\n')

describe('mountinfo', () => {
  it('parses mount points (octal escapes undone), types, sources and ro/rw, past optional fields', () => {
    const mounts = parseMountinfo(MOUNTINFO)
    expect(mounts).toHaveLength(11)
    expect(mounts[4]).toEqual({
      device: '254:17',
      root: '/',
      mountPoint: '/srv/my data',
      fsType: 'xfs',
      source: '/dev/vdb1',
      readOnly: false,
    })
    expect(mounts.find((m) => m.device === '254:33')).toMatchObject({mountPoint: '/backup', readOnly: true})
  })

  it("reports each filesystem once (a bind of / is not a second disk; a host whose disk shows only through binds, as a lab machine's, reports the bind showing most of it; a mount hidden under another is not seen) and leaves Telegraf's ignored types out", () => {
    const paths = reportableMounts(parseMountinfo(MOUNTINFO), DEFAULT_IGNORE_FS).map(
      (m) => `${m.mountPoint} ${m.source}`,
    )
    expect(paths).toEqual([
      '/ /dev/vda1',
      '/proc proc',
      '/srv/my data /dev/vdb1',
      '/var/lib/docker /dev/vde',
      '/backup /dev/vdd',
    ])
    expect(reportableMounts(parseMountinfo(MOUNTINFO), ['overlay']).map((m) => m.mountPoint)).toContain(
      '/run',
    )
  })

  it('is configured by BERTH_AGENT_HOST_ROOT and BERTH_AGENT_DISK_IGNORE_FS', () => {
    const base = {BERTH_AGENT_INFLUX_URL: 'http://influx:8086', BERTH_AGENT_DATABASE: 'berth'}
    expect(loadConfig(base)).toMatchObject({hostRoot: '/host/root', diskIgnoreFs: DEFAULT_IGNORE_FS})
    expect(
      loadConfig({
        ...base,
        BERTH_AGENT_HOST_ROOT: '/hostfs',
        BERTH_AGENT_DISK_IGNORE_FS: 'overlay, squashfs',
      }),
    ).toMatchObject({hostRoot: '/hostfs', diskIgnoreFs: ['overlay', 'squashfs']})
  })
})

describe('disk points', () => {
  let proc: string
  beforeEach(async () => {
    proc = await mkdtemp(join(tmpdir(), 'berth-disk-'))
    await mkdir(join(proc, '1'))
  })
  afterEach(() => rm(proc, {recursive: true, force: true}))

  it("measure this machine's root filesystem as df does", async () => {
    await writeFile(join(proc, '1', 'mountinfo'), await readFile('/proc/self/mountinfo', 'utf8'))
    const points = new DiskCollector(
      {procRoot: proc, hostRoot: '/', ignoreFs: ['proc', 'sysfs']},
      'node-1',
    ).collect(7n)
    const root = points.find((p) => p.tags.path === '/')!
    expect(root).toBeDefined()
    expect(points.every((p) => p.measurement === 'disk' && p.tags.host === 'node-1' && p.time === 7n)).toBe(
      true,
    )
    expect(new Set(points.map((p) => p.tags.path)).size).toBe(points.length)
    const [size, avail, used] = execFileSync('df', ['-B1', '--output=size,avail,used', '/'], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n')[1]!
      .trim()
      .split(/\s+/)
      .map(Number)
    const f = root.fields as Record<string, number | {float: number}>
    expect(f.total).toBe(size)
    // Other processes write between df and statfs (gigabytes at times on this shared machine): within 1 % of the disk.
    expect(Math.abs((f.free as number) - avail!)).toBeLessThan(size! / 100)
    expect(Math.abs((f.used as number) - used!)).toBeLessThan(size! / 100)
    const percent = (f.used_percent as {float: number}).float
    expect(percent).toBeCloseTo(((f.used as number) / ((f.used as number) + (f.free as number))) * 100, 6)
    expect(f.inodes_used).toBe((f.inodes_total as number) - (f.inodes_free as number))
    expect(formatPoint(root)).toMatch(
      /^disk,device=\S+,fstype=\S+,host=node-1,mode=rw,path=\/ total=\d+i,free=\d+i,used=\d+i,used_percent=[\d.]+,inodes_total=\d+i/,
    )
  })

  it("writes nothing when the host's root is not bound in (an agent installed before), and skips mounts gone since", async () => {
    await writeFile(join(proc, '1', 'mountinfo'), MOUNTINFO)
    expect(
      new DiskCollector(
        {procRoot: proc, hostRoot: join(proc, 'absent'), ignoreFs: DEFAULT_IGNORE_FS},
        'h',
      ).collect(1n),
    ).toEqual([])
    // Under an empty root only / exists: /srv/my data and /backup are skipped, /proc has no blocks here.
    const points = new DiskCollector(
      {procRoot: proc, hostRoot: proc, ignoreFs: DEFAULT_IGNORE_FS},
      'h',
    ).collect(1n)
    expect(points.map((p) => p.tags.path)).toEqual(['/'])
  })

  it(`is read again every ${MOUNTS_READ_EVERY} cycles, not every cycle (a dense host's mountinfo is large), and a mount gone meanwhile is skipped`, async () => {
    const rootOnly = MOUNTINFO.split('\n')[0]!
    const withRun = `${rootOnly}\n25 22 0:24 / /run rw,nosuid - tmpfs tmpfs rw,size=804520k`
    await writeFile(join(proc, '1', 'mountinfo'), withRun)
    const collector = new DiskCollector({procRoot: proc, hostRoot: '/', ignoreFs: []}, 'h')
    const paths = (time: bigint) => collector.collect(time).map((p) => p.tags.path)
    expect(paths(0n)).toEqual(['/', '/run'])
    await writeFile(join(proc, '1', 'mountinfo'), `${rootOnly}\n26 22 0:25 / /dev/shm rw - tmpfs shm rw`)
    for (let cycle = 1; cycle < MOUNTS_READ_EVERY; cycle++)
      expect(paths(BigInt(cycle))).toEqual(['/', '/run'])
    expect(paths(BigInt(MOUNTS_READ_EVERY))).toEqual(['/', '/dev/shm'])

    const gone = join(proc, 'gone')
    await mkdir(gone)
    await writeFile(join(proc, '1', 'mountinfo'), `${rootOnly}\n27 22 0:26 / ${gone} rw - tmpfs tmpfs rw`)
    const fresh = new DiskCollector({procRoot: proc, hostRoot: '/', ignoreFs: []}, 'h')
    expect(fresh.collect(0n).map((p) => p.tags.path)).toEqual(['/', gone])
    await rm(gone, {recursive: true})
    expect(fresh.collect(1n).map((p) => p.tags.path)).toEqual(['/'])
  })
})
