/**
 * Formatted lines of line protocol held as bytes, not as strings. At 1,000 containers a cycle makes
 * 8,000 lines (3.8 MB): kept as strings until their batch was sent they outlived V8's young
 * generation, and collecting them then, and joining them into one body, was half the agent's CPU.
 * Written into one buffer as they are made, each line's string dies at once and the body is there.
 */

/** Some lines, each ended by a newline, and where each ends (the offset past its newline). */
export class Lines {
  constructor(
    private readonly bytes: Buffer,
    private readonly ends: readonly number[],
  ) {}

  static readonly none = new Lines(Buffer.alloc(0), [])

  static of(lines: readonly string[]): Lines {
    const builder = new LineBuilder()
    for (const line of lines) builder.push(line)
    return builder.take()
  }

  static concat(parts: readonly Lines[]): Lines {
    if (parts.length === 1) return parts[0]!
    const ends: number[] = []
    let offset = 0
    for (const part of parts) {
      for (const end of part.ends) ends.push(offset + end)
      offset += part.bytes.length
    }
    return new Lines(Buffer.concat(parts.map((p) => p.bytes)), ends)
  }

  get count(): number {
    return this.ends.length
  }

  /** Their size in bytes, newlines included. */
  get size(): number {
    return this.bytes.length
  }

  /** The lines as InfluxDB takes them: separated by newlines, none after the last. */
  body(): Buffer {
    return this.bytes.subarray(0, Math.max(0, this.bytes.length - 1))
  }

  /** Lines `from` up to (not including) `to`, sharing these bytes. */
  slice(from: number, to = this.ends.length): Lines {
    to = Math.min(to, this.ends.length)
    if (from >= to) return Lines.none
    const start = from === 0 ? 0 : this.ends[from - 1]!
    const ends = this.ends.slice(from, to)
    if (start > 0) for (let i = 0; i < ends.length; i++) ends[i]! -= start
    return new Lines(this.bytes.subarray(start, this.ends[to - 1]), ends)
  }
}

/** Appends lines to one growing buffer; `take` hands them over and starts anew. */
export class LineBuilder {
  private bytes: Buffer
  private length = 0
  private ends: number[] = []

  constructor(private readonly initialBytes = 64 * 1024) {
    this.bytes = Buffer.allocUnsafe(initialBytes)
  }

  get count(): number {
    return this.ends.length
  }

  /** Appends a line made of `line` and `rest` (neither with a newline); answers its size in bytes. */
  push(line: string, rest = ''): number {
    // UTF-8 takes at most three bytes for a UTF-16 unit; checked before writing, never truncated.
    const worst = (line.length + rest.length) * 3 + 1
    if (this.length + worst > this.bytes.length) this.grow(this.length + worst)
    const start = this.length
    this.length += this.bytes.write(line, this.length, 'utf8')
    if (rest) this.length += this.bytes.write(rest, this.length, 'utf8')
    this.bytes[this.length++] = 0x0a
    this.ends.push(this.length)
    return this.length - start
  }

  /** Every line appended since the last take. */
  take(): Lines {
    const lines = new Lines(this.bytes.subarray(0, this.length), this.ends)
    if (this.length > 0) this.bytes = Buffer.allocUnsafe(this.initialBytes)
    this.length = 0
    this.ends = []
    return lines
  }

  private grow(needed: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(needed, this.bytes.length * 2))
    this.bytes.copy(bigger, 0, 0, this.length)
    this.bytes = bigger
  }
}
