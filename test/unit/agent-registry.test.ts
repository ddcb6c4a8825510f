/** Which containers a stats cycle sees: the engine's list when events may have missed something, else the events' word. */
import {describe, expect, it} from 'vitest'
import {ContainerRegistry, LIST_EVERY} from '../../agent/src/containers.js'
import type {ContainerDetails, ContainerSummary} from '../../agent/src/docker.js'

/** Docker's ids are 64 hex digits; these containers are named by the first. */
const [A, B, C, D] = ['a', 'b', 'c', 'd'].map((digit) => digit.repeat(64)) as [string, string, string, string]

/** An engine that answers the list and inspect calls from its containers, and counts the calls. */
function engine() {
  const containers = new Map<string, string>() // id -> state
  const calls: string[] = []
  const details = (id: string): ContainerDetails => ({
    Id: id,
    Name: `/${id[0]}`,
    RestartCount: 0,
    Config: {Image: 'busybox:1', Tty: false, Labels: null},
    HostConfig: {NetworkMode: 'none'},
    State: {
      Status: containers.get(id)!,
      Running: containers.get(id) === 'running',
      Pid: 1,
      ExitCode: 0,
      OOMKilled: false,
      StartedAt: '',
      FinishedAt: '',
    },
  })
  const docker = {
    json: async <T>(path: string): Promise<T> => {
      calls.push(path)
      if (path === '/containers/json?all=1')
        return [...containers].map(([Id, State]) => ({Id, State}) as ContainerSummary) as T
      const id = /^\/containers\/([^/]+)\/json$/.exec(path)?.[1]
      if (id && containers.has(id)) return details(id) as T
      throw new Error('404 no such container')
    },
  }
  return {containers, calls, docker}
}

const lists = (calls: string[]) => calls.filter((c) => c === '/containers/json?all=1').length
const names = async (registry: ContainerRegistry, connection: number | undefined) =>
  (await registry.forCycle(connection)).map((c) => `${c.name}:${c.state}`).sort()

describe('the containers of a stats cycle', () => {
  it(`lists them when the events stream is new or down and every ${LIST_EVERY} cycles; between, follows the events`, async () => {
    const {containers, calls, docker} = engine()
    containers.set(A, 'running')
    const registry = new ContainerRegistry(docker)
    expect(await names(registry, undefined)).toEqual(['a:running']) // no events stream: the list
    expect(lists(calls)).toBe(1)
    expect(await names(registry, 1)).toEqual(['a:running']) // a new connection may have missed events
    expect(lists(calls)).toBe(2)

    // Between lists: what the events said, each container named by an event inspected again.
    containers.set(B, 'created')
    registry.invalidate(B) // create
    expect(await names(registry, 1)).toEqual(['a:running', 'b:created'])
    containers.set(A, 'exited')
    registry.invalidate(A) // die
    containers.delete(B)
    registry.forget(B) // destroy
    expect(await names(registry, 1)).toEqual(['a:exited'])
    // An event for a container already gone again: inspected, not found, left out.
    registry.invalidate(C)
    expect(await names(registry, 1)).toEqual(['a:exited'])
    expect(lists(calls)).toBe(2)
    expect(calls.filter((c) => c === `/containers/${A}/json`)).toHaveLength(2) // once listed, once after its event

    // What no event said (a missed one) shows at the next list, at most LIST_EVERY cycles after the last.
    containers.set(D, 'running')
    const seen: string[][] = []
    // Cycles 1-3 since the last list are above.
    for (let cycle = 4; cycle < LIST_EVERY; cycle++) seen.push(await names(registry, 1))
    expect(seen).toHaveLength(LIST_EVERY - 4)
    expect(seen.every((cycle) => !cycle.includes('d:running'))).toBe(true)
    expect(await names(registry, 1)).toEqual(['a:exited', 'd:running'])
    expect(lists(calls)).toBe(3)

    // A reconnect, or a stream down, lists at once.
    expect(await names(registry, 2)).toEqual(['a:exited', 'd:running'])
    expect(await names(registry, undefined)).toEqual(['a:exited', 'd:running'])
    expect(lists(calls)).toBe(5)
  })

  it('never puts an id that is not 64 hex digits into an API path (an event names the id)', async () => {
    const {containers, calls, docker} = engine()
    containers.set(A, 'running')
    const registry = new ContainerRegistry(docker)
    await registry.forCycle(1)
    for (const hostile of ['../../images/create?fromImage=x', `${A}/../../../info`, A.toUpperCase(), ''])
      registry.invalidate(hostile)
    expect(await names(registry, 1)).toEqual(['a:running'])
    expect(await registry.details('../info')).toBeUndefined()
    expect(calls.filter((c) => c !== '/containers/json?all=1' && c !== `/containers/${A}/json`)).toEqual([])
  })
})
