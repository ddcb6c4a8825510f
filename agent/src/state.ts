/** Small JSON state files (checkpoints, the events position), written atomically and fsynced. */
import {closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync} from 'node:fs'

export function readState<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T
  } catch {
    return undefined // first start, or a file from a crash before the first save
  }
}

export function writeState(path: string, value: unknown): void {
  const temp = `${path}.tmp`
  const fd = openSync(temp, 'w', 0o600)
  try {
    writeSync(fd, JSON.stringify(value))
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(temp, path)
}

/** Saves at most once per `intervalMs`, and on `flush()`; `get` gives the value to save. */
export class DebouncedSaver {
  private timer: NodeJS.Timeout | undefined
  private dirty = false

  constructor(
    private readonly path: string,
    private readonly get: () => unknown,
    private readonly intervalMs = 1000,
  ) {}

  touch(): void {
    this.dirty = true
    if (this.timer) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.flush()
    }, this.intervalMs)
    this.timer.unref()
  }

  flush(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (!this.dirty) return
    this.dirty = false
    writeState(this.path, this.get())
  }
}
