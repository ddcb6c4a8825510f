/**
 * The agent's line-protocol writer and log-frame parser against the real InfluxDB, with hostile
 * input: random names, tags and fields made of every special character (and unicode, control
 * characters, lone surrogates), random bytes and invalid UTF-8 in log lines, empty and huge lines
 * and frames. Everything the agent writes reads back byte-identical, or is counted: invalid (never
 * sent), rejected (InfluxDB refused it, found point by point) or truncated (a log line past the cap).
 */
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {isDeepStrictEqual} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {formatPoint, type FieldValue, type Point} from '../../agent/src/lineprotocol.js'
import {
  FrameDemuxer,
  LineAssembler,
  PARTIAL_SIZE,
  type LogLine,
  type LogStream,
} from '../../agent/src/logs.js'
import {Spool} from '../../agent/src/spool.js'
import {defaultWriterOptions, InfluxWriter} from '../../agent/src/writer.js'
import {influxQuery, LAB_INFLUX, type InfluxSeries} from '../lab/lab.js'

const db = `agent_fuzz_${process.pid}_${Date.now() % 100000}`
let dir: string

async function influxAdmin(q: string): Promise<void> {
  await fetch(`${LAB_INFLUX}/query?${new URLSearchParams({q})}`, {method: 'POST'})
}

/** A seeded generator, so a failure names the seed that reproduces it. */
function prng(seed: number) {
  let s = seed >>> 0
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
  const int = (n: number) => Math.floor(next() * n)
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!
  return {next, int, pick}
}

const SPECIALS = [
  ',',
  '=',
  ' ',
  '"',
  '\\',
  '\n',
  '\r',
  '\t',
  '#',
  "'",
  '\0',
  '\x7f',
  'é',
  '日本',
  '😀',
  '\ud800',
  '\udc00',
  '_',
  'time',
  '\\ ',
  '\\,',
  '\\=',
]

function writerFor(database: string, spoolDir: string): InfluxWriter {
  return new InfluxWriter({url: LAB_INFLUX, database}, new Spool(spoolDir, 64 << 20), {
    ...defaultWriterOptions,
    batchSize: 200,
    flushMs: 60_000,
    timeoutMs: 10_000,
    minBackoffMs: 100,
    maxBackoffMs: 1000,
  })
}

interface ReadPoint {
  measurement: string
  tags: Record<string, string>
  fields: Record<string, unknown>
}

/** Every point of the database, by its timestamp (each test point has its own). */
async function readAll(database: string): Promise<Map<bigint, ReadPoint>> {
  // Times here are small (1970), so ns epochs stay exact as JSON numbers.
  const response = await fetch(
    `${LAB_INFLUX}/query?${new URLSearchParams({db: database, q: 'SELECT * FROM /.*/ GROUP BY *', epoch: 'ns'})}`,
  )
  const body = (await response.json()) as {results: {series?: InfluxSeries[]; error?: string}[]}
  if (body.results[0]?.error) throw new Error(body.results[0].error)
  const series = body.results[0]?.series ?? []
  const byTime = new Map<bigint, ReadPoint>()
  for (const s of series) {
    for (const row of s.values) {
      const fields: Record<string, unknown> = {}
      s.columns.forEach((column, i) => i > 0 && row[i] !== null && (fields[column] = row[i]))
      const tags = Object.fromEntries(Object.entries(s.tags ?? {}).filter(([, v]) => v !== ''))
      byTime.set(BigInt(row[0] as number), {measurement: s.name, tags, fields})
    }
  }
  return byTime
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-fuzz-'))
})

afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

