/**
 * Swarm mode on the real lab: five machines, one swarm init, four joins, two promotions (three
 * managers, two workers), a replicated service, a manager removed with `berth rm`, a machine that
 * joins as it is created, and bad input that leaves nothing half-joined.
 */
import {readFile, readdir} from 'node:fs/promises'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {busyboxTar, Lab, labDocker, RunResult} from '../lab/lab.js'

let lab: Lab
let busybox: Buffer
let m: string[] = [] // m[0] inits; m[1], m[2] are promoted; m[3], m[4] stay workers
let lone = '' // a manager of its own swarm, created with --swarm-init, later stopped
let late = '' // created with --swarm-worker --swarm-join
let failed = '' // created with --swarm-join to a stopped manager: must fail and leave nothing

const ok = (result: RunResult, what: string) => expect(result.code, `${what}: ${result.stderr}`).toBe(0)

interface NodeLine {
  ID: string
  Hostname: string
  Status: string
  Availability: string
  ManagerStatus: string
}

async function nodes(through: string): Promise<NodeLine[]> {
  const result = await lab.docker(through, ['node', 'ls', '--format', '{{json .}}'])
  ok(result, 'docker node ls')
  return result.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as NodeLine)
}

async function swarmColumn(): Promise<Record<string, string>> {
  const listing = JSON.parse((await lab.berth(['ls', '--json'])).stdout) as Array<{
    name: string
    swarm: string
  }>
  return Object.fromEntries(listing.map((row) => [row.name, row.swarm]))
}

async function record(name: string) {
  return JSON.parse(await readFile(join(lab.storePath, 'machines', name, 'config.json'), 'utf8'))
}

/** Polls until `check` holds, or fails with the last value seen. */
async function eventually<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T>,
  check: (value: T) => boolean,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T = await probe()
  while (!check(last)) {
    if (Date.now() > deadline)
      throw new Error(`${what} did not happen within ${timeoutMs / 1000}s; last: ${JSON.stringify(last)}`)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    last = await probe()
  }
  return last
}

async function runningTasks(through: string): Promise<string[]> {
  const ps = await lab.docker(through, [
    'service',
    'ps',
    'web',
    '--filter',
    'desired-state=running',
    '--format',
    '{{.Node}} {{.CurrentState}}',
  ])
  return ps.stdout
    .trim()
    .split('\n')
    .filter((line) => /\sRunning\b/.test(line))
    .map((line) => line.split(' ')[0]!)
}

/** A command that must fail with exactly one line on stderr and nothing on stdout. */
async function refused(args: string[], message: RegExp) {
  const result = await lab.berth(args)
  expect(result.code, args.join(' ')).not.toBe(0)
  expect(result.stdout, args.join(' ')).toBe('')
  expect(result.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1)
  expect(result.stderr).toMatch(message)
}

beforeAll(async () => {
  lab = await Lab.create()
  busybox = await busyboxTar()
  m = [0, 1, 2, 3, 4].map((i) => lab.name(`sw${i}`))
  lone = lab.name('lone')
  late = lab.name('late')
  failed = lab.name('fail')
  const [five, single] = await Promise.all([
    lab.berth(['create', '-d', 'container', '-q', ...m]),
    lab.berth(['create', '-d', 'container', '-q', '--swarm-init', lone]),
  ])
  ok(five, 'create of five')
  ok(single, 'create --swarm-init')
})

afterAll(async () => {
  if (!lab) return
  const left = (await lab.berth(['ls', '-q'])).stdout.split('\n').filter(Boolean)
  if (left.length > 0) await lab.berth(['rm', '-f', ...left])
  await lab.cleanup()
})

