/**
 * The on-disk spool: batches InfluxDB could not take yet, one gzip file each, replayed oldest
 * first. A file is complete once renamed into place (written to a temp name and fsynced first), so a
 * crash leaves whole batches or nothing. The spool holds at most `maxBytes`; a batch beyond that
 * is refused and the caller counts its points as dropped.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs'
import {join} from 'node:path'

export interface SpooledBatch {
  file: string
  points: number
  /** Timestamp (ns) of the batch's oldest point, for the lag. */
  oldestNs: bigint
  bytes: number
}

// <sequence>[-<split>...]_<points>_<oldest ns>.lp.gz: the name carries what the spool needs to know.
const NAME = /^(\d{12}(?:-\d)*)_(\d+)_(\d+)\.lp\.gz$/

export class Spool {
  private batches: SpooledBatch[] = []
  private nextSequence = 0
  private totalBytes = 0

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {
    mkdirSync(dir, {recursive: true, mode: 0o700})
    for (const file of readdirSync(dir)) {
      const match = NAME.exec(file)
      if (!match) {
        if (file.endsWith('.tmp')) rmSync(join(dir, file), {force: true}) // a write the agent did not finish
        continue
      }
      const bytes = statSync(join(dir, file)).size
      this.batches.push({file, points: Number(match[2]), oldestNs: BigInt(match[3]!), bytes})
      this.totalBytes += bytes
      this.nextSequence = Math.max(this.nextSequence, Number(match[1]!.slice(0, 12)) + 1)
    }
    this.batches.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))
  }

  get bytes(): number {
    return this.totalBytes
  }

  get size(): number {
    return this.batches.length
  }

  get points(): number {
    return this.batches.reduce((sum, b) => sum + b.points, 0)
  }

  get oldestNs(): bigint | undefined {
    let oldest: bigint | undefined
    for (const b of this.batches) if (oldest === undefined || b.oldestNs < oldest) oldest = b.oldestNs
    return oldest
  }

  peek(): SpooledBatch | undefined {
    return this.batches[0]
  }

  read(batch: SpooledBatch): Buffer {
    return readFileSync(join(this.dir, batch.file))
  }

  /** Stores a gzip body durably; false when the cap leaves no room for it. */
  append(gzipBody: Buffer, points: number, oldestNs: bigint): boolean {
    if (this.totalBytes + gzipBody.length > this.maxBytes) return false
    const file = `${String(this.nextSequence++).padStart(12, '0')}_${points}_${oldestNs}.lp.gz`
    this.writeDurably(file, gzipBody)
    this.batches.push({file, points, oldestNs, bytes: gzipBody.length})
    this.totalBytes += gzipBody.length
    return true
  }

  remove(batch: SpooledBatch): void {
    rmSync(join(this.dir, batch.file), {force: true})
    this.batches = this.batches.filter((b) => b !== batch)
    this.totalBytes -= batch.bytes
  }

  /** Replaces a batch with what is left of it (parts still to send), keeping its place in the order. */
  split(batch: SpooledBatch, halves: [Buffer, number][]): void {
    const stem = NAME.exec(batch.file)![1]!
    const replacements = halves.map(([body, points], i) => {
      const file = `${stem}-${i}_${points}_${batch.oldestNs}.lp.gz`
      this.writeDurably(file, body)
      return {file, points, oldestNs: batch.oldestNs, bytes: body.length}
    })
    const index = this.batches.indexOf(batch)
    rmSync(join(this.dir, batch.file), {force: true})
    this.batches.splice(index, 1, ...replacements)
    this.totalBytes += replacements.reduce((sum, r) => sum + r.bytes, 0) - batch.bytes
  }

  private writeDurably(file: string, body: Buffer): void {
    const temp = join(this.dir, file + '.tmp')
    const fd = openSync(temp, 'w', 0o600)
    try {
      writeSync(fd, body)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temp, join(this.dir, file))
  }
}
