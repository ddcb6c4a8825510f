/**
 * The log collector end to end on this machine: the real DockerClient and ContainerRegistry talk to
 * an engine stand-in on a unix socket (the engine's own framing of /logs), and the points go to a
 * MemorySink. Checkpoints move only once the sink says the points are safe, and a restarted
 * collector resumes from them without writing a line twice.
 */
import {mkdtemp, rm} from 'node:fs/promises'
import http from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'
import {ContainerRegistry, toInfo} from '../../agent/src/containers.js'
import {DockerClient, type ContainerDetails} from '../../agent/src/docker.js'
import {CheckpointStore, LogCollector} from '../../agent/src/logcollector.js'
import {MemorySink} from './memory-sink.js'

const ID = 'c0ffee'.padEnd(64, '0')
const TS1 = '2026-12-01T08:00:00.000000001Z'
const TS2 = '2026-12-01T08:00:00.000000002Z'
const NS1 = 1_796_112_000_000_000_001n
const NS2 = NS1 + 1n

const DETAILS: ContainerDetails = {
  Id: ID,
  Name: '/web',
  RestartCount: 0,
  Config: {Image: 'busybox:1.36', Tty: false, Labels: null},
  HostConfig: {NetworkMode: 'bridge'},
  State: {
    Status: 'exited',
    Running: false,
    Pid: 0,
    ExitCode: 0,
    OOMKilled: false,
    StartedAt: '2026-12-01T07:59:59Z',
    FinishedAt: '2026-12-01T08:00:01Z',
  },
}

function frame(stream: 1 | 2, text: string): Buffer {
  const body = Buffer.from(text)
  const header = Buffer.alloc(8)
  header[0] = stream
  header.writeUInt32BE(body.length, 4)
  return Buffer.concat([header, body])
}

/** Two stdout lines sharing one timestamp, then a stderr line: what the stopped container logged. */
const LOGS = Buffer.concat([frame(1, `${TS1} one\n`), frame(1, `${TS1} twin\n`), frame(2, `${TS2} oops\n`)])

let dir: string
/** Stores the tests used: their debounced saves are flushed before the folder goes (else they fire into a removed folder). */
let stores: CheckpointStore[] = []
let engine: http.Server
let logRequests: string[]
let inspections: number
let docker: DockerClient

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-logcollector-'))
  logRequests = []
  inspections = 0
  engine = http.createServer((req, res) => {
    if (req.url === `/containers/${ID}/json`) {
      inspections++
      return void res.writeHead(200, {'Content-Type': 'application/json'}).end(JSON.stringify(DETAILS))
    }
    if (req.url?.startsWith(`/containers/${ID}/logs?`)) {
      logRequests.push(req.url)
      // A stopped container's log is all there at once; Docker sends it and ends the response.
      return void res.writeHead(200, {'Content-Type': 'application/vnd.docker.multiplexed-stream'}).end(LOGS)
    }
    res.writeHead(404).end('{"message":"not found"}')
  })
  const socket = join(dir, 'docker.sock')
  await new Promise<void>((resolve) => engine.listen(socket, resolve))
  docker = new DockerClient(socket)
})

afterEach(async () => {
  for (const store of stores) store.flush()
  stores = []
  docker.close()
  engine.closeAllConnections() // a follow stream a failed test left open
  await new Promise((resolve) => engine.close(resolve))
  await rm(dir, {recursive: true, force: true})
})

/** Reads the stopped container's log once, to its end, into `sink`. */
async function readOnce(
  sink: MemorySink,
  checkpoints: CheckpointStore,
  expectedRequests: number,
): Promise<LogCollector> {
  stores.push(checkpoints)
  const collector = new LogCollector(docker, sink, new ContainerRegistry(docker), checkpoints, 'h1')
  collector.sync([toInfo(DETAILS)])
  // Once the stream ended the collector asks for the container's state; the answer (stopped) ends its work on it.
  await vi.waitFor(() =>
    expect([logRequests.length, inspections]).toEqual([expectedRequests, expectedRequests]),
  )
  await new Promise((resolve) => setTimeout(resolve, 50))
  return collector
}

