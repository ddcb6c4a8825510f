/**
 * Host filesystem usage as Telegraf's `disk` measurement: the host's mounts from PID 1's mountinfo
 * (the agent shares the host's PID namespace), each measured with statfs under the read-only bind of
 * the host's root. Nothing is read from the filesystems themselves: statfs needs only the path.
 */
import {existsSync, readFileSync, statfsSync} from 'node:fs'
import {basename, join} from 'node:path'
import {point, type Point} from './lineprotocol.js'
import {HOST_DISK} from './schema.js'

/** Telegraf's `inputs.disk` default ignore_fs: memory, image and overlay filesystems. */
export const DEFAULT_IGNORE_FS = ['tmpfs', 'devtmpfs', 'devfs', 'iso9660', 'overlay', 'aufs', 'squashfs']

export interface Mount {
  /** major:minor of the filesystem: bind mounts of one filesystem share it. */
  device: string
  /** The directory of the filesystem this mount shows (`/` for the whole of it, deeper for a bind). */
  root: string
  mountPoint: string
  fsType: string
  source: string
  readOnly: boolean
}

/** Mount points escape space, tab, newline and backslash as octal (\040 ...). */
const unescape = (s: string) =>
  s.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)))

/** /proc/<pid>/mountinfo: `id parent major:minor root mountpoint options [optional...] - fstype source superoptions`. */
export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = []
  for (const line of text.split('\n')) {
    const fields = line.split(' ')
    const separator = fields.indexOf('-', 6)
    if (fields.length < 7 || separator < 0 || fields.length < separator + 3) continue
    mounts.push({
      device: fields[2]!,
      root: unescape(fields[3]!),
      mountPoint: unescape(fields[4]!),
      fsType: fields[separator + 1]!,
      source: unescape(fields[separator + 2]!),
      readOnly: fields[5]!.split(',').includes('ro'),
    })
  }
  return mounts
}

/**
 * One mount per filesystem, without the ignored types: the one showing most of it (the shortest
 * root, so `/` over a bind of a subdirectory or a file); of mounts stacked on one path only the top
 * one, the one statfs sees.
 */
export function reportableMounts(mounts: Mount[], ignoreFs: readonly string[]): Mount[] {
  const visible = new Map<string, Mount>()
  for (const mount of mounts) visible.set(mount.mountPoint, mount)
  const chosen = new Map<string, Mount>()
  for (const mount of mounts) {
    if (visible.get(mount.mountPoint) !== mount || ignoreFs.includes(mount.fsType)) continue
    const current = chosen.get(mount.device)
    if (!current || mount.root.length < current.root.length) chosen.set(mount.device, mount)
  }
  return [...chosen.values()]
}

export interface DiskPaths {
  procRoot: string
  /** The host's `/`, bound read-only into the agent's container; absent: no disk points. */
  hostRoot: string
  ignoreFs: readonly string[]
}

/**
 * PID 1's mountinfo lists every container's mounts too: at 1,000 containers it is 620 KB and
 * costs the kernel 20 ms of CPU a read, a tenth of the agent's budget. The host's filesystems
 * change rarely, so it is read every this many cycles (a minute at the default 10 s); a mount
 * gone before then fails its statfs and is skipped.
 */
export const MOUNTS_READ_EVERY = 6

export class DiskCollector {
  private mounts: Mount[] | undefined
  private cyclesSinceRead = 0

  constructor(
    private readonly paths: DiskPaths,
    private readonly host: string,
  ) {}

  /** Whether the host's root is there to measure (agents installed before the bind existed have none). */
  get enabled(): boolean {
    return existsSync(this.paths.hostRoot)
  }

  collect(time: bigint): Point[] {
    if (!this.enabled) return []
    if (!this.mounts || ++this.cyclesSinceRead >= MOUNTS_READ_EVERY) {
      const text = readFileSync(join(this.paths.procRoot, '1', 'mountinfo'), 'utf8')
      this.mounts = reportableMounts(parseMountinfo(text), this.paths.ignoreFs)
      this.cyclesSinceRead = 0
    }
    const points: Point[] = []
    for (const mount of this.mounts) {
      let stat: ReturnType<typeof statfsSync>
      try {
        stat = statfsSync(join(this.paths.hostRoot, mount.mountPoint))
      } catch {
        continue // unmounted since, or not reachable through the bind
      }
      const total = stat.blocks * stat.bsize
      if (total <= 0) continue // pseudo filesystems (proc, sysfs, cgroup) have no blocks
      const free = stat.bavail * stat.bsize
      const used = (stat.blocks - stat.bfree) * stat.bsize
      const inodesUsed = stat.files - stat.ffree
      points.push(
        point(
          HOST_DISK,
          {
            host: this.host,
            path: mount.mountPoint,
            device: basename(mount.source),
            fstype: mount.fsType,
            mode: mount.readOnly ? 'ro' : 'rw',
          },
          {
            total,
            free,
            used,
            // As df and Telegraf: of the space an unprivileged user can fill (blocks reserved for root left out).
            used_percent: {float: used + free > 0 ? (used / (used + free)) * 100 : 0},
            inodes_total: stat.files,
            inodes_free: stat.ffree,
            inodes_used: inodesUsed,
            inodes_used_percent: {float: stat.files > 0 ? (inodesUsed / stat.files) * 100 : 0},
          },
          time,
        ),
      )
    }
    return points
  }
}
