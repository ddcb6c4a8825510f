/**
 * The agent as a swarm global service on a 2-node swarm of lab machines, writing to the real
 * InfluxDB through a local stand-in for the v2 write API that checks the token: a task per node,
 * points tagged with both machines' names, the token only in a swarm secret (never in `docker
 * service inspect` or `docker inspect` of the tasks), reinstall a no-op, token rotation, removal.
 */
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  busyboxTar,
  influxQuery,
  Lab,
  LAB_INFLUX,
  labBridgeGateway,
  ok,
  run,
  type RunResult,
  startInfluxV2StandIn,
  until,
} from '../lab/lab.js'

const INFLUX = LAB_INFLUX
const influx = (q: string) => influxQuery(db, q)
let lab: Lab
let m1: string // the manager
let m2: string // a worker
let db: string
let secretsDir: string
let v2: {url: string; close(): Promise<void>} | undefined
/** The token the stand-in accepts; rotation changes it. */
let acceptedToken = 'tok-global-1618'
const dockerEnvs = new Map<string, NodeJS.ProcessEnv>()

async function docker(machine: string, args: string[], input?: Buffer): Promise<RunResult> {
  if (!dockerEnvs.has(machine)) dockerEnvs.set(machine, await lab.dockerEnv(machine))
  return run('docker', args, {env: dockerEnvs.get(machine), input})
}

interface NodeStatus {
  name: string
  node: string
  state: string
  health?: string
  task?: string
  lastError?: string
}
interface Deployed {
  service: string
  action: string
  nodes: NodeStatus[]
}

async function install(tokenFile: string): Promise<Deployed> {
  const result = await lab.berth([
    'agent',
    'install',
    '--global',
    m1,
    '-q',
    '--json',
    '--influx-url',
    v2!.url,
    '--bucket',
    db,
    '--org',
    'e2e',
    '--token-file',
    tokenFile,
    '--allow-insecure', // the v2 stand-in speaks plain http
    '--interval',
    '2',
    '--env',
    'BERTH_AGENT_FLUSH_MS=300',
  ])
  expect(result.code, result.stderr).toBe(0)
  expect(result.stdout + result.stderr).not.toContain('tok-global')
  return JSON.parse(result.stdout) as Deployed
}

/** The task containers of the service on a node. */
async function taskContainers(machine: string): Promise<string[]> {
  return (
    await ok(docker(machine, ['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=berth-agent']))
  )
    .split('\n')
    .filter(Boolean)
}

async function agentSecrets(): Promise<string[]> {
  return (
    await ok(docker(m1, ['secret', 'ls', '--filter', 'label=io.berth.agent=true', '--format', '{{.Name}}']))
  )
    .split('\n')
    .filter(Boolean)
}

beforeAll(async () => {
  lab = await Lab.create()
  m1 = lab.name('gm')
  m2 = lab.name('gw')
  db = `agent_global_${m1.slice(-6)}`
  secretsDir = await mkdtemp(join(tmpdir(), 'berth-agent-global-'))
  await fetch(`${INFLUX}/query?${new URLSearchParams({q: `CREATE DATABASE ${db}`})}`, {method: 'POST'})
  v2 = await startInfluxV2StandIn(await labBridgeGateway(), () => acceptedToken)
  const [created, busybox] = await Promise.all([
    lab.berth(['create', '-d', 'container', '-q', m1, m2]),
    busyboxTar(),
  ])
  expect(created.code, created.stderr).toBe(0)
  await ok(lab.berth(['swarm', 'init', m1]))
  await ok(lab.berth(['swarm', 'join', '-q', '--to', m1, m2]))
  await Promise.all([m1, m2].map((m) => ok(docker(m, ['import', '-', 'bb:1'], busybox))))
})

afterAll(async () => {
  await lab?.berth(['rm', '-f', m1, m2])
  await v2?.close()
  await fetch(`${INFLUX}/query?${new URLSearchParams({q: `DROP DATABASE ${db}`})}`, {method: 'POST'})
  await rm(secretsDir, {recursive: true, force: true})
  await lab?.cleanup()
})