describe('agent log collector', () => {
  it('writes each line as docker_log, twins at +1 ns, and checkpoints only what the sink acknowledged', async () => {
    const path = join(dir, 'log-checkpoints.json')
    const sink = new MemorySink({ackAtOnce: false})
    const checkpoints = new CheckpointStore(path)
    await readOnce(sink, checkpoints, 1)
    expect(sink.points.map((p) => [p.measurement, p.tags.stream, p.fields.message, p.time])).toEqual([
      ['docker_log', 'stdout', 'one', NS1],
      ['docker_log', 'stdout', 'twin', NS1 + 1n],
      ['docker_log', 'stderr', 'oops', NS2],
    ])
    expect(sink.points[0]!.tags).toMatchObject({
      host: 'h1',
      container_name: 'web',
      container_image: 'busybox',
      container_version: '1.36',
    })
    expect([checkpoints.get(ID, 'stdout'), checkpoints.get(ID, 'stderr')]).toEqual([undefined, undefined])

    sink.acknowledge()
    expect([checkpoints.get(ID, 'stdout'), checkpoints.get(ID, 'stderr')]).toEqual([
      {timeNs: NS1, count: 2},
      {timeNs: NS2, count: 1},
    ])
  })

  it('after a restart resumes from the saved checkpoints: the engine replays from `since`, nothing is written twice', async () => {
    const path = join(dir, 'log-checkpoints.json')
    const first = new CheckpointStore(path)
    await readOnce(new MemorySink(), first, 1)
    first.flush()

    const again = new MemorySink()
    await readOnce(again, new CheckpointStore(path), 2)
    expect(logRequests[0]).not.toContain('since=')
    expect(logRequests[1]).toContain('since=1796112000.000000001')
    expect(again.points).toEqual([])
  })

  it('an agent stopped before the sink acknowledged writes the lines again after its restart', async () => {
    const path = join(dir, 'log-checkpoints.json')
    const first = new CheckpointStore(path)
    await readOnce(new MemorySink({ackAtOnce: false}), first, 1)
    first.flush()

    const again = new MemorySink()
    await readOnce(again, new CheckpointStore(path), 2)
    expect(again.points.map((p) => p.fields.message)).toEqual(['one', 'twin', 'oops'])
  })

  it('stops reading a stream while the sink is behind, so the backlog stays in the engine, and reads on once it caught up', async () => {
    const LIVE = 'feed'.padEnd(64, '0')
    const LINES = 2000
    let framesSent = 0
    engine.removeAllListeners('request')
    engine.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (req.url === `/containers/${LIVE}/json`)
        return void res.writeHead(200, {'Content-Type': 'application/json'}).end(
          JSON.stringify({
            ...DETAILS,
            Id: LIVE,
            State: {...DETAILS.State, Status: 'running', Running: true},
          }),
        )
      if (!req.url?.startsWith(`/containers/${LIVE}/logs?follow=1`)) return void res.writeHead(200).end()
      res.writeHead(200, {'Content-Type': 'application/vnd.docker.multiplexed-stream'})
      // A chatty container: 2,000 lines of 1 KB, written as fast as the reader takes them.
      const more = () => {
        while (framesSent < LINES) {
          const ns = String(framesSent).padStart(9, '0')
          if (!res.write(frame(1, `2026-12-01T08:00:00.${ns}Z ${'x'.repeat(1000)}\n`))) {
            framesSent++
            return void res.once('drain', more)
          }
          framesSent++
        }
      }
      more()
    })
    let caughtUp!: () => void
    let behind: Promise<void> | undefined = new Promise<void>((resolve) => (caughtUp = resolve))
    const sink = new (class extends MemorySink {
      backlog = () => behind
    })()
    const checkpoints = new CheckpointStore(join(dir, 'cp.json'))
    stores.push(checkpoints)
    const collector = new LogCollector(docker, sink, new ContainerRegistry(docker), checkpoints, 'h1')
    collector.sync([
      toInfo({...DETAILS, Id: LIVE, State: {...DETAILS.State, Status: 'running', Running: true}}),
    ])
    try {
      await vi.waitFor(() => expect(collector.streamsPaused).toBe(1))
      await new Promise((resolve) => setTimeout(resolve, 300))
      const whilePaused = sink.points.length
      // Paused: nothing more is read, and the engine could not send it all (the socket's buffers are full).
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(sink.points.length).toBe(whilePaused)
      expect(framesSent).toBeLessThan(LINES)
      behind = undefined
      caughtUp()
      await vi.waitFor(() => expect(sink.points.length).toBe(LINES), {timeout: 10_000})
      expect(collector.streamsPaused).toBe(0)
    } finally {
      collector.stop()
    }
  })
})
