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
  /** The line was longer than the cap: `message` is its start, the rest was not kept. */
  truncated: boolean
}

/** A checkpoint: the last line written of one stream. */
export interface Checkpoint {
  timeNs: bigint
  /** Lines at exactly `timeNs` already written. */
  count: number
}

/** Docker's size for one log entry; a longer line arrives in parts of this many bytes. */
export const PARTIAL_SIZE = 16 * 1024
/** The longest log line kept whole by default (BERTH_AGENT_MAX_LINE_BYTES); the rest of a longer one is dropped. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024
const TIMESTAMP_BYTES = 31
/** Docker's frames hold one entry of at most 16 KiB plus its timestamp; anything larger is cut to this. */
export const MAX_FRAME_BYTES = PARTIAL_SIZE + 64

/** The first `max` bytes of `text`, ending on a whole UTF-8 character (the cut must not make one up). */
export function utf8Prefix(text: Buffer, max: number): Buffer {
  if (text.length <= max) return text
  let end = max
  // Step back over continuation bytes (10xxxxxx) to the start of the character that was cut.
  while (end > max - 3 && (text[end]! & 0xc0) === 0x80) end--
  return text.subarray(0, end)
}

/**
 * Splits the non-TTY stream into frames: [stream, 0, 0, 0, uint32 BE size] + payload. Memory is
 * bounded whatever the stream says: a frame claiming more than `maxFrame` bytes is handed on cut
 * (`cut` true) and the rest of it skipped as it arrives.
 */
export class FrameDemuxer {
  private pending: Buffer = Buffer.alloc(0)
  /** Bytes of an oversized frame still to skip. */
  private skip = 0

  constructor(
    private readonly onFrame: (stream: LogStream, payload: Buffer, cut: boolean) => void,
    private readonly maxFrame = MAX_FRAME_BYTES,
  ) {}

  /** Bytes held waiting for the rest of a frame (at most 8 + maxFrame). */
  get pendingBytes(): number {
    return this.pending.length
  }

  push(chunk: Buffer): void {
    if (this.skip > 0) {
      const skipped = Math.min(this.skip, chunk.length)
      this.skip -= skipped
      chunk = chunk.subarray(skipped)
    }
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk
    let offset = 0
    while (this.pending.length - offset >= 8) {
      const size = this.pending.readUInt32BE(offset + 4)
      const kept = Math.min(size, this.maxFrame)
      if (this.pending.length - offset - 8 < kept) break
      const kind = this.pending[offset]
      const payload = this.pending.subarray(offset + 8, offset + 8 + kept)
      // 0 is stdin (never in logs), 3 is the daemon's own error for the stream: neither is a log line.
      if (kind === 1) this.onFrame('stdout', payload, kept < size)
      else if (kind === 2) this.onFrame('stderr', payload, kept < size)
      const available = this.pending.length - offset - 8
      if (size > available) {
        this.skip = size - available
        offset = this.pending.length
        break
      }
      offset += 8 + size
    }
    // A copy, so a small remainder does not pin the whole chunk it came in.
    this.pending = offset === 0 ? this.pending : Buffer.from(this.pending.subarray(offset))
  }
}

