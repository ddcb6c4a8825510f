/** Follows the logs of every running container into `docker_log`, with per-stream checkpoints. */
import type {ContainerInfo, ContainerRegistry} from './containers.js'
import type {DockerClient, StreamHandle} from './docker.js'
import {point, type Point} from './lineprotocol.js'
import {
  DEFAULT_MAX_LINE_BYTES,
  FrameDemuxer,
  LineAssembler,
  ResumeFilter,
  sinceParam,
  type Checkpoint,
  type LogLine,
  type LogStream,
} from './logs.js'
import {DOCKER_LOG, type Tags} from './schema.js'
import type {PointSink} from './sink.js'
import {DebouncedSaver, readState} from './state.js'

type SavedCheckpoints = Record<string, Partial<Record<LogStream, {timeNs: string; count: number}>>>

/** Per container and stream, the last line that is safe (acknowledged by InfluxDB or spooled). */
export class CheckpointStore {
  private readonly saved: SavedCheckpoints
  private readonly saver: DebouncedSaver

  constructor(path: string) {
    this.saved = readState<SavedCheckpoints>(path) ?? {}
    this.saver = new DebouncedSaver(path, () => this.saved)
  }

  get(id: string, stream: LogStream): Checkpoint | undefined {
    const entry = this.saved[id]?.[stream]
    return entry ? {timeNs: BigInt(entry.timeNs), count: entry.count} : undefined
  }

  set(id: string, stream: LogStream, checkpoint: Checkpoint): void {
    const entry = (this.saved[id] ??= {})
    const current = entry[stream]
    // Callbacks arrive in write order; never let a late one move a stream back.
    if (
      current &&
      (BigInt(current.timeNs) > checkpoint.timeNs ||
        (BigInt(current.timeNs) === checkpoint.timeNs && current.count > checkpoint.count))
    )
      return
    entry[stream] = {timeNs: String(checkpoint.timeNs), count: checkpoint.count}
    this.saver.touch()
  }

  /** A removed container's stream is over; one recreated under its name is a new stream. */
  delete(id: string): void {
    if (!(id in this.saved)) return
    delete this.saved[id]
    this.saver.touch()
  }

  ids(): string[] {
    return Object.keys(this.saved)
  }

  flush(): void {
    this.saver.flush()
  }
}

/** `since` for a container: the earliest of its streams' checkpoints (each stream skips its own replay). */
export function resumeSince(checkpoints: (Checkpoint | undefined)[]): bigint | undefined {
  let since: bigint | undefined
  for (const c of checkpoints) if (c && (since === undefined || c.timeNs < since)) since = c.timeNs
  return since
}

export class LogCollector {
  private readonly following = new Map<string, StreamHandle>()
  /** Stopped containers read to their end, with the finishedAt they had then. */
  private readonly readToEnd = new Map<string, string>()
  private stopped = false
  /** Lines longer than the cap, written cut (since the agent started). */
  linesTruncated = 0
  /** Streams not read now because the sink is behind (see PointSink.backlog). */
  streamsPaused = 0

  constructor(
    private readonly docker: DockerClient,
    private readonly sink: PointSink,
    private readonly registry: ContainerRegistry,
    private readonly checkpoints: CheckpointStore,
    private readonly host: string,
    private readonly maxLineBytes = DEFAULT_MAX_LINE_BYTES,
  ) {}

  get streams(): number {
    return this.following.size
  }

  /**
   * Follows every running container, and reads each stopped one to its end once (lines written
   * while the agent was down, or by a container that died before its stream opened). Forgets
   * checkpoints of removed containers.
   */
  sync(containers: ContainerInfo[]): void {
    const ids = new Set(containers.map((c) => c.id))
    for (const id of this.checkpoints.ids())
      if (!ids.has(id) && !this.following.has(id)) this.checkpoints.delete(id)
    for (const id of this.readToEnd.keys()) if (!ids.has(id)) this.readToEnd.delete(id)
    for (const container of containers) {
      if (container.state === 'running' || this.readToEnd.get(container.id) !== container.finishedAt)
        this.follow(container)
    }
  }

  onContainerEvent(id: string, action: string): void {
    // A container that starts and dies at once is gone before a stream opens: read it on die too.
    if (action === 'start' || action === 'restart' || action === 'unpause' || action === 'die') {
      void this.registry.details(id).then((info) => info && this.follow(info))
    } else if (action === 'destroy' && !this.following.has(id)) this.checkpoints.delete(id)
  }

