import {mkdtemp, rm} from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {createCA, issueCert} from '../../src/core/certs/certs.js'
import type {Point} from '../../agent/src/lineprotocol.js'
import {loadConfig} from '../../agent/src/config.js'
import {Spool} from '../../agent/src/spool.js'
import {
  defaultWriterOptions,
  InfluxWriter,
  MAX_BISECT_REQUESTS,
  retryAfterMs,
  type InfluxTarget,
  type WriterOptions,
} from '../../agent/src/writer.js'

interface Received {
  url: string
  headers: http.IncomingHttpHeaders
  lines: string[]
  at: number
  status?: number
}

/** A local HTTP server standing in for InfluxDB; `answer` decides each response. */
let server: http.Server
let received: Received[]
let answer: (req: Received) => {status: number; body?: string; headers?: Record<string, string>}
let url: string
let dir: string

const options: WriterOptions = {
  ...defaultWriterOptions,
  batchSize: 1000,
  flushMs: 60_000,
  timeoutMs: 2000,
  minBackoffMs: 50,
  maxBackoffMs: 200,
}
const points = (n: number, from = 0): Point[] =>
  Array.from({length: n}, (_, i) => ({
    measurement: 'm',
    tags: {k: 'v'},
    fields: {n: from + i},
    time: BigInt(from + i),
  }))
const until = async (check: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; !check(); await new Promise((r) => setTimeout(r, 20)))
    if (Date.now() > end) throw new Error('timed out waiting')
}
const writer = (target: Partial<InfluxTarget> = {}, spoolBytes = 1 << 20, batchSize = options.batchSize) =>
  new InfluxWriter({url, database: 'db1', ...target}, new Spool(join(dir, 'spool'), spoolBytes), {
    ...options,
    batchSize,
  })
const allLines = () => received.flatMap((r) => (r.status === 204 ? r.lines : []))

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-writer-'))
  received = []
  answer = () => ({status: 204})
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const request: Received = {
        url: req.url!,
        headers: req.headers,
        lines: gunzipSync(Buffer.concat(chunks)).toString().split('\n'),
        at: Date.now(),
      }
      received.push(request)
      const {status, body, headers} = answer(request)
      request.status = status
      res.writeHead(status, headers).end(body)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterEach(async () => {
  await new Promise((r) => server.close(r))
  await rm(dir, {recursive: true, force: true})
})