describe('the agent writer against the real InfluxDB', () => {
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000)
  const database = `${db}_lp`

  beforeAll(() => influxAdmin(`CREATE DATABASE ${database}`))
  afterAll(() => influxAdmin(`DROP DATABASE ${database}`))

  it(`random names, tags and fields read back byte-identical or are counted (seed ${seed})`, async () => {
    const r = prng(seed)
    const text = (max: number) =>
      Array.from({length: 1 + r.int(max)}, () =>
        r.next() < 0.4 ? r.pick(SPECIALS) : String.fromCharCode(0x21 + r.int(94)),
      ).join('')
    // A few measurements shared by many points, and many of their own.
    const measurements = Array.from({length: 12}, () => text(6))
    // Field keys name their type: InfluxDB 1.x can store a batch that gives one field two types and then
    // answers queries with one of them (a conflict across batches is refused: the next test counts those).
    const field = (): [string, FieldValue] =>
      r.pick<() => [string, FieldValue]>([
        () => [`fi${text(6)}`, r.int(2 ** 40) - 2 ** 39],
        () => [`ff${text(6)}`, {float: (r.next() - 0.5) * 1e6}],
        () => [`fb${text(6)}`, r.next() < 0.5],
        () => [`fs${text(6)}`, r.next() < 0.1 ? '' : text(30)],
        () => [`fi${text(6)}`, BigInt(r.int(2 ** 50))],
      ])()
    const points: Point[] = Array.from({length: 600}, (_, i) => ({
      measurement: r.next() < 0.7 ? r.pick(measurements) : text(8),
      // Tag and field keys from separate names: InfluxDB 1.x renames a field shadowed by a tag of another point.
      tags: Object.fromEntries(Array.from({length: r.int(4)}, () => [`t${text(6)}`, text(10)])),
      fields: Object.fromEntries(Array.from({length: 1 + r.int(3)}, field)),
      time: 1_000_000_000n + BigInt(i) * 1000n,
    }))
    const writer = writerFor(database, join(dir, 'spool-lp'))
    writer.write(points)
    await writer.flush()
    const read = await readAll(database)
    const {pointsWritten, pointsRejected, pointsInvalid, pointsSpooled} = writer.stats
    expect(pointsSpooled, writer.stats.lastError).toBe(0)
    expect(read.size).toBe(pointsWritten)
    expect(pointsWritten + pointsRejected + pointsInvalid).toBe(points.length)
    expect(pointsInvalid).toBeGreaterThan(0) // the generator does make unwritable points
    for (const point of points) {
      const back = read.get(point.time)
      if (!back) continue
      const fields = Object.fromEntries(
        Object.entries(point.fields).map(([k, v]) => [
          k,
          typeof v === 'bigint' ? Number(v) : typeof v === 'object' ? v.float : v,
        ]),
      )
      const tags = Object.fromEntries(Object.entries(point.tags).filter(([, v]) => v !== ''))
      const expected = {measurement: point.measurement, tags, fields}
      if (process.env.FUZZ_DEBUG && !isDeepStrictEqual(back, expected))
        console.log(JSON.stringify(formatPoint(point)), JSON.stringify(back))
      expect(back, `point at ${point.time}`).toEqual(expected)
    }
  })

  it('a batch with known bad points: pointsRejected is exactly what InfluxDB refused', async () => {
    const good = (i: number): Point => ({
      measurement: 'exact',
      tags: {k: 'v'},
      fields: {n: i},
      time: 5_000_000_000n + BigInt(i),
    })
    const writer = writerFor(database, join(dir, 'spool-exact'))
    writer.write([good(0)])
    await writer.flush() // n is an integer from here on
    const batch: Point[] = []
    const bad = new Set([3, 17, 18, 60, 99])
    for (let i = 1; i < 100; i++) batch.push(bad.has(i) ? {...good(i), fields: {n: 'a string'}} : good(i))
    // and a field InfluxDB 1.x refuses by its own rule: a boolean where the type is integer
    batch.push({...good(100), fields: {n: true}})
    writer.write(batch)
    await writer.flush()
    const series = await influxQuery(database, `SELECT n FROM "exact"`)
    const stored = series[0]!.values.map((v) => v[1])
    expect(stored).toHaveLength(100 - bad.size)
    expect(writer.stats).toMatchObject({pointsRejected: bad.size + 1, pointsWritten: 101 - bad.size - 1})
  })
})

