/**
 * Container logs: the Engine API's stream format (8-byte frames without a TTY, raw bytes with one),
 * lines Docker split at 16 KiB joined again, and per-stream checkpoints that make a restart resume
 * without loss or duplicates.
 *
 * `/logs?since=T` is inclusive and several lines may share one timestamp, so a checkpoint is the
 * timestamp of the last line written plus how many lines of that stream at exactly that timestamp
 * were written. The k-th line at one timestamp is written at timestamp + k ns, so InfluxDB keeps
 * every twin, and a line sent twice (after a crash between acknowledgement and checkpoint save)
 * lands on the same point instead of a second one.
 */

export type LogStream = 'stdout' | 'stderr' | 'tty'

export interface LogLine {
  stream: LogStream
  /** Docker's timestamp of the line's first part, ns. */
  timeNs: bigint
  message: string
}

/** A checkpoint: the last line written of one stream. */
export interface Checkpoint {
  timeNs: bigint
  /** Lines at exactly `timeNs` already written. */
  count: number
}

/** Docker's size for one log entry; a longer line arrives in parts of this many bytes. */
export const PARTIAL_SIZE = 16 * 1024

/** Splits the non-TTY stream into frames: [stream, 0, 0, 0, uint32 BE size] + payload. */
export class FrameDemuxer {
  private pending: Buffer = Buffer.alloc(0)

  constructor(private readonly onFrame: (stream: LogStream, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk
    let offset = 0
    while (this.pending.length - offset >= 8) {
      const size = this.pending.readUInt32BE(offset + 4)
      if (this.pending.length - offset - 8 < size) break
      const kind = this.pending[offset]
      const payload = this.pending.subarray(offset + 8, offset + 8 + size)
      // 0 is stdin (never in logs), 3 is the daemon's own error for the stream: neither is a log line.
      if (kind === 1) this.onFrame('stdout', payload)
      else if (kind === 2) this.onFrame('stderr', payload)
      offset += 8 + size
    }
    this.pending = this.pending.subarray(offset)
  }
}

// RFC3339Nano with nine digits (Docker's RFC3339NanoFixed) and the space after it.
const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) /
const TIMESTAMP_BYTES = 31

/** Docker's timestamp as ns since the epoch; undefined when `text` does not start with one. */
export function parseTimestamp(text: string): {timeNs: bigint; length: number} | undefined {
  const match = TIMESTAMP.exec(text)
  if (!match) return undefined
  const ms = Date.parse(match[1]! + (match[3] === 'Z' ? 'Z' : match[3]!))
  if (Number.isNaN(ms)) return undefined
  return {timeNs: BigInt(ms) * 1_000_000n + BigInt((match[2] ?? '').padEnd(9, '0')), length: match[0].length}
}

/** `since` for the logs API: seconds.nanoseconds. */
export function sinceParam(timeNs: bigint): string {
  return `${timeNs / 1_000_000_000n}.${String(timeNs % 1_000_000_000n).padStart(9, '0')}`
}

/**
 * Turns log entries into lines. Without a TTY each frame is one entry ("<ts> <text>\n", or
 * "<ts> <16 KiB>" for a part of a longer line). With a TTY the stream is raw: lines end in "\n",
 * and a long line carries the next part's timestamp after every 16 KiB of text.
 */
export class LineAssembler {
  private partial = new Map<LogStream, {timeNs: bigint; parts: Buffer[]}>()
  private raw: Buffer = Buffer.alloc(0)

  constructor(private readonly onLine: (line: LogLine) => void) {}

  /** One framed entry. */
  entry(stream: LogStream, payload: Buffer): void {
    const stamp = parseTimestamp(payload.subarray(0, 40).toString('latin1'))
    if (!stamp) return // not an entry with a timestamp: nothing a checkpoint could track
    const complete = payload[payload.length - 1] === 0x0a
    const text = payload.subarray(stamp.length, complete ? payload.length - 1 : payload.length)
    const open = this.partial.get(stream)
    const pieces = open ? [...open.parts, text] : [text]
    const timeNs = open?.timeNs ?? stamp.timeNs
    if (complete) {
      this.partial.delete(stream)
      this.onLine({stream, timeNs, message: Buffer.concat(pieces).toString('utf8')})
    } else {
      this.partial.set(stream, {timeNs, parts: pieces})
    }
  }

  /** Raw TTY bytes, in any chunking. */
  tty(chunk: Buffer): void {
    this.raw = this.raw.length ? Buffer.concat([this.raw, chunk]) : chunk
    let start = 0
    for (let nl = this.raw.indexOf(0x0a, start); nl >= 0; nl = this.raw.indexOf(0x0a, start)) {
      this.ttyLine(this.raw.subarray(start, nl))
      start = nl + 1
    }
    this.raw = this.raw.subarray(start)
  }

  /** The stream ended: a line still open is written as it is (Docker ended it too). */
  end(): void {
    for (const [stream, open] of this.partial) this.onLine({stream, timeNs: open.timeNs, message: Buffer.concat(open.parts).toString('utf8')})
    this.partial.clear()
    if (this.raw.length) this.ttyLine(this.raw)
    this.raw = Buffer.alloc(0)
  }

  private ttyLine(bytes: Buffer): void {
    const stamp = parseTimestamp(bytes.subarray(0, 40).toString('latin1'))
    if (!stamp) return
    let text = bytes.subarray(stamp.length)
    const pieces: Buffer[] = []
    // Each 16 KiB part is followed by the next part's "<ts> ".
    while (text.length > PARTIAL_SIZE && parseTimestamp(text.subarray(PARTIAL_SIZE, PARTIAL_SIZE + 40).toString('latin1'))) {
      pieces.push(text.subarray(0, PARTIAL_SIZE))
      text = text.subarray(PARTIAL_SIZE + TIMESTAMP_BYTES)
    }
    pieces.push(text[text.length - 1] === 0x0d ? text.subarray(0, text.length - 1) : text)
    this.onLine({stream: 'tty', timeNs: stamp.timeNs, message: Buffer.concat(pieces).toString('utf8')})
  }
}

/**
 * Decides, line by line, what to write after resuming from a checkpoint, and at which
 * timestamp (twins get +k ns). `position()` is the checkpoint to save once the line is safe.
 */
export class ResumeFilter {
  private lastNs: bigint
  private countAtLast: number
  /** Until the first new line, Docker replays lines from the checkpoint's timestamp on. */
  private replaying: boolean
  private toSkip: number

  constructor(private readonly from: Checkpoint | undefined) {
    this.lastNs = from?.timeNs ?? -1n
    this.countAtLast = from?.count ?? 0
    this.toSkip = from?.count ?? 0
    this.replaying = from !== undefined
  }

  /** The point's timestamp for a new line, or undefined for a line written before. */
  accept(timeNs: bigint): bigint | undefined {
    if (this.replaying) {
      if (timeNs < this.from!.timeNs) return undefined
      if (timeNs === this.from!.timeNs && this.toSkip > 0) {
        this.toSkip--
        return undefined
      }
      this.replaying = false
    }
    if (timeNs === this.lastNs) {
      this.countAtLast++
      return timeNs + BigInt(this.countAtLast - 1)
    }
    // A clock stepping back is taken as it is: nothing after the replay is ever skipped.
    this.lastNs = timeNs
    this.countAtLast = 1
    return timeNs
  }

  position(): Checkpoint {
    return {timeNs: this.lastNs, count: this.countAtLast}
  }
}