// RFC3339Nano with nine digits (Docker's RFC3339NanoFixed) and the space after it.
const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) /

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
 *
 * A line is kept up to `maxLine` bytes: once it has that many it is handed on truncated, and the
 * rest of it is skipped until it ends, so a container writing without newlines costs at most
 * `maxLine` bytes (plus Docker's part and timestamp overhead) per stream.
 */
export class LineAssembler {
  private partial = new Map<LogStream, {timeNs: bigint; parts: Buffer[]; bytes: number; truncated: boolean}>()
  private raw: Buffer = Buffer.alloc(0)
  /** TTY: the current line was handed on truncated; bytes up to its newline are skipped. */
  private rawSkipping = false
  private readonly maxRaw: number

  constructor(
    private readonly onLine: (line: LogLine) => void,
    private readonly maxLine = DEFAULT_MAX_LINE_BYTES,
  ) {
    // The raw bytes of a TTY line of maxLine text: its timestamps and a possible \r too.
    this.maxRaw = maxLine + (Math.ceil(maxLine / PARTIAL_SIZE) + 1) * TIMESTAMP_BYTES + 1
  }

  /** One framed entry; `cut`: the frame was larger than any Docker sends, and cut (see FrameDemuxer). */
  entry(stream: LogStream, payload: Buffer, cut = false): void {
    const stamp = parseTimestamp(payload.subarray(0, 40).toString('latin1'))
    if (!stamp) return // not an entry with a timestamp: nothing a checkpoint could track
    const complete = cut || payload[payload.length - 1] === 0x0a
    const text = payload.subarray(stamp.length, complete && !cut ? payload.length - 1 : payload.length)
    const open = this.partial.get(stream) ?? {timeNs: stamp.timeNs, parts: [], bytes: 0, truncated: false}
    if (!open.truncated) {
      open.parts.push(text)
      open.bytes += text.length
      if (open.bytes > this.maxLine || cut) {
        this.onLine({
          stream,
          timeNs: open.timeNs,
          message: utf8Prefix(Buffer.concat(open.parts), this.maxLine).toString('utf8'),
          truncated: true,
        })
        open.parts = []
        open.truncated = true
      }
    }
    if (complete) {
      this.partial.delete(stream)
      if (!open.truncated)
        this.onLine({
          stream,
          timeNs: open.timeNs,
          message: Buffer.concat(open.parts).toString('utf8'),
          truncated: false,
        })
    } else {
      this.partial.set(stream, open)
    }
  }

  /** Raw TTY bytes, in any chunking. */
  tty(chunk: Buffer): void {
    this.raw = this.raw.length ? Buffer.concat([this.raw, chunk]) : chunk
    let start = 0
    for (let nl = this.raw.indexOf(0x0a, start); nl >= 0; nl = this.raw.indexOf(0x0a, start)) {
      if (this.rawSkipping) this.rawSkipping = false
      else this.ttyLine(this.raw.subarray(start, nl))
      start = nl + 1
    }
    if (this.rawSkipping) start = this.raw.length
    else if (this.raw.length - start > this.maxRaw) {
      this.ttyLine(this.raw.subarray(start), true)
      this.rawSkipping = true
      start = this.raw.length
    }
    this.raw = start === 0 ? this.raw : Buffer.from(this.raw.subarray(start))
  }

  /** Bytes held for lines not yet complete. */
  get pendingBytes(): number {
    let bytes = this.raw.length
    for (const open of this.partial.values()) bytes += open.bytes
    return bytes
  }

  /** The stream ended: a line still open is written as it is (Docker ended it too). */
  end(): void {
    for (const [stream, open] of this.partial) {
      if (!open.truncated)
        this.onLine({
          stream,
          timeNs: open.timeNs,
          message: Buffer.concat(open.parts).toString('utf8'),
          truncated: false,
        })
    }
    this.partial.clear()
    if (this.raw.length && !this.rawSkipping) this.ttyLine(this.raw)
    this.raw = Buffer.alloc(0)
    this.rawSkipping = false
  }

  private ttyLine(bytes: Buffer, unfinished = false): void {
    const stamp = parseTimestamp(bytes.subarray(0, 40).toString('latin1'))
    if (!stamp) return
    let text = bytes.subarray(stamp.length)
    const pieces: Buffer[] = []
    // Each 16 KiB part is followed by the next part's "<ts> ".
    while (
      text.length > PARTIAL_SIZE &&
      parseTimestamp(text.subarray(PARTIAL_SIZE, PARTIAL_SIZE + 40).toString('latin1'))
    ) {
      pieces.push(text.subarray(0, PARTIAL_SIZE))
      text = text.subarray(PARTIAL_SIZE + TIMESTAMP_BYTES)
    }
    pieces.push(!unfinished && text[text.length - 1] === 0x0d ? text.subarray(0, text.length - 1) : text)
    const whole = Buffer.concat(pieces)
    const truncated = unfinished || whole.length > this.maxLine
    this.onLine({
      stream: 'tty',
      timeNs: stamp.timeNs,
      message: (truncated ? utf8Prefix(whole, this.maxLine) : whole).toString('utf8'),
      truncated,
    })
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