describe('a five-node swarm with three managers', () => {
  it('is built with init, join and promote, and init/join again are no-ops', async () => {
    const init = await lab.berth(['swarm', 'init', m[0]!])
    ok(init, 'swarm init')
    expect(init.stdout).toMatch(/manager of a new swarm/)
    const again = await lab.berth(['swarm', 'init', m[0]!])
    ok(again, 'swarm init again')
    expect(again.stdout).toMatch(/already a manager/)

    const joined = await lab.berth(['swarm', 'join', '-q', '--json', '--to', m[0]!, ...m.slice(1)])
    ok(joined, 'swarm join')
    expect((JSON.parse(joined.stdout) as Array<{action: string}>).map((o) => o.action)).toEqual([
      'joined',
      'joined',
      'joined',
      'joined',
    ])
    const promoted = await lab.berth(['swarm', 'promote', '-q', m[1]!, m[2]!])
    ok(promoted, 'swarm promote')

    const rejoin = await lab.berth(['swarm', 'join', '-q', '--to', m[0]!, m[3]!])
    ok(rejoin, 'join again')
    expect(rejoin.stdout).toMatch(/already a worker/)
  })

  it('shows five Ready nodes and a leader through `berth env` and the real docker CLI', async () => {
    const list = await nodes(m[1]!)
    expect(list.map((n) => n.Hostname).sort()).toEqual([...m].sort())
    expect(list.every((n) => n.Status === 'Ready' && n.Availability === 'Active')).toBe(true)
    expect(list.filter((n) => n.ManagerStatus === 'Leader')).toHaveLength(1)
    expect(list.filter((n) => n.ManagerStatus === 'Reachable')).toHaveLength(2)
    expect(list.find((n) => n.ManagerStatus === 'Leader')?.Hostname).toBe(m[0])
  })

  it('shows roles in `berth ls` and nodes in `berth swarm ls`; the record holds the role, never a join token', async () => {
    const column = await swarmColumn()
    expect(column[m[0]!]).toBe('manager (leader)')
    expect([column[m[1]!], column[m[2]!]]).toEqual(['manager', 'manager'])
    expect([column[m[3]!], column[m[4]!]]).toEqual(['worker', 'worker'])
    const table = await lab.berth(['ls'])
    expect(table.stdout).toMatch(new RegExp(`${m[0]}\\s.*\\smanager \\(leader\\)\\s`))

    const listing = await lab.berth(['swarm', 'ls', m[4]!, '--json'])
    ok(listing, 'swarm ls through a worker')
    const [swarm] = JSON.parse(listing.stdout) as Array<{
      nodes: Array<{machine: string; role: string; status: string; leader: boolean; engineVersion: string}>
    }>
    expect(swarm!.nodes.map((n) => n.machine).sort()).toEqual([...m].sort())
    expect(swarm!.nodes.filter((n) => n.role === 'manager')).toHaveLength(3)
    expect(swarm!.nodes.every((n) => n.status === 'ready' && /^\d+\./.test(n.engineVersion))).toBe(true)

    for (const name of m) {
      const text = await readFile(join(lab.storePath, 'machines', name, 'config.json'), 'utf8')
      expect(text).not.toMatch(/SWMTKN/)
    }
    expect((await record(m[1]!)).Berth.Swarm).toMatchObject({Role: 'manager', JoinedVia: m[0]})
    expect((await record(m[3]!)).Berth.Swarm).toMatchObject({Role: 'worker'})
  })

  it('converges a replicated service with 5 replicas across the nodes', async () => {
    await Promise.all(
      m.map(async (name) => {
        ok(
          await lab.docker(name, ['import', '-c', 'CMD ["/bin/sh"]', '-', 'busybox:e2e'], busybox),
          `import on ${name}`,
        )
      }),
    )
    const created = await lab.docker(m[0]!, [
      'service',
      'create',
      '--detach',
      '--name',
      'web',
      '--replicas',
      '5',
      '--no-resolve-image',
      'busybox:e2e',
      '/bin/busybox',
      'sleep',
      '3600',
    ])
    ok(created, 'service create')
    const tasks = await eventually(
      '5 running replicas',
      120_000,
      () => runningTasks(m[0]!),
      (t) => t.length === 5,
    )
    expect(new Set(tasks).size).toBeGreaterThanOrEqual(3)
  })

  it('keeps a leader and its quorum when the leader is removed with `berth rm`, and the node list stays clean', async () => {
    const removed = await lab.berth(['rm', '-y', m[0]!])
    ok(removed, 'rm of the leader')
    const list = await eventually(
      'a new leader',
      60_000,
      () => nodes(m[1]!),
      (l) => l.some((n) => n.ManagerStatus === 'Leader'),
    )
    expect(list.map((n) => n.Hostname).sort()).toEqual(m.slice(1).sort())
    expect(list.every((n) => n.Status === 'Ready')).toBe(true)
    expect(list.filter((n) => n.ManagerStatus === 'Leader' || n.ManagerStatus === 'Reachable')).toHaveLength(
      2,
    )
    // The service is rescheduled onto the remaining nodes.
    await eventually(
      '5 running replicas after rm',
      120_000,
      () => runningTasks(m[2]!),
      (t) => t.length === 5,
    )
    expect((await nodes(m[2]!)).some((n) => n.ManagerStatus === 'Leader')).toBe(true)
  })
})

