/**
 * Docker system events into `berth_event`. The position (last event's timeNano and which events
 * at that instant were written) is saved once the points are safe, and a reconnect resumes with
 * `since`. The daemon only replays its last 256 events, so after every reconnect the container
 * list is compared with the states the events left: a difference is written as a `resync` point.
 */
import type {ContainerSummary, DockerClient, StreamHandle} from './docker.js'
import {point, type Point} from './lineprotocol.js'
import {sinceParam} from './logs.js'
import {BERTH_EVENT} from './schema.js'
import type {PointSink} from './sink.js'
import {DebouncedSaver, readState} from './state.js'

export interface DockerEvent {
  Type: string
  Action: string
  Actor?: {ID?: string; Attributes?: Record<string, string>}
  scope?: string
  time?: number
  timeNano?: number | string
}

interface EventsState {
  /** ns, as a string (JSON has no bigint). */
  lastNs: string
  keysAtLast: string[]
  /** Container states the events (or the last resync) left, by id. */
  states: Record<string, {state: string; name: string; image: string}>
}

/** A container's state after an event, when the event changes it. */
const STATE_AFTER: Record<string, string> = {
  create: 'created',
  start: 'running',
  restart: 'running',
  unpause: 'running',
  pause: 'paused',
  die: 'exited',
  destroy: 'removed',
}

export function eventKey(event: DockerEvent): string {
  return `${event.Type}|${event.Action}|${event.Actor?.ID ?? ''}`
}

export function eventTimeNs(event: DockerEvent): bigint {
  if (event.timeNano !== undefined) return BigInt(event.timeNano)
  return BigInt(event.time ?? 0) * 1_000_000_000n
}

export function eventPoint(event: DockerEvent, host: string, time: bigint): Point {
  const attributes = event.Actor?.Attributes ?? {}
  const colon = event.Action.indexOf(':')
  const action = colon >= 0 ? event.Action.slice(0, colon) : event.Action
  const detail = colon >= 0 ? event.Action.slice(colon + 1).trim() : undefined
  const exitCode =
    attributes.exitCode !== undefined && /^-?\d+$/.test(attributes.exitCode)
      ? Number(attributes.exitCode)
      : undefined
  return point(
    BERTH_EVENT,
    {
      host,
      type: event.Type,
      action,
      actor: attributes.name ?? event.Actor?.ID?.slice(0, 12),
      image: event.Type === 'container' ? attributes.image : undefined,
    },
    {
      actor_id: event.Actor?.ID ?? '',
      detail,
      exit_code: exitCode,
      signal: attributes.signal,
      attributes: JSON.stringify(attributes),
      resync: false,
    },
    time,
  )
}

export interface EventListener {
  onContainerEvent(id: string, action: string): void
}

export class EventsCollector {
  private state: EventsState
  /** Position of what is written and safe; `state` runs ahead of it while points are in flight. */
  private durable: EventsState
  private readonly saver: DebouncedSaver
  private stream: StreamHandle | undefined
  private stopped = false
  private pending = ''
  connected = false
  /** Counts the connections made: a new one may have missed events, so the container list is read again. */
  connections = 0
  lastError = ''

  constructor(
    private readonly docker: DockerClient,
    private readonly sink: PointSink,
    private readonly host: string,
    statePath: string,
    private readonly listener: EventListener,
  ) {
    this.state = readState<EventsState>(statePath) ?? {lastNs: '', keysAtLast: [], states: {}}
    this.durable = structuredClone(this.state)
    this.saver = new DebouncedSaver(statePath, () => this.durable)
  }

  async run(): Promise<void> {
    let delayMs = 500
    while (!this.stopped) {
      try {
        await this.connectOnce()
        delayMs = 500
      } catch (err) {
        this.lastError = `events: ${(err as Error).message}`
      }
      this.connected = false
      if (this.stopped) break
      await new Promise((r) => setTimeout(r, delayMs))
      delayMs = Math.min(10_000, delayMs * 2)
    }
  }

  stop(): void {
    this.stopped = true
    this.stream?.close()
    this.saver.flush()
  }

  flush(): void {
    this.saver.flush()
  }

