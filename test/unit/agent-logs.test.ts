import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {CheckpointStore, resumeSince} from '../../agent/src/logcollector.js'
import {
  FrameDemuxer,
  LineAssembler,
  MAX_FRAME_BYTES,
  PARTIAL_SIZE,
  parseTimestamp,
  ResumeFilter,
  sinceParam,
  type LogLine,
  type LogStream,
} from '../../agent/src/logs.js'

const TS1 = '2026-12-01T08:00:00.000000001Z'
const TS2 = '2026-12-01T08:00:00.000000002Z'
const TS3 = '2026-12-01T08:00:01.500000000Z'
const NS1 = 1_796_112_000_000_000_001n

function frame(stream: 1 | 2, payload: string | Buffer): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload)
  const header = Buffer.alloc(8)
  header[0] = stream
  header.writeUInt32BE(body.length, 4)
  return Buffer.concat([header, body])
}

function collect(): {lines: LogLine[]; assembler: LineAssembler; demuxer: FrameDemuxer} {
  const lines: LogLine[] = []
  const assembler = new LineAssembler((l) => lines.push(l))
  const demuxer = new FrameDemuxer((stream: LogStream, payload) => assembler.entry(stream, payload))
  return {lines, assembler, demuxer}
}

describe('agent log stream parsing', () => {
  it('parses Docker timestamps to ns and back to a since parameter', () => {
    expect(parseTimestamp(`${TS1} x`)).toEqual({timeNs: NS1, length: 31})
    expect(parseTimestamp('2026-12-01T08:00:01.5Z x')?.timeNs).toBe(1_796_112_001_500_000_000n)
    expect(parseTimestamp('no timestamp')).toBeUndefined()
    expect(sinceParam(NS1)).toBe('1796112000.000000001')
  })

  it('demuxes stdout and stderr frames, whatever the chunking', () => {
    const {lines, demuxer} = collect()
    const bytes = Buffer.concat([
      frame(1, `${TS1} out one\n`),
      frame(2, `${TS2} err one\n`),
      frame(1, `${TS3} out two\n`),
    ])
    for (let i = 0; i < bytes.length; i += 3) demuxer.push(bytes.subarray(i, i + 3)) // frames and headers split anywhere
    expect(lines.map((l) => [l.stream, l.message])).toEqual([
      ['stdout', 'out one'],
      ['stderr', 'err one'],
      ['stdout', 'out two'],
    ])
    expect(lines[0]!.timeNs).toBe(NS1)
  })

  it("joins a line Docker split at 16 KiB, at the first part's timestamp, even with the other stream in between", () => {
    const {lines, demuxer} = collect()
    const long = 'a'.repeat(PARTIAL_SIZE) + 'b'.repeat(PARTIAL_SIZE) + 'tail'
    demuxer.push(frame(1, `${TS1} ${long.slice(0, PARTIAL_SIZE)}`))
    demuxer.push(frame(2, `${TS2} interleaved\n`))
    demuxer.push(frame(1, `${TS2} ${long.slice(PARTIAL_SIZE, 2 * PARTIAL_SIZE)}`))
    demuxer.push(frame(1, `${TS3} ${long.slice(2 * PARTIAL_SIZE)}\n`))
    expect(lines.map((l) => l.message.length)).toEqual([11, long.length])
    expect(lines[1]).toEqual({stream: 'stdout', timeNs: NS1, message: long, truncated: false})
  })

  it('keeps multibyte characters cut by the 16 KiB split intact', () => {
    const {lines, demuxer} = collect()
    const text = Buffer.from('x'.repeat(PARTIAL_SIZE - 1) + 'é!')
    demuxer.push(frame(1, Buffer.concat([Buffer.from(`${TS1} `), text.subarray(0, PARTIAL_SIZE)])))
    demuxer.push(
      frame(1, Buffer.concat([Buffer.from(`${TS2} `), text.subarray(PARTIAL_SIZE), Buffer.from('\n')])),
    )
    expect(lines[0]!.message.endsWith('é!')).toBe(true)
  })

  it("reads a TTY stream: raw lines, CRLF, split lines carrying the next part's timestamp", () => {
    const {lines, assembler} = collect()
    const long = 'c'.repeat(PARTIAL_SIZE) + 'd'.repeat(10)
    const raw = Buffer.from(
      `${TS1} first\r\n${TS2} ${long.slice(0, PARTIAL_SIZE)}${TS3} ${long.slice(PARTIAL_SIZE)}\r\n${TS3} last\r\n`,
    )
    for (let i = 0; i < raw.length; i += 1000) assembler.tty(raw.subarray(i, i + 1000))
    expect(lines.map((l) => [l.stream, l.message])).toEqual([
      ['tty', 'first'],
      ['tty', long],
      ['tty', 'last'],
    ])
  })

  it('ends an open line when the stream ends (the container stopped mid-line)', () => {
    const {lines, assembler, demuxer} = collect()
    demuxer.push(frame(1, `${TS1} no newline`))
    expect(lines).toHaveLength(0)
    assembler.end()
    expect(lines.map((l) => l.message)).toEqual(['no newline'])
  })
})