describe('swarm at create time', () => {
  it('`create --swarm-worker --swarm-join` joins; a join that fails fails the create and leaves nothing', async () => {
    expect((await swarmColumn())[lone]).toBe('manager (leader)')
    ok(await labDocker(['stop', '-t', '5', `berth-${lone}`]), 'stop the lone manager')
    const [good, bad] = await Promise.all([
      lab.berth(['create', '-d', 'container', '-q', '--swarm-worker', '--swarm-join', m[1]!, late]),
      lab.berth(['create', '-d', 'container', '-q', '--swarm-join', lone, failed]),
    ])
    ok(good, 'create --swarm-join')
    expect((await swarmColumn())[late]).toBe('worker')
    expect((await nodes(m[1]!)).find((n) => n.Hostname === late)?.Status).toBe('Ready')

    expect(bad.code).not.toBe(0)
    expect(bad.stderr).toMatch(/manager .* is unreachable: the machine is Stopped/)
    const containers = await labDocker([
      'ps',
      '-a',
      '--filter',
      `name=^berth-${failed}$`,
      '--format',
      '{{.Names}}',
    ])
    expect(containers.stdout.trim()).toBe('')
    expect(await readdir(join(lab.storePath, 'machines'))).not.toContain(failed)
  })
})

describe('bad input', () => {
  it('gives one-line errors and leaves nothing half-joined', async () => {
    const left = await lab.berth(['swarm', 'leave', '-q', late])
    ok(left, 'swarm leave')
    expect(left.stdout).toMatch(/left its swarm/)

    await refused(['swarm', 'join', '-q', '--to', m[3]!, late], /is a swarm worker, not a manager/)
    await refused(['swarm', 'promote', '-q', late], /is not in a swarm/)
    await refused(
      ['swarm', 'join', '-q', '--to', lone, late],
      /manager .* is unreachable: the machine is Stopped/,
    )
    await refused(['swarm', 'join', '-q', '--to', m[1]!, m[1]!], /cannot join itself/)
    await refused(['swarm', 'join', '-q', '--to', 'no-such-machine', late], /does not exist/)
    await refused(['swarm', 'init', '--advertise-addr', '999.1.2.3', late], /not an IPv4 address/)
    await refused(['swarm', 'init', m[3]!], /already a worker in a swarm; refusing/)
    await refused(['create', '-d', 'container', '--swarm-worker', lab.name('x')], /need --swarm-join/)

    expect((await swarmColumn())[late]).toBe('')
    expect((await record(late)).Berth.Swarm).toBeUndefined()
    const list = await nodes(m[1]!)
    expect(list.map((n) => n.Hostname).sort()).toEqual(m.slice(1).sort())
    expect(list.every((n) => n.Status === 'Ready')).toBe(true)
  })
})
