import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import type {DockerClient} from '../../agent/src/docker.js'
import {eventPoint, EventsCollector, type DockerEvent} from '../../agent/src/events.js'
import {MemorySink} from './memory-sink.js'

const event = (
  action: string,
  id: string,
  timeNano: number,
  attributes: Record<string, string> = {},
): DockerEvent => ({
  Type: 'container',
  Action: action,
  Actor: {ID: id, Attributes: {name: `n-${id}`, image: 'busybox', ...attributes}},
  scope: 'local',
  timeNano,
})

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-events-'))
})
afterEach(async () => {
  await rm(dir, {recursive: true, force: true})
})

describe('agent events', () => {
  it("maps an event to berth_event: action suffix as detail, exit code, the actor's name", () => {
    const health = eventPoint({...event('health_status: healthy', 'abc', 5), Type: 'container'}, 'h', 5n)
    expect(health.tags).toMatchObject({
      host: 'h',
      type: 'container',
      action: 'health_status',
      actor: 'n-abc',
      image: 'busybox',
    })
    expect(health.fields).toMatchObject({detail: 'healthy', actor_id: 'abc', resync: false})
    expect(eventPoint(event('die', 'abc', 6, {exitCode: '137'}), 'h', 6n).fields.exit_code).toBe(137)
  })

  it('skips events replayed by since= after a restart, keeps new ones at the same instant, and +k ns for twins', () => {
    const path = join(dir, 'events.json')
    const sink = new MemorySink()
    const listener = {onContainerEvent: () => {}}
    const first = new EventsCollector({} as DockerClient, sink, 'h', path, listener)
    expect([
      first.handle(event('create', 'a', 100)),
      first.handle(event('start', 'a', 200)),
      first.handle(event('create', 'b', 200)),
    ]).toEqual([true, true, true])
    first.flush()
    expect(sink.points.map((p) => p.time)).toEqual([100n, 200n, 201n])
    // The daemon replays from 200 inclusive; then a third event at 200 and a later one.
    const second = new EventsCollector({} as DockerClient, sink, 'h', path, listener)
    expect([
      second.handle(event('create', 'a', 100)),
      second.handle(event('start', 'a', 200)),
      second.handle(event('create', 'b', 200)),
      second.handle(event('start', 'b', 200)),
      second.handle(event('die', 'a', 300)),
    ]).toEqual([false, false, false, true, true])
    expect(sink.points.slice(3).map((p) => [p.tags.action, p.time])).toEqual([
      ['start', 202n],
      ['die', 300n],
    ])
  })

  it('saves its position only once the sink says the points are safe: an agent that stops before that writes them again', () => {
    const path = join(dir, 'events.json')
    const listener = {onContainerEvent: () => {}}
    const sink = new MemorySink({ackAtOnce: false})
    const first = new EventsCollector({} as DockerClient, sink, 'h', path, listener)
    first.handle(event('create', 'a', 100))
    first.flush()
    // Not acknowledged: a restarted agent takes the replayed event as new.
    expect(
      new EventsCollector({} as DockerClient, new MemorySink(), 'h', path, listener).handle(
        event('create', 'a', 100),
      ),
    ).toBe(true)
    sink.acknowledge()
    first.flush()
    expect(
      new EventsCollector({} as DockerClient, new MemorySink(), 'h', path, listener).handle(
        event('create', 'a', 100),
      ),
    ).toBe(false)
  })
})