describe('agent log lines under hostile output', () => {
  const CAP = 40 * 1024
  function capped() {
    const lines: LogLine[] = []
    const assembler = new LineAssembler((l) => lines.push(l), CAP)
    const demuxer = new FrameDemuxer((stream: LogStream, payload, cut) =>
      assembler.entry(stream, payload, cut),
    )
    return {lines, assembler, demuxer}
  }

  it('cuts a line past the cap at once, skips its rest until it ends, and holds no more than the cap meanwhile', () => {
    const {lines, assembler, demuxer} = capped()
    // 10 MiB without a newline, in Docker's 16 KiB parts, then the next line.
    const part = 'z'.repeat(PARTIAL_SIZE)
    for (let i = 0; i < 640; i++) {
      demuxer.push(frame(1, `${i === 0 ? TS1 : TS2} ${part}`))
      expect(assembler.pendingBytes).toBeLessThanOrEqual(CAP + PARTIAL_SIZE)
    }
    demuxer.push(frame(1, `${TS2} end of the long one\n`))
    demuxer.push(frame(1, `${TS3} next\n`))
    expect(lines.map((l) => [l.message.length, l.truncated, l.timeNs])).toEqual([
      [CAP, true, NS1],
      [4, false, 1_796_112_001_500_000_000n],
    ])
    expect(assembler.pendingBytes).toBe(0)
  })

  it('never cuts a UTF-8 character in two', () => {
    const {lines, demuxer} = capped()
    const text = 'x'.repeat(CAP - 1) + 'é'.repeat(PARTIAL_SIZE) // the cap falls inside the first é
    const bytes = Buffer.from(text)
    for (let at = 0, first = true; at < bytes.length; at += PARTIAL_SIZE, first = false) {
      const end = Math.min(at + PARTIAL_SIZE, bytes.length)
      demuxer.push(
        frame(
          1,
          Buffer.concat([
            Buffer.from(`${first ? TS1 : TS2} `),
            bytes.subarray(at, end),
            Buffer.from(end === bytes.length ? '\n' : ''),
          ]),
        ),
      )
    }
    expect(lines).toHaveLength(1)
    expect(lines[0]!.message).toBe('x'.repeat(CAP - 1))
    expect(lines[0]!.truncated).toBe(true)
  })

  it('a frame claiming 4 GiB is cut and skipped as it arrives: the next frame is read normally', () => {
    const {lines, demuxer} = capped()
    const header = Buffer.alloc(8)
    header[0] = 1
    header.writeUInt32BE(0xffffffff, 4)
    demuxer.push(Buffer.concat([header, Buffer.from(`${TS1} `)]))
    const junk = Buffer.alloc(1 << 20, 0x41)
    let sent = 31
    for (; sent + junk.length <= 0xffffffff; sent += junk.length) demuxer.push(junk)
    expect(demuxer.pendingBytes).toBe(0)
    demuxer.push(Buffer.concat([junk.subarray(0, 0xffffffff - sent), frame(2, `${TS2} after\n`)]))
    expect(lines.map((l) => [l.stream, l.message.length, l.truncated])).toEqual([
      ['stdout', MAX_FRAME_BYTES - 31, true],
      ['stderr', 5, false],
    ])
  }, 60_000)

  it('a TTY stream without newlines: one truncated line, the rest skipped up to the next newline', () => {
    const {lines, assembler} = capped()
    assembler.tty(Buffer.from(`${TS1} `))
    const chunk = Buffer.alloc(64 * 1024, 0x79)
    for (let i = 0; i < 160; i++) {
      assembler.tty(chunk)
      expect(assembler.pendingBytes).toBeLessThanOrEqual(2 * CAP + chunk.length)
    }
    assembler.tty(Buffer.from(`tail\r\n${TS3} next\r\n`))
    expect(lines.map((l) => [l.message.length, l.truncated])).toEqual([
      [CAP, true],
      [4, false],
    ])
  })

  it('random bytes in any chunking never throw and stay bounded', () => {
    let seed = 7
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
    for (let round = 0; round < 50; round++) {
      const {assembler, demuxer} = capped()
      for (let i = 0; i < 200; i++) {
        const bytes = Buffer.from(
          Array.from({length: Math.floor(random() * 4000)}, () => Math.floor(random() * 256)),
        )
        if (round % 2) assembler.tty(bytes)
        else demuxer.push(bytes)
        expect(demuxer.pendingBytes + assembler.pendingBytes).toBeLessThanOrEqual(
          8 + MAX_FRAME_BYTES + 2 * CAP + 4000,
        )
      }
      assembler.end()
    }
  })
})