describe('the agent as a swarm global service', () => {
  let tokenFile: string
  let firstTasks: string[]

  it('deploys a task on each node, the token only as a swarm secret file', async () => {
    tokenFile = join(secretsDir, 'token')
    await writeFile(tokenFile, 'tok-global-1618\n', {mode: 0o600})
    const deployed = await install(tokenFile)
    expect(deployed.action).toBe('created')
    expect(deployed.nodes.map((n) => [n.name, n.state, n.health]).sort()).toEqual(
      [
        [m1, 'running', 'ok'],
        [m2, 'running', 'ok'],
      ].sort(),
    )
    firstTasks = deployed.nodes.map((n) => n.task!).sort()

    const service = await ok(docker(m1, ['service', 'inspect', 'berth-agent']))
    expect(service).not.toContain('tok-global')
    const spec = (
      JSON.parse(service) as {
        Spec: {
          Mode: unknown
          TaskTemplate: {
            ContainerSpec: {
              Env: string[]
              Mounts: {Target: string; ReadOnly?: boolean}[]
              Secrets: {File: {Name: string; Mode: number}}[]
            }
            RestartPolicy: {Condition: string}
          }
        }
      }[]
    )[0]!.Spec
    expect(spec.Mode).toEqual({Global: {}})
    expect(spec.TaskTemplate.RestartPolicy.Condition).toBe('any')
    expect(spec.TaskTemplate.ContainerSpec.Env).toContain(
      'BERTH_AGENT_TOKEN_FILE=/run/secrets/berth-agent-token',
    )
    expect(
      spec.TaskTemplate.ContainerSpec.Mounts.filter((m) => m.ReadOnly)
        .map((m) => m.Target)
        .sort(),
    ).toEqual(['/host/proc', '/host/root', '/host/sys/fs/cgroup', '/run/berth-api'])
    expect(spec.TaskTemplate.ContainerSpec.Secrets.map((s) => [s.File.Name, s.File.Mode])).toEqual([
      ['berth-agent-token', 0o400],
    ])

    for (const machine of [m1, m2]) {
      const [container] = await taskContainers(machine)
      expect(container, machine).toBeDefined()
      const inspect = await ok(docker(machine, ['inspect', container!]))
      expect(inspect).not.toContain('tok-global')
      const config = (
        JSON.parse(inspect) as {
          Config: {User: string}
          HostConfig: {
            NetworkMode: string
            CapDrop: string[]
            ReadonlyRootfs: boolean
            PidMode: string
            Memory: number
            PidsLimit: number
          }
          Mounts: {Source: string}[]
        }[]
      )[0]!
      expect(config.HostConfig.NetworkMode).toBe('host')
      // Without privileges, and without the engine's socket: only the filter's task holds it.
      expect([
        config.Config.User,
        config.HostConfig.CapDrop,
        config.HostConfig.ReadonlyRootfs,
        config.HostConfig.PidMode,
        config.HostConfig.Memory,
        config.HostConfig.PidsLimit,
      ]).toEqual(['65532:65532', ['ALL'], true, '', 256 * 1024 * 1024, 128])
      expect(config.Mounts.map((m) => m.Source).join(' ')).not.toContain('docker.sock')
      const [filter] = (
        await ok(
          docker(machine, ['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=berth-agent-api']),
        )
      )
        .split('\n')
        .filter(Boolean)
      expect(filter, `the API filter's task on ${machine}`).toBeDefined()
      const refused = await ok(
        docker(machine, [
          'exec',
          container!,
          '/usr/local/bin/node',
          '-e',
          `require('http').request({socketPath: '/run/berth-api/docker.sock', method: 'POST',
        path: '/containers/create'}, (res) => console.log(res.statusCode)).end('{}')`,
        ]),
      )
      expect(refused.trim()).toBe('403')
      const file = await ok(
        docker(machine, [
          'exec',
          container!,
          '/usr/local/bin/node',
          '-e',
          'const f="/run/secrets/berth-agent-token"; process.stdout.write((require("fs").statSync(f).mode & 0o777).toString(8) + " " + require("fs").readFileSync(f, "utf8"))',
        ]),
      )
      expect(file).toBe('400 tok-global-1618')
      expect(await readFile(join(lab.storePath, 'machines', machine, 'config.json'), 'utf8')).not.toContain(
        'tok-global',
      )
    }
  })

  it("writes points tagged with each node's machine name: logs, cgroup and /proc stats of its containers", async () => {
    for (const machine of [m1, m2])
      await ok(
        docker(machine, [
          'run',
          '-d',
          '--name',
          'load',
          'bb:1',
          'sh',
          '-c',
          `echo "hello from ${machine}"; sleep 3600`,
        ]),
      )
    const hosts = await until('berth_agent points from both nodes', async () => {
      const series = await influx('SHOW TAG VALUES FROM berth_agent WITH KEY = "host"')
      const values = (series[0]?.values ?? []).map((v) => v[1] as string).sort()
      return values.length === 2 ? values : undefined
    })
    expect(hosts).toEqual([m1, m2].sort())
    for (const machine of [m1, m2]) {
      const log = await until(`the log line on ${machine}`, async () => {
        const series = await influx(
          `SELECT message FROM docker_log WHERE host = '${machine}' AND container_name = 'load'`,
        )
        return series[0]?.values.map((v) => v[1])
      })
      expect(log).toEqual([`hello from ${machine}`])
      // Without host PID: the container's cgroup and /proc/<pid>/net/dev, read through the host's /proc.
      for (const measurement of ['docker_container_cpu', 'docker_container_mem', 'docker_container_net']) {
        await until(
          `${measurement} of load on ${machine}`,
          async () =>
            (
              await influx(
                `SELECT count(container_id) FROM ${measurement} WHERE host = '${machine}' AND container_name = 'load'`,
              )
            ).length
              ? true
              : undefined,
          30_000,
        )
      }
    }
  })

  it('agent status --global shows the task and the agent on each node', async () => {
    const json = await lab.berth(['agent', 'status', '--global', m1, '--json'])
    expect(json.code, json.stderr).toBe(0)
    const nodes = JSON.parse(json.stdout) as NodeStatus[]
    expect(nodes.map((n) => [n.name, n.node, n.state, n.health]).sort()).toEqual(
      [
        [m1, m1, 'running', 'ok'],
        [m2, m2, 'running', 'ok'],
      ].sort(),
    )
    const table = await lab.berth(['agent', 'status', '--global', m1])
    expect(table.stdout).toMatch(new RegExp(`^${m2}\\s+running\\s+\\S+\\s+ok\\s+\\d+s ago`, 'm'))
    // Per machine, the task's container is the agent there.
    const perMachine = JSON.parse(
      (await lab.berth(['agent', 'status', '--json', m2])).stdout,
    ) as (NodeStatus & {service?: string})[]
    expect(perMachine.map((s) => [s.name, s.state, s.health, s.service])).toEqual([
      [m2, 'running', 'ok', 'berth-agent'],
    ])
  })

  it('re-running install changes nothing; a new token rotates the secret and the old one goes', async () => {
    const again = await install(tokenFile)
    expect(again.action).toBe('unchanged')
    expect(again.nodes.map((n) => n.task!).sort()).toEqual(firstTasks)
    const [before] = await agentSecrets()

    const rotated = join(secretsDir, 'token2')
    await writeFile(rotated, 'tok-global-2718\n', {mode: 0o600})
    acceptedToken = 'tok-global-2718'
    const updated = await install(rotated)
    expect(updated.action).toBe('updated')
    expect(updated.nodes.map((n) => [n.name, n.state, n.health]).sort()).toEqual(
      [
        [m1, 'running', 'ok'],
        [m2, 'running', 'ok'],
      ].sort(),
    )
    const secrets = await agentSecrets()
    expect(secrets).toHaveLength(1)
    expect(secrets[0]).not.toBe(before)
    expect(await ok(docker(m1, ['service', 'inspect', 'berth-agent']))).not.toContain('tok-global')
  })

  it('refuses bad input with one line: not exactly one machine, a worker', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['agent', 'install', '-q', '--global', m2, '--influx-url', v2!.url, '--database', db],
        /is a swarm worker, not a manager/,
      ],
      [
        ['agent', 'install', '-q', '--global', m1, m2, '--influx-url', v2!.url, '--database', db],
        /--global takes exactly one machine/,
      ],
      [['agent', 'status', '--global', m2], /is a swarm worker, not a manager/],
      [
        ['agent', 'install', '-q', m2, '--influx-url', v2!.url, '--database', db],
        /runs a task of the global agent service/,
      ],
    ]
    for (const [args, message] of cases) {
      const result = await lab.berth(args)
      expect(result.code, args.join(' ')).not.toBe(0)
      expect(result.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1)
      expect(result.stderr, args.join(' ')).toMatch(message)
    }
  })

  it('agent rm --global removes the service, its secrets, tasks and state volumes', async () => {
    const removed = await lab.berth(['agent', 'rm', '--global', m1, '--json'])
    expect(removed.code, removed.stderr).toBe(0)
    expect(JSON.parse(removed.stdout)).toEqual({service: 'berth-agent', removed: true})
    expect(await ok(docker(m1, ['service', 'ls', '-q', '--filter', 'name=berth-agent']))).toBe('')
    expect(await agentSecrets()).toEqual([])
    for (const machine of [m1, m2]) {
      expect(await taskContainers(machine)).toEqual([])
      expect((await ok(docker(machine, ['volume', 'ls', '-q']))).split('\n')).not.toContain(
        'berth-agent-state',
      )
    }
    expect((await lab.berth(['agent', 'rm', '--global', m1])).stdout.trim()).toBe(
      `${m1}'s swarm had no global agent service`,
    )
    const status = await lab.berth(['agent', 'status', '--global', m1])
    expect(status.code).not.toBe(0)
    expect(status.stderr.trim().split('\n')).toHaveLength(1)
    expect(status.stderr).toMatch(/has no global agent service/)
  })

  it('a machine in no swarm: a one-line error', async () => {
    await ok(lab.berth(['swarm', 'leave', '-q', m2]))
    const result = await lab.berth([
      'agent',
      'install',
      '-q',
      '--global',
      m2,
      '--influx-url',
      v2!.url,
      '--database',
      db,
    ])
    expect(result.code).not.toBe(0)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(result.stderr).toMatch(/is not a swarm manager \(it is in no swarm\)/)
  })
})
