/** What the agent knows about each container: the list plus inspect details, refreshed on events. */
import type {ContainerDetails, ContainerSummary, DockerClient} from './docker.js'
import {labelTags} from './labels.js'

export interface ContainerInfo {
  id: string
  name: string
  image: string
  version: string
  tty: boolean
  /** The labels that can be tags (see labels.ts). */
  labels: Record<string, string>
  /** Labels asked for that could not be tags. */
  labelsDropped: number
  /** `host` or `container:...` share another network namespace: no network series of their own. */
  ownNetwork: boolean
  state: string
  pid: number
  exitCode: number
  oomKilled: boolean
  startedAt: string
  finishedAt: string
  restartCount: number
}

/** Telegraf's split of an image reference into `container_image` and `container_version`. */
export function splitImage(reference: string): {image: string; version: string} {
  const at = reference.indexOf('@')
  const name = at >= 0 ? reference.slice(0, at) : reference
  const colon = name.lastIndexOf(':')
  if (colon > 0 && !name.slice(colon + 1).includes('/'))
    return {image: name.slice(0, colon), version: name.slice(colon + 1)}
  return {image: name, version: 'unknown'}
}

export function toInfo(
  details: ContainerDetails,
  wantedLabel: (key: string) => boolean = () => true,
): ContainerInfo {
  const {image, version} = splitImage(details.Config.Image)
  const labels = labelTags(details.Config.Labels, wantedLabel)
  const mode = details.HostConfig.NetworkMode ?? ''
  return {
    id: details.Id,
    name: details.Name.replace(/^\//, ''),
    image,
    version,
    tty: details.Config.Tty,
    labels: labels.tags,
    labelsDropped: labels.dropped,
    ownNetwork: mode !== 'host' && !mode.startsWith('container:'),
    state: details.State.Status,
    pid: details.State.Pid,
    exitCode: details.State.ExitCode,
    oomKilled: details.State.OOMKilled,
    startedAt: details.State.StartedAt,
    finishedAt: details.State.FinishedAt,
    restartCount: details.RestartCount,
  }
}

const CONTAINER_ID = /^[0-9a-f]{64}$/

/** Cycles from one full container list to the next while the events keep the registry current. */
export const LIST_EVERY = 6

export class ContainerRegistry {
  private readonly known = new Map<string, ContainerInfo>()
  private readonly stale = new Set<string>()
  private cyclesSinceList = Infinity
  private listedAtConnection: number | undefined

  constructor(
    private readonly docker: Pick<DockerClient, 'json'>,
    private readonly wantedLabel: (key: string) => boolean = () => true,
  ) {}

  /** Labels of the known containers that could not be tags. */
  get labelsDropped(): number {
    let dropped = 0
    for (const info of this.known.values()) dropped += info.labelsDropped
    return dropped
  }

  /** An event said something changed: inspect again before the next use. */
  invalidate(id: string): void {
    this.stale.add(id)
  }

  forget(id: string): void {
    this.known.delete(id)
    this.stale.delete(id)
  }

  /**
   * Inspects one container (cached until an event or a changed state invalidates it). The id comes
   * from the engine's events and list and goes into an API path: anything but Docker's 64 hex
   * digits is no container.
   */
  async details(id: string, listedState?: string): Promise<ContainerInfo | undefined> {
    if (!CONTAINER_ID.test(id)) {
      this.forget(id)
      return undefined
    }
    const cached = this.known.get(id)
    if (cached && !this.stale.has(id) && (listedState === undefined || listedState === cached.state))
      return cached
    try {
      const info = toInfo(
        await this.docker.json<ContainerDetails>(`/containers/${id}/json`),
        this.wantedLabel,
      )
      this.known.set(id, info)
      this.stale.delete(id)
      return info
    } catch {
      this.forget(id) // removed meanwhile
      return undefined
    }
  }

  /**
   * The containers of one collection cycle. The engine's list when the events may have missed
   * something (no events stream, or a new connection since the last list: `eventsConnection` is
   * its number while connected) and at least every LIST_EVERY cycles; between, what events said.
   */
  forCycle(eventsConnection: number | undefined): Promise<ContainerInfo[]> {
    const list =
      eventsConnection === undefined ||
      eventsConnection !== this.listedAtConnection ||
      this.cyclesSinceList >= LIST_EVERY - 1
    if (list) {
      this.listedAtConnection = eventsConnection
      this.cyclesSinceList = 0
    } else this.cyclesSinceList++
    return this.refresh(list)
  }

  /**
   * The containers with their details. With `list`, from the engine's list (containers gone since
   * are forgotten); without, from what is known and what events named since, each re-inspected
   * where an event said it changed: the engine's list of every container costs the engine about
   * 0.15 ms of CPU per container, and the agent's events already say what changed.
   */
  private async refresh(list: boolean): Promise<ContainerInfo[]> {
    if (!list)
      return present(
        await Promise.all([...new Set([...this.known.keys(), ...this.stale])].map((id) => this.details(id))),
      )
    const listed = await this.docker.json<ContainerSummary[]>('/containers/json?all=1')
    const ids = new Set(listed.map((c) => c.Id))
    for (const id of this.known.keys()) if (!ids.has(id)) this.forget(id)
    return present(await Promise.all(listed.map((c) => this.details(c.Id, c.State))))
  }
}

const present = (infos: (ContainerInfo | undefined)[]) =>
  infos.filter((i): i is ContainerInfo => i !== undefined)