describe('agent writer', () => {
  it('v1: gzip batches to /write with db, precision and basic auth; onDurable after the 204', async () => {
    const w = writer({username: 'u', password: 'p w'})
    let durable = false
    w.write(points(3), () => (durable = true))
    expect(durable).toBe(false)
    await w.flush()
    expect(durable).toBe(true)
    expect(received).toHaveLength(1)
    expect(received[0]!.url).toBe('/write?db=db1&precision=ns')
    expect(received[0]!.headers['content-encoding']).toBe('gzip')
    expect(received[0]!.headers.authorization).toBe(`Basic ${Buffer.from('u:p w').toString('base64')}`)
    expect(received[0]!.lines).toEqual(['m,k=v n=0i 0', 'm,k=v n=1i 1', 'm,k=v n=2i 2'])
    expect(w.stats).toMatchObject({pointsWritten: 3, pointsSpooled: 0, lastError: ''})
  })

  it('v2: /api/v2/write with org, bucket and a token header', async () => {
    const w = writer({org: 'my org', bucket: 'b/rp', token: 's3cret'})
    w.write(points(1))
    await w.flush()
    expect(received[0]!.url).toBe('/api/v2/write?org=my+org&bucket=b%2Frp&precision=ns')
    expect(received[0]!.headers.authorization).toBe('Token s3cret')
  })

  it('asks readers to wait past the high-water mark and lets them go once sent lines bring it under the low one', async () => {
    // Each point's line is 'm,k=v n=<i>i <i>' (about 15 bytes): 100 points are over 1,000 bytes.
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    const slow = http.createServer((req, res) => {
      req.resume()
      req.on('end', () => void held.then(() => res.writeHead(204).end()))
    })
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r))
    const w = new InfluxWriter(
      {url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}`, database: 'db1'},
      new Spool(join(dir, 's'), 1 << 20),
      {...options, batchSize: 50, highWaterBytes: 1000, lowWaterBytes: 400},
    )
    try {
      w.write(points(10))
      expect(w.backlog()).toBeUndefined()
      w.write(points(100, 10))
      const backlog = w.backlog()
      expect(backlog).toBeInstanceOf(Promise)
      let caughtUp = false
      void backlog!.then(() => (caughtUp = true))
      await new Promise((r) => setTimeout(r, 200))
      expect(caughtUp).toBe(false) // InfluxDB has not answered: every line is still in memory
      expect(w.backlog()).toBe(backlog) // one wait for everyone
      release()
      await w.flush()
      expect(caughtUp).toBe(true)
      expect(w.backlog()).toBeUndefined()
      expect(w.stats.pointsWritten).toBe(110)
    } finally {
      await w.stop()
      slow.close()
    }
  })

  it('splits into batches of batchSize', async () => {
    const w = new InfluxWriter({url, database: 'db1'}, new Spool(join(dir, 's'), 1 << 20), {
      ...options,
      batchSize: 2,
    })
    w.write(points(5))
    await w.flush()
    expect(received.map((r) => r.lines.length)).toEqual([2, 2, 1])
  })

  it('400: finds the refused points by halving the batch, counts exactly those, says why', async () => {
    // Like InfluxDB: the good points of a batch are written, the answer is 400 if any is bad.
    const stored = new Set<string>()
    answer = (r) => {
      for (const line of r.lines) if (!/ n=(1|3)i /.test(line)) stored.add(line)
      return r.lines.some((l) => / n=(1|3)i /.test(l))
        ? {status: 400, body: JSON.stringify({error: 'partial write: field type conflict dropped=0'})}
        : {status: 204}
    }
    const w = writer()
    let durable = false
    w.write(points(5), () => (durable = true))
    await w.flush()
    expect(durable).toBe(true)
    expect(w.stats).toMatchObject({pointsRejected: 2, pointsSpooled: 0, pointsWritten: 3})
    expect([...stored].sort()).toEqual(['m,k=v n=0i 0', 'm,k=v n=2i 2', 'm,k=v n=4i 4'])
    // Depth first: 0-4, 0-2, 0-1, 0, 1, 2, 3-4, 3, 4.
    expect(received.map((r) => r.lines.length)).toEqual([5, 3, 2, 1, 1, 1, 2, 1, 1])
    expect(w.stats.lastError).toMatch(/rejected points as invalid \(400\): partial write/)
  })

  it('400 past the bisection budget: counts what InfluxDB says it dropped', async () => {
    answer = (r) => ({
      status: 400,
      body: JSON.stringify({
        error: `partial write: field type conflict dropped=${Math.floor(r.lines.length / 2)}`,
      }),
    })
    const w = writer({}, 1 << 20, 5000)
    w.write(points(4096))
    await w.flush()
    // The budget stops the descent; each level above still sends its other half once.
    expect(received.length).toBeGreaterThanOrEqual(MAX_BISECT_REQUESTS)
    expect(received.length).toBeLessThanOrEqual(MAX_BISECT_REQUESTS + Math.log2(4096))
    expect(w.stats.pointsRejected + w.stats.pointsWritten).toBe(4096)
    expect(w.stats.pointsRejected).toBeGreaterThan(2000)
  })

  it('a point line protocol cannot carry is counted as invalid and never sent', async () => {
    const w = writer()
    w.write([{measurement: 'm', tags: {k: 'ends in \\'}, fields: {n: 1}, time: 1n}, ...points(1)])
    await w.flush()
    expect(received.flatMap((r) => r.lines)).toEqual(['m,k=v n=0i 0'])
    expect(w.stats).toMatchObject({pointsInvalid: 1, pointsWritten: 1})
  })

  it("a token goes in a Token header on the v1 API too (InfluxDB 3, 2.x's /write)", async () => {
    const w = writer({token: 'tok3n', username: 'ignored'})
    w.write(points(1))
    await w.flush()
    expect(received[0]!.url).toBe('/write?db=db1&precision=ns')
    expect(received[0]!.headers.authorization).toBe('Token tok3n')
  })

  for (const [status, message] of [
    [401, /refused the credentials \(401\)/],
    [403, /refused the credentials \(403\)/],
    [404, /no database "db1" \(404\): database not found/],
  ] as const) {
    it(`${status}: a clear status, points kept in the spool and written once InfluxDB accepts them`, async () => {
      let accept = false
      answer = () =>
        accept
          ? {status: 204}
          : {
              status,
              body: JSON.stringify({
                error: status === 404 ? 'database not found: "db1"' : 'authorization failed',
              }),
            }
      const w = writer()
      w.start()
      let durable = false
      w.write(points(4), () => (durable = true))
      await w.flush()
      expect(durable).toBe(true) // safe in the spool
      expect(w.stats.lastError).toMatch(message)
      expect(w.stats).toMatchObject({pointsSpooled: 4, pointsWritten: 0})
      expect(w.pendingPoints).toBe(4)
      w.write(points(2, 4)) // queues behind the spool
      await w.flush()
      accept = true
      await until(() => w.stats.pointsWritten === 6)
      expect(w.stats.lastError).toBe('')
      expect(w.pendingPoints).toBe(0)
      expect(allLines()).toHaveLength(6)
      await w.stop()
    })
  }

  it('413: halves the batch until InfluxDB takes the parts', async () => {
    answer = (r) =>
      r.lines.length > 2 ? {status: 413, body: '{"error":"Request Entity Too Large"}'} : {status: 204}
    const w = writer()
    w.write(points(7))
    await w.flush()
    expect(w.stats.pointsWritten).toBe(7)
    expect(allLines().sort()).toEqual(
      points(7)
        .map((p) => `m,k=v n=${p.fields.n}i ${p.time}`)
        .sort(),
    )
  })

  it('429/503: waits as long as Retry-After says before trying again', async () => {
    let calls = 0
    answer = () => (++calls === 1 ? {status: 429, headers: {'Retry-After': '1'}} : {status: 204})
    const w = writer()
    w.start()
    w.write(points(2))
    await w.flush()
    expect(w.stats.lastError).toMatch(/busy \(429\)/)
    await until(() => w.stats.pointsWritten === 2)
    expect(received[1]!.at - received[0]!.at).toBeGreaterThanOrEqual(950)
    expect(retryAfterMs('Wed, 01 Dec 2026 08:00:10 GMT', Date.parse('2026-12-01T08:00:00Z'))).toBe(10_000)
    await w.stop()
  })

  it('5xx and an unreachable server: retried with backoff from the spool', async () => {
    let fail = 3
    answer = () => (fail-- > 0 ? {status: 500, body: '{"error":"engine: cache full"}'} : {status: 204})
    const w = writer()
    w.start()
    w.write(points(3))
    await w.flush()
    expect(w.stats.lastError).toBe('InfluxDB answered 500: engine: cache full')
    await until(() => w.stats.pointsWritten === 3)
    expect(received.length).toBe(4)
    await w.stop()

    const gone = new InfluxWriter(
      {url: 'http://127.0.0.1:1', database: 'x'},
      new Spool(join(dir, 'gone'), 1 << 20),
      options,
    )
    gone.write(points(1))
    await gone.flush()
    expect(gone.stats.lastError).toBe('cannot reach InfluxDB at http://127.0.0.1:1: ECONNREFUSED')
    expect(gone.stats.pointsSpooled).toBe(1)
    await gone.stop()
  })

  it('the spool survives a restart and holds at most its cap; what does not fit is counted as dropped', async () => {
    answer = () => ({status: 503})
    const first = writer({}, 400, 20)
    for (let i = 0; i < 6; i++) first.write(points(20, i * 20))
    await first.flush()
    await first.stop()
    const spooled = first.stats.pointsSpooled
    expect(spooled).toBeGreaterThan(0)
    expect(first.stats.pointsDropped).toBe(120 - spooled)
    expect(first.stats.lastError).toMatch(/spool full \(400 bytes\)/)
    answer = () => ({status: 204})
    const second = writer({}, 400, 20)
    expect(second.pendingPoints).toBe(spooled)
    expect(second.lagMs()).toBeGreaterThan(0)
    second.start()
    await until(() => second.stats.pointsWritten === spooled)
    expect(second.lagMs()).toBe(0)
    await second.stop()
  })

  it('https: trusts the CA it is given (and only then)', async () => {
    const ca = await createCA('agent test CA')
    const cert = await issueCert(ca, {kind: 'server', commonName: 'localhost', sans: ['127.0.0.1']})
    const secure = https.createServer({key: cert.keyPem, cert: cert.certPem}, (req, res) => {
      req.resume()
      req.on('end', () => res.writeHead(204).end())
    })
    await new Promise<void>((r) => secure.listen(0, '127.0.0.1', r))
    const secureUrl = `https://127.0.0.1:${(secure.address() as AddressInfo).port}`
    try {
      const trusting = new InfluxWriter(
        {url: secureUrl, database: 'd', ca: ca.certPem},
        new Spool(join(dir, 'a'), 1 << 20),
        options,
      )
      trusting.write(points(1))
      await trusting.flush()
      expect(trusting.stats).toMatchObject({pointsWritten: 1, lastError: ''})
      const doubting = new InfluxWriter(
        {url: secureUrl, database: 'd'},
        new Spool(join(dir, 'b'), 1 << 20),
        options,
      )
      doubting.write(points(1))
      await doubting.flush()
      expect(doubting.stats.pointsWritten).toBe(0)
      expect(doubting.stats.lastError).toMatch(
        /cannot reach InfluxDB at https:.*: (SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)/,
      )
      await doubting.stop()
    } finally {
      await new Promise((r) => secure.close(r))
    }
  })
})

describe('agent TLS settings', () => {
  it('refuses BERTH_AGENT_INSECURE: no setting turns certificate verification off', () => {
    const base = {BERTH_AGENT_INFLUX_URL: 'https://influx:8086', BERTH_AGENT_DATABASE: 'berth'}
    for (const value of ['1', 'true', '0', ''])
      expect(() => loadConfig({...base, BERTH_AGENT_INSECURE: value})).toThrow(
        /^BERTH_AGENT_INSECURE is not supported \(it turned off TLS verification\): trust a private CA with `berth agent install --influx-ca-file`$/,
      )
    expect(loadConfig(base).influx).not.toHaveProperty('insecureSkipVerify')
  })
})