  /** Follows a running container's logs, or reads a stopped one's to the end. */
  follow(container: ContainerInfo): void {
    this.read(container, container.state === 'running')
  }

  /**
   * One logs request: `follow` streams until the container stops; without it Docker sends what it
   * has and ends. `from` continues exactly where a previous request of this agent left off;
   * otherwise the saved checkpoints say where to resume.
   */
  private read(
    container: ContainerInfo,
    follow: boolean,
    from?: Map<LogStream, Checkpoint | undefined>,
  ): void {
    if (this.stopped || this.following.has(container.id)) return
    const id = container.id
    const streams: LogStream[] = container.tty ? ['tty'] : ['stdout', 'stderr']
    const start = new Map(streams.map((s) => [s, from ? from.get(s) : this.checkpoints.get(id, s)]))
    const filters = new Map(streams.map((s) => [s, new ResumeFilter(start.get(s))]))
    const since = resumeSince([...start.values()])
    const tags = {
      host: this.host,
      container_name: container.name,
      container_image: container.image,
      container_version: container.version,
    } satisfies Tags<typeof DOCKER_LOG>
    let batch: Point[] = []
    let positions = new Map<LogStream, Checkpoint>()
    const assembler = new LineAssembler((line: LogLine) => {
      const time = filters.get(line.stream)?.accept(line.timeNs)
      if (time === undefined) return
      if (line.truncated) this.linesTruncated++
      batch.push(
        point(
          DOCKER_LOG,
          {...tags, stream: line.stream},
          {container_id: id, message: line.message, truncated: line.truncated || undefined},
          time,
        ),
      )
      positions.set(line.stream, filters.get(line.stream)!.position())
    }, this.maxLineBytes)
    // Points of one chunk go to the sink together, with the checkpoint they complete.
    const hand = () => {
      if (batch.length === 0) return
      const done = positions
      this.sink.write(batch, () => {
        for (const [stream, checkpoint] of done) this.checkpoints.set(id, stream, checkpoint)
      })
      batch = []
      positions = new Map()
    }
    const reached = () =>
      new Map(
        streams.map((s) => {
          const position = filters.get(s)!.position()
          return [s, position.timeNs >= 0n ? position : start.get(s)] as const
        }),
      )
    const demuxer = new FrameDemuxer((stream, payload, cut) => assembler.entry(stream, payload, cut))
    const query = `/containers/${id}/logs?follow=${follow ? 1 : 0}&stdout=1&stderr=1&timestamps=1${since !== undefined ? `&since=${sinceParam(since)}` : ''}`
    let paused = false
    const handle = this.docker.stream(query, (chunk) => {
      if (container.tty) assembler.tty(chunk)
      else demuxer.push(chunk)
      hand()
      const backlog = paused ? undefined : this.sink.backlog?.()
      if (!backlog) return
      paused = true
      this.streamsPaused++
      handle.pause()
      void backlog.then(() => {
        paused = false
        this.streamsPaused--
        handle.resume()
      })
    })
    this.following.set(id, handle)
    handle.done.then(
      async () => {
        if (this.stopped) return // closed by stop(): an open line is read again after the restart
        hand()
        this.following.delete(id)
        this.registry.invalidate(id)
        const info = await this.registry.details(id)
        if (!info) return
        if (info.state === 'running') {
          this.read(info, true, reached()) // restarted before this stream ended
        } else if (follow) {
          // A follow stream can end before Docker sent the last lines of a container that just
          // stopped: read the rest without follow (an open line included, so it is not ended here).
          this.read(info, false, reached())
        } else {
          assembler.end() // everything Docker has: a line still open was the container's last
          hand()
          this.readToEnd.set(id, info.finishedAt)
        }
      },
      () => {
        // The stream broke (dockerd restarting): lines in flight are read again from the checkpoint.
        this.following.delete(id)
        if (!this.stopped)
          setTimeout(
            () => void this.registry.details(id).then((info) => info && this.follow(info)),
            2000,
          ).unref()
      },
    )
  }

  stop(): void {
    this.stopped = true
    for (const handle of this.following.values()) handle.close()
    this.checkpoints.flush()
  }
}
