/**
 * Kernel stat files (cgroupfs, /proc) kept open and re-read from offset 0 each cycle. The kernel
 * regenerates such a file on every read from the start, and skipping open/close (a path walk
 * through cgroupfs each time) makes a cycle over 200 containers' files about 3x cheaper in CPU.
 */
import {closeSync, openSync, readSync} from 'node:fs'

/** A file that does not exist now will not appear in the same cgroup or process later. */
const ABSENT = -1

let buffer = Buffer.allocUnsafe(64 * 1024)

export class OpenFiles {
  private readonly fds = new Map<string, number>()

  /**
   * The file's current content, or undefined when it is absent or its cgroup/process is gone.
   * `oneRecord`: the file is one seq_file record (a cgroup stat file, not /proc/<pid>/net/dev,
   * which comes a page at a time), which the kernel hands over whole to a large enough read, so
   * a short read is its end: no second read to see 0 (half of an idle container's system calls).
   */
  read(path: string, oneRecord = false): string | undefined {
    let fd = this.fds.get(path)
    if (fd === ABSENT) return undefined
    if (fd === undefined) {
      try {
        fd = openSync(path, 'r')
      } catch {
        this.fds.set(path, ABSENT)
        return undefined
      }
      this.fds.set(path, fd)
    }
    try {
      let length = 0
      for (;;) {
        if (length === buffer.length) buffer = Buffer.concat([buffer, Buffer.allocUnsafe(buffer.length)])
        const n = readSync(fd, buffer, length, buffer.length - length, length)
        if (n === 0) break
        length += n
        if (oneRecord && length < buffer.length) break
      }
      return buffer.toString('latin1', 0, length)
    } catch {
      // ENODEV/ESRCH: the cgroup was removed or the process exited under the open file.
      closeSync(fd)
      this.fds.set(path, ABSENT)
      return undefined
    }
  }

  close(): void {
    for (const fd of this.fds.values()) if (fd !== ABSENT) closeSync(fd)
    this.fds.clear()
  }
}