  private async connectOnce(): Promise<void> {
    // Replay what was missed up to now (the call ends by itself), compare with the list, then follow.
    const untilNs = BigInt(Date.now()) * 1_000_000n
    if (this.state.lastNs) {
      const replay = await this.docker.raw(
        `/events?since=${sinceParam(BigInt(this.state.lastNs))}&until=${sinceParam(untilNs)}`,
      )
      this.consume(replay.toString('utf8') + '\n')
    }
    await this.resync()
    const since =
      this.state.lastNs && BigInt(this.state.lastNs) > untilNs ? BigInt(this.state.lastNs) : untilNs
    this.pending = ''
    this.stream = this.docker.stream(`/events?since=${sinceParam(since)}`, (chunk) =>
      this.consume(chunk.toString('utf8')),
    )
    this.connected = true
    this.connections++
    this.lastError = ''
    await this.stream.done
  }

  /** Newline-delimited JSON, in any chunking. */
  private consume(text: string): void {
    this.pending += text
    let nl: number
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, nl).trim()
      this.pending = this.pending.slice(nl + 1)
      if (!line) continue
      const event = JSON.parse(line) as DockerEvent
      // timeNano has 19 digits: as a JSON number it would lose its last three.
      const exact = /"timeNano":\s*(\d+)/.exec(line)
      if (exact) event.timeNano = exact[1]!
      this.handle(event)
    }
  }

  /** Writes an event unless it was written before; returns whether it was new. */
  handle(event: DockerEvent): boolean {
    const timeNs = eventTimeNs(event)
    const key = eventKey(event)
    const lastNs = this.state.lastNs ? BigInt(this.state.lastNs) : -1n
    if (timeNs < lastNs) return false
    if (timeNs === lastNs) {
      if (this.state.keysAtLast.includes(key)) return false
      this.state.keysAtLast.push(key)
    } else {
      this.state.lastNs = String(timeNs)
      this.state.keysAtLast = [key]
    }
    // Events of one instant get +k ns, so none overwrites another.
    const point = eventPoint(event, this.host, timeNs + BigInt(this.state.keysAtLast.length - 1))
    const id = event.Actor?.ID
    if (event.Type === 'container' && id) {
      const next = STATE_AFTER[event.Action]
      const attributes = event.Actor?.Attributes ?? {}
      if (next === 'removed') delete this.state.states[id]
      else if (next)
        this.state.states[id] = {state: next, name: attributes.name ?? '', image: attributes.image ?? ''}
      this.listener.onContainerEvent(id, event.Action)
    }
    this.commitAfter([point])
    return true
  }

  /** After a gap the list may disagree with what the events said: write what changed, marked as resync. */
  private async resync(): Promise<void> {
    const list = await this.docker.json<ContainerSummary[]>('/containers/json?all=1')
    const firstStart = !this.state.lastNs
    const now = BigInt(Date.now()) * 1_000_000n
    const points: Point[] = []
    const seen = new Set<string>()
    for (const container of list) {
      seen.add(container.Id)
      const known = this.state.states[container.Id]
      const state = container.State === 'restarting' ? 'running' : container.State
      const name = container.Names[0]?.replace(/^\//, '') ?? ''
      if (!firstStart && known?.state !== state)
        points.push(
          resyncPoint(this.host, container.Id, name, container.Image, state, now + BigInt(points.length)),
        )
      this.state.states[container.Id] = {state, name, image: container.Image}
    }
    for (const [id, known] of Object.entries(this.state.states)) {
      if (seen.has(id)) continue
      if (!firstStart)
        points.push(
          resyncPoint(this.host, id, known.name, known.image, 'removed', now + BigInt(points.length)),
        )
      delete this.state.states[id]
    }
    if (firstStart) {
      this.state.lastNs = String(now)
      this.state.keysAtLast = []
    }
    this.commitAfter(points)
  }

  /** The position moves on to the current state once these points are safe. */
  private commitAfter(points: Point[]): void {
    const snapshot = structuredClone(this.state)
    this.sink.write(points, () => {
      this.durable = snapshot
      this.saver.touch()
    })
  }
}

function resyncPoint(
  host: string,
  id: string,
  name: string,
  image: string,
  state: string,
  time: bigint,
): Point {
  return point(
    BERTH_EVENT,
    {host, type: 'container', action: state, actor: name || id.slice(0, 12), image},
    {actor_id: id, attributes: JSON.stringify({name, image}), resync: true},
    time,
  )
}