describe('log frames into InfluxDB', () => {
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000)
  const database = `${db}_logs`
  const CAP = 24 * 1024

  beforeAll(() => influxAdmin(`CREATE DATABASE ${database}`))
  afterAll(() => influxAdmin(`DROP DATABASE ${database}`))

  it(`random bytes, invalid UTF-8, empty and huge lines in random chunks: each line reads back as written, or cut and marked (seed ${seed})`, async () => {
    const r = prng(seed)
    const stamp = (ns: number) =>
      `1970-01-01T00:00:${String(Math.floor(ns / 1e9)).padStart(2, '0')}.${String(ns % 1e9).padStart(9, '0')}Z `
    const lines: {bytes: Buffer; valid: boolean; stream: LogStream; ns: number}[] = []
    for (let i = 0; i < 300; i++) {
      const length = r.pick([
        0,
        1,
        r.int(200),
        PARTIAL_SIZE - 1,
        PARTIAL_SIZE,
        PARTIAL_SIZE + 1,
        2 * PARTIAL_SIZE,
        CAP,
        CAP + 1,
        CAP + r.int(3 * PARTIAL_SIZE),
      ])
      const valid = r.next() < 0.5
      let bytes: Buffer
      if (valid) {
        const chars: string[] = []
        for (let size = 0; size < length;) {
          const c = r.pick(['a', 'é', '日', '😀', '"', '\\', ',', '=', ' ', '\r', '\t', '\0', 'x'])
          chars.push(c)
          size += Buffer.byteLength(c)
        }
        bytes = Buffer.from(chars.join(''))
      } else {
        bytes = Buffer.from(Array.from({length}, () => r.int(256)).map((b) => (b === 0x0a ? 0x0b : b)))
      }
      lines.push({bytes, valid, stream: r.next() < 0.5 ? 'stdout' : 'stderr', ns: 1_000_000_000 + i * 1000})
    }
    // Docker's framing: a line in 16 KiB parts, each its own frame with its own timestamp, the last with the newline.
    const frames: Buffer[] = []
    const frame = (kind: number, payload: Buffer) => {
      const header = Buffer.alloc(8)
      header[0] = kind
      header.writeUInt32BE(payload.length, 4)
      frames.push(header, payload)
    }
    for (const line of lines) {
      for (let at = 0; at === 0 || at < line.bytes.length; at += PARTIAL_SIZE) {
        const last = at + PARTIAL_SIZE >= line.bytes.length
        frame(
          line.stream === 'stdout' ? 1 : 2,
          Buffer.concat([
            Buffer.from(stamp(line.ns + at)),
            line.bytes.subarray(at, at + PARTIAL_SIZE),
            Buffer.from(last ? '\n' : ''),
          ]),
        )
      }
      if (r.next() < 0.05) frame(3, Buffer.from('daemon error frame: not a log line')) // and stdin frames: never lines either
      if (r.next() < 0.05) frame(0, Buffer.from(r.int(1000).toString()))
    }
    const stream = Buffer.concat(frames)
    const got: LogLine[] = []
    const assembler = new LineAssembler((line) => got.push(line), CAP)
    const demuxer = new FrameDemuxer((kind, payload, cut) => assembler.entry(kind, payload, cut))
    for (let at = 0; at < stream.length;) {
      const size = r.pick([1, 7, 8, 9, 100, 4096, 65536, 200_000])
      demuxer.push(stream.subarray(at, at + size))
      at += size
    }
    assembler.end()
    const writer = writerFor(database, join(dir, 'spool-logs'))
    writer.write(
      got.map((line) => ({
        measurement: 'docker_log',
        tags: {stream: line.stream},
        fields: {message: line.message, truncated: line.truncated || undefined},
        time: line.timeNs,
      })),
    )
    await writer.flush()
    expect(writer.stats).toMatchObject({pointsWritten: lines.length, pointsRejected: 0, pointsInvalid: 0})
    const read = await readAll(database)
    expect(read.size).toBe(lines.length)
    let truncated = 0
    for (const line of lines) {
      const back = read.get(BigInt(line.ns))!
      expect(back.tags).toEqual({stream: line.stream})
      const message = back.fields.message as string
      if (line.bytes.length > CAP) {
        truncated++
        expect(back.fields.truncated).toBe(true)
        if (line.valid) {
          // Cut on a character boundary at most 3 bytes before the cap.
          expect(Buffer.byteLength(message)).toBeLessThanOrEqual(CAP)
          expect(Buffer.byteLength(message)).toBeGreaterThan(CAP - 4)
          expect(line.bytes.subarray(0, Buffer.byteLength(message)).equals(Buffer.from(message))).toBe(true)
        } else {
          // The cap counts the container's bytes; each invalid one reads back as U+FFFD.
          expect(message.length).toBeLessThanOrEqual(CAP)
          expect(line.bytes.subarray(0, CAP).toString('utf8').startsWith(message.slice(0, -1))).toBe(true)
        }
      } else {
        expect(back.fields.truncated).toBeUndefined()
        // Valid UTF-8 byte for byte; invalid sequences as U+FFFD, as every UTF-8 store keeps them.
        if (line.valid) expect(Buffer.from(message).equals(line.bytes)).toBe(true)
        else expect(message).toBe(line.bytes.toString('utf8'))
      }
    }
    expect(truncated).toBeGreaterThan(0)
  })
})