describe('agent log checkpoints', () => {
  it("writes twins at +k ns and resumes after exactly the lines written at the checkpoint's timestamp", () => {
    const first = new ResumeFilter(undefined)
    expect([first.accept(10n), first.accept(20n), first.accept(20n)]).toEqual([10n, 20n, 21n])
    const saved = first.position()
    expect(saved).toEqual({timeNs: 20n, count: 2})
    // Docker replays from 20 inclusive: the two twins already written, a third twin, then newer lines.
    const resumed = new ResumeFilter(saved)
    expect([resumed.accept(20n), resumed.accept(20n), resumed.accept(20n), resumed.accept(30n)]).toEqual([
      undefined,
      undefined,
      22n,
      30n,
    ])
  })

  it('skips lines older than the checkpoint during the replay only', () => {
    const resumed = new ResumeFilter({timeNs: 50n, count: 1})
    expect([resumed.accept(40n), resumed.accept(50n), resumed.accept(60n), resumed.accept(55n)]).toEqual([
      undefined,
      undefined,
      60n,
      55n,
    ])
  })

  it('resumes a container from its earliest stream', () => {
    expect(
      resumeSince([
        {timeNs: 30n, count: 1},
        {timeNs: 20n, count: 4},
      ]),
    ).toBe(20n)
    expect(resumeSince([undefined, undefined])).toBeUndefined()
  })

  describe('the checkpoint file', () => {
    let dir: string
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'agent-cp-'))
    })
    afterEach(async () => {
      await rm(dir, {recursive: true, force: true})
    })

    it('survives a restart, never moves back, and forgets removed containers', async () => {
      const path = join(dir, 'cp.json')
      const store = new CheckpointStore(path)
      store.set('abc', 'stdout', {timeNs: 100n, count: 2})
      store.set('abc', 'stdout', {timeNs: 100n, count: 1}) // a late callback
      store.set('abc', 'stderr', {timeNs: 90n, count: 1})
      store.set('gone', 'tty', {timeNs: 1n, count: 1})
      store.delete('gone')
      store.flush()
      expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({
        abc: {stdout: {timeNs: '100', count: 2}, stderr: {timeNs: '90', count: 1}},
      })
      const reopened = new CheckpointStore(path)
      expect(reopened.get('abc', 'stdout')).toEqual({timeNs: 100n, count: 2})
      expect(reopened.get('gone', 'tty')).toBeUndefined()
    })
  })
})
