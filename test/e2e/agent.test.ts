/**
 * The monitoring agent on real lab machines, writing to the real InfluxDB: workloads that start,
 * die, restart and log; every event and log line in InfluxDB exactly once (checked against the
 * engine's own `docker events` and `docker logs`); plausible stats; InfluxDB unreachable, the agent
 * killed and dockerd restarted mid-stream; bad settings reported by `agent status`.
 */
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  busyboxTar,
  InfluxProxy,
  influxQuery,
  Lab,
  LAB_INFLUX,
  labBridgeGateway,
  ok,
  REPO,
  run,
  type RunResult,
  startInfluxV2StandIn,
  until,
} from '../lab/lab.js'

const INFLUX = LAB_INFLUX
const influx = (q: string, database = db) => influxQuery(database, q, 'u')
let lab: Lab
let m1: string
let m2: string
let db: string
let gateway: string
let proxy: InfluxProxy
let secretsDir: string
const dockerEnvs = new Map<string, NodeJS.ProcessEnv>()

async function docker(machine: string, args: string[], input?: Buffer): Promise<RunResult> {
  if (!dockerEnvs.has(machine)) dockerEnvs.set(machine, await lab.dockerEnv(machine))
  return run('docker', args, {env: dockerEnvs.get(machine), input})
}

async function influxAdmin(q: string): Promise<void> {
  await fetch(`${INFLUX}/query?${new URLSearchParams({q})}`, {method: 'POST'})
}

interface AgentStatusJson {
  name: string
  ok: boolean
  labelsDropped?: number
  linesTruncated?: number
  rssBytes?: number
  state: string
  health?: string
  lastError?: string
  pointsSpooled?: number
  spoolBytes?: number
  pointsWritten?: number
}

async function status(...names: string[]): Promise<AgentStatusJson[]> {
  const result = await lab.berth(['agent', 'status', '--json', ...names])
  return JSON.parse(result.stdout) as AgentStatusJson[]
}

function installArgs(machines: string[], extra: string[] = []): string[] {
  return [
    'agent',
    'install',
    '-q',
    ...machines,
    '--influx-url',
    `http://${gateway}:${proxy.port}`,
    '--database',
    db,
    '--interval',
    '2',
    '--env',
    'BERTH_AGENT_FLUSH_MS=300',
    '--env',
    'BERTH_AGENT_MAX_BACKOFF_MS=2000',
    '--env',
    'BERTH_AGENT_TIMEOUT_MS=3000',
    ...extra,
  ]
}

/** `docker logs -t` as the engine has it: [stream, message] per line (containers without a TTY). */
async function engineLogs(machine: string, container: string): Promise<string[]> {
  const result = await docker(machine, ['logs', '-t', container])
  const lines = (text: string, stream: string) =>
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => `${stream} ${l.slice(l.indexOf(' ') + 1)}`)
  return [...lines(result.stdout, 'stdout'), ...lines(result.stderr, 'stderr')].sort()
}

async function influxLogs(machine: string, container: string): Promise<string[]> {
  const series = await influx(
    `SELECT message FROM docker_log WHERE host = '${machine}' AND container_name = '${container}' GROUP BY stream`,
  )
  return series.flatMap((s) => s.values.map((v) => `${s.tags!.stream} ${v[1]}`)).sort()
}

/** The engine's container events for some containers, as `actor action` strings with their times. */
async function engineEvents(
  machine: string,
  containers: string[],
  since: number,
): Promise<{key: string; timeNano: bigint}[]> {
  const out = await ok(
    docker(machine, [
      'events',
      '--since',
      String(since),
      '--until',
      String(Math.floor(Date.now() / 1000)),
      '--filter',
      'type=container',
      '--format',
      '{{json .}}',
    ]),
  )
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const e = JSON.parse(line) as {Action: string; Actor: {Attributes: {name: string}}}
      return {
        key: `${e.Actor.Attributes.name} ${e.Action.split(':')[0]}`,
        timeNano: BigInt(/"timeNano":(\d+)/.exec(line)![1]!),
      }
    })
    .filter((e) => containers.includes(e.key.split(' ')[0]!))
}

/** berth_event points of some containers; `time` in µs. */
async function influxEvents(
  machine: string,
  containers: string[],
): Promise<{key: string; time: bigint; resync: boolean}[]> {
  const series = await influx(
    `SELECT actor_id, resync FROM berth_event WHERE host = '${machine}' AND type = 'container' GROUP BY actor, action`,
  )
  return series
    .filter((s) => containers.includes(s.tags!.actor!))
    .flatMap((s) =>
      s.values.map((v) => ({
        key: `${s.tags!.actor} ${s.tags!.action}`,
        time: BigInt(v[0] as number),
        resync: v[2] as boolean,
      })),
    )
}

beforeAll(async () => {
  lab = await Lab.create()
  m1 = lab.name('ag1')
  m2 = lab.name('ag2')
  db = `agent_e2e_${m1.slice(-6)}`
  secretsDir = await mkdtemp(join(tmpdir(), 'berth-agent-secrets-'))
  gateway = await labBridgeGateway()
  proxy = new InfluxProxy(gateway)
  await proxy.up()
  await influxAdmin(`CREATE DATABASE ${db}`)
  const [created, busybox] = await Promise.all([lab.berth(['create', '-q', m1, m2]), busyboxTar()])
  expect(created.code, created.stderr).toBe(0)
  await Promise.all([m1, m2].map((m) => ok(docker(m, ['import', '-', 'bb:1'], busybox))))
})

afterAll(async () => {
  await lab?.berth(['rm', '-f', m1, m2])
  await proxy?.down().catch(() => undefined)
  await influxAdmin(`DROP DATABASE ${db}`)
  await rm(secretsDir, {recursive: true, force: true})
  await lab?.cleanup()
})

describe('the agent on lab machines', () => {
  let since: number

  it('installs on two machines in parallel, loading the image it builds; the password stays out of the environment', async () => {
    const passwordFile = join(secretsDir, 'password')
    await writeFile(passwordFile, 'pw-never-shown-3141\n', {mode: 0o600})
    // InfluxDB here runs without auth: it accepts the credentials, and the test checks where they went.
    const installed = await lab.berth(
      installArgs(
        [m1, m2],
        [
          // The lab's InfluxDB speaks plain http: the flag says so (refused without it, test/unit/dashboards-cli).
          ...[
            '--influx-username',
            'agent',
            '--influx-password-file',
            passwordFile,
            '--allow-insecure',
            '--json',
          ],
          // Limits other than the defaults (256m, 128, 64k), to see each flag reach the agent.
          ...['--memory', '224m', '--pids-limit', '100', '--max-line-bytes', '48k'],
        ],
      ),
    )
    expect(installed.code, installed.stderr).toBe(0)
    const outcome = JSON.parse(installed.stdout) as AgentStatusJson[]
    expect(outcome.map((o) => [o.name, o.ok, o.state, o.health])).toEqual([
      [m1, true, 'running', 'ok'],
      [m2, true, 'running', 'ok'],
    ])
    const table = await lab.berth(['agent', 'status', m1])
    expect(table.stdout.split('\n')[0]).toMatch(
      /^NAME\s+STATE\s+VERSION\s+HEALTH\s+LAST WRITE\s+WRITTEN\s+SPOOL\s+DROPPED\s+ERROR$/,
    )
    const {version} = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {version: string}
    expect(table.stdout).toMatch(
      new RegExp(
        `^${m1}\\s+running\\s+${version.replaceAll('.', '\\.')}\\s+ok\\s+\\d+s ago\\s+\\d+\\s+0 pts/0 B\\s+0$`,
        'm',
      ),
    )
    const inspect = await ok(docker(m1, ['inspect', 'berth-agent']))
    expect(inspect).not.toContain('pw-never-shown')
    expect(inspect).toContain('BERTH_AGENT_PASSWORD_FILE=/run/berth-agent/password')
    const config = JSON.parse(inspect)[0] as {
      Config: {User: string}
      HostConfig: {
        NetworkMode: string
        PidMode: string
        RestartPolicy: {Name: string}
        Binds: string[]
        CapDrop: string[]
        SecurityOpt: string[]
        ReadonlyRootfs: boolean
        Memory: number
        PidsLimit: number
        Privileged: boolean
      }
    }
    expect([
      config.HostConfig.NetworkMode,
      config.HostConfig.PidMode,
      config.HostConfig.RestartPolicy.Name,
    ]).toEqual(['host', '', 'unless-stopped'])
    expect(config.HostConfig.Binds).toEqual(
      expect.arrayContaining([
        '/sys/fs/cgroup:/host/sys/fs/cgroup:ro',
        '/proc:/host/proc:ro',
        'berth-agent-api:/run/berth-api:ro',
      ]),
    )
    expect(config.HostConfig.Binds.join(' ')).not.toContain('docker.sock')
    expect({
      user: config.Config.User,
      capDrop: config.HostConfig.CapDrop,
      securityOpt: config.HostConfig.SecurityOpt,
      readOnly: config.HostConfig.ReadonlyRootfs,
      memory: config.HostConfig.Memory,
      pids: config.HostConfig.PidsLimit,
      privileged: config.HostConfig.Privileged,
    }).toEqual({
      user: '65532:65532',
      capDrop: ['ALL'],
      securityOpt: ['no-new-privileges'],
      readOnly: true,
      memory: 224 * 1024 * 1024,
      pids: 100,
      privileged: false,
    })
    expect(
      await ok(
        docker(m1, [
          'exec',
          'berth-agent',
          '/usr/local/bin/node',
          '-e',
          'process.stdout.write(require("fs").readFileSync("/run/berth-agent/password", "utf8"))',
        ]),
      ),
    ).toBe('pw-never-shown-3141\n')
    expect(table.stdout).toMatch(
      new RegExp(
        `^${m1}: user 65532:65532, capabilities none, no-new-privileges, read-only root, pid namespace private, network host, memory 224 MiB, pids 100, log lines cut at 48k, Docker API through the GET-only filter \\(running\\)$`,
        'm',
      ),
    )
    since = Math.floor(Date.now() / 1000) - 1
  })

  it('the agent reaches the engine only through the filter: its reads pass, a container create through its socket is refused', async () => {
    // Played as the attacker would, from inside the agent's container with its user and socket.
    const request = (method: string, path: string, body = '') =>
      docker(m1, [
        'exec',
        'berth-agent',
        '/usr/local/bin/node',
        '-e',
        `
      const req = require('http').request({socketPath: '/run/berth-api/docker.sock', method: ${JSON.stringify(method)}, path: ${JSON.stringify(path)},
        headers: {'Content-Type': 'application/json'}}, (res) => { let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => console.log(res.statusCode + ' ' + b.slice(0, 300))) })
      req.on('error', (e) => console.log('error ' + e.message)); req.end(${JSON.stringify(body)})`,
      ])
    expect((await ok(request('GET', '/v1.41/containers/json'))).slice(0, 4)).toBe('200 ')
    const create = await ok(
      request(
        'POST',
        '/v1.41/containers/create?name=pwned',
        JSON.stringify({Image: 'bb:1', HostConfig: {Privileged: true, Binds: ['/:/host']}}),
      ),
    )
    expect(create).toMatch(/^403 .*POST is not allowed/)
    for (const [method, path] of [
      ['POST', '/containers/berth-agent/exec'],
      ['DELETE', '/containers/berth-agent'],
      ['GET', '/containers/berth-agent/archive?path=/run/berth-agent'],
      ['GET', '/images/json'],
      ['GET', '/containers/..%2f..%2fimages/json'],
    ] as const) {
      expect(await ok(request(method, path)), `${method} ${path}`).toMatch(/^403 /)
    }
    expect((await ok(docker(m1, ['ps', '-a', '--filter', 'name=pwned', '-q']))).trim()).toBe('')
    // Another container's environment does not reach the agent through an inspect.
    await ok(
      docker(m1, [
        'run',
        '-d',
        '--name',
        'secretive',
        '-e',
        'DB_PASSWORD=hunter2-e2e',
        'bb:1',
        'sh',
        '-c',
        'busybox sleep 600',
      ]),
    )
    const inspected = await ok(request('GET', '/containers/secretive/json'))
    expect(inspected).toMatch(/^200 .*"Labels"/)
    expect(inspected).not.toContain('hunter2')
    // No socket of the engine inside the agent; the filter has no network.
    expect(
      (
        await docker(m1, [
          'exec',
          'berth-agent',
          '/usr/local/bin/node',
          '-e',
          'require("fs").statSync("/var/run/docker.sock")',
        ])
      ).code,
    ).not.toBe(0)
    expect(
      (
        await ok(
          docker(m1, [
            'inspect',
            '-f',
            '{{.HostConfig.NetworkMode}} {{.Config.User}} {{.HostConfig.CapDrop}} {{.HostConfig.ReadonlyRootfs}}',
            'berth-agent-api',
          ]),
        )
      ).trim(),
    ).toBe('none 0:65532 [ALL] true')
    await ok(docker(m1, ['rm', '-f', 'secretive']))
    const record = await ok(run('cat', [join(lab.storePath, 'machines', m1, 'config.json')]))
    expect(record).not.toContain('pw-never-shown')
  })

  it('every log line and event of workloads that start, die and restart is in InfluxDB exactly once', async () => {
    const label = 'team=ops, "blue" = yes\\back'
    // Labels that would break or replace points: dropped and counted, the others tags as they are.
    const hostile = [
      '--label',
      'nl=first\nsecond',
      '--label',
      'host\\=spoof',
      '--label',
      'time=x',
      '--label',
      'container_name=fake',
      '--label',
      'trail=x\\',
    ]
    const workloads = [
      [
        '-d',
        '--name',
        'counter',
        '--label',
        label,
        ...hostile,
        'bb:1',
        'sh',
        '-c',
        'i=1; while [ $i -le 500 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done',
      ],
      [
        '-d',
        '--name',
        'restarter',
        '--restart',
        'on-failure:2',
        'bb:1',
        'sh',
        '-c',
        'echo "run at $(date +%s%N)"; exit 3',
      ],
      ['-d', '-t', '--name', 'tty', 'bb:1', 'sh', '-c', 'for i in 1 2 3 4 5; do echo "tty $i"; done'],
      ['-d', '--name', 'long', 'bb:1', 'sh', '-c', "head -c 40000 /dev/zero | tr '\\0' x; echo; echo after"],
      // Written at once and gone: the follow stream may end before Docker sent the last lines.
      ['-d', '--name', 'flood', 'bb:1', 'sh', '-c', 'seq 1 30000'],
    ]
    for (const machine of [m1, m2]) for (const args of workloads) await ok(docker(machine, ['run', ...args]))
    const names = ['counter', 'restarter', 'tty', 'long', 'flood']
    for (const machine of [m1, m2]) {
      await until(`counter's 1000 lines on ${machine}`, async () =>
        (await influxLogs(machine, 'counter')).length >= 1000 ? true : undefined,
      )
      await until(`restarter's three runs on ${machine}`, async () =>
        (await influxLogs(machine, 'restarter')).length >= 3 ? true : undefined,
      )
      await until(`the long line on ${machine}`, async () =>
        (await influxLogs(machine, 'long')).length >= 2 ? true : undefined,
      )
      await until(
        `flood's 30000 lines on ${machine}`,
        async () => ((await influxLogs(machine, 'flood')).length >= 30000 ? true : undefined),
        60_000,
      )
      await until(`events on ${machine}`, async () =>
        (await influxEvents(machine, names)).filter((e) => e.key === 'restarter die').length >= 3
          ? true
          : undefined,
      )
      await new Promise((r) => setTimeout(r, 3000)) // anything that would arrive twice has time to
      expect(await influxLogs(machine, 'counter')).toEqual(await engineLogs(machine, 'counter'))
      expect((await influxLogs(machine, 'counter')).filter((l) => l.startsWith('stdout out '))).toHaveLength(
        500,
      )
      expect(await influxLogs(machine, 'restarter')).toEqual(await engineLogs(machine, 'restarter'))
      expect(await influxLogs(machine, 'restarter')).toHaveLength(3)
      expect(await influxLogs(machine, 'tty')).toEqual([
        'tty tty 1',
        'tty tty 2',
        'tty tty 3',
        'tty tty 4',
        'tty tty 5',
      ])
      expect(await influxLogs(machine, 'long')).toEqual(['stdout after', `stdout ${'x'.repeat(40000)}`])
      expect(await influxLogs(machine, 'flood')).toEqual(await engineLogs(machine, 'flood'))
      const expected = await engineEvents(machine, names, since)
      const written = await influxEvents(machine, names)
      expect(
        written
          .filter((e) => !e.resync)
          .map((e) => e.key)
          .sort(),
      ).toEqual(expected.map((e) => e.key).sort())
      expect(expected.filter((e) => e.key === 'restarter start')).toHaveLength(3)
      // Each point sits at its event's timeNano (+k ns only for events of one instant), to the µs.
      const times = new Set(expected.map((e) => e.timeNano / 1000n))
      for (const e of written.filter((w) => !w.resync)) expect(times.has(e.time), e.key).toBe(true)
      const exitCodes = await influx(
        `SELECT exit_code FROM berth_event WHERE host = '${machine}' AND actor = 'restarter' AND action = 'die'`,
      )
      expect(exitCodes[0]!.values.map((v) => v[1])).toEqual([3, 3, 3])
    }
    // The label became a tag as it is: spaces, commas, quotes, an inner backslash; the hostile ones are not tags.
    const tags = await influx(
      `SHOW TAG VALUES FROM docker_container_status WITH KEY = "team" WHERE container_name = 'counter'`,
    )
    expect(tags[0]!.values.map((v) => v[1])).toEqual(['ops, "blue" = yes\\back'])
    const keys = await influx(`SHOW TAG KEYS FROM docker_container_status`)
    expect(keys[0]!.values.map((v) => v[0])).not.toEqual(expect.arrayContaining(['nl']))
    expect(keys[0]!.values.map((v) => v[0])).not.toEqual(expect.arrayContaining(['host\\']))
    const containerNames = await influx(
      `SHOW TAG VALUES FROM docker_container_status WITH KEY = "container_name" WHERE host = '${m1}'`,
    )
    expect(containerNames[0]!.values.map((v) => v[1])).not.toContain('fake')
    // Counted while counter is known (a stopped container stays in the list); 5 per machine.
    for (const s of await status(m1, m2)) expect(s.labelsDropped).toBe(5)
    expect((await status(m1, m2)).map((s) => s.health)).toEqual(['ok', 'ok'])
  })

  it('a container printing 50 MB without a newline: one line cut at the --max-line-bytes cap (48 KiB, above the 40,000-byte line the workloads test whole), counted, and the agent stays far under its memory limit', async () => {
    await ok(
      docker(m1, [
        'run',
        '-d',
        '--name',
        'nonl',
        'bb:1',
        'sh',
        '-c',
        "head -c 50000000 /dev/zero | tr '\\0' x; echo; echo after",
      ]),
    )
    const cut = await until(
      'the cut line',
      async () => {
        const series = await influx(
          `SELECT message, truncated FROM docker_log WHERE host = '${m1}' AND container_name = 'nonl'`,
        )
        return series[0]?.values.length === 2 ? series[0].values : undefined
      },
      90_000,
    )
    expect(cut.map((v) => [(v[1] as string).length, v[2]])).toEqual([
      [49152, true],
      [5, null],
    ])
    const [after] = await status(m1)
    expect(after!.linesTruncated).toBe(1)
    const agent = JSON.parse(await ok(docker(m1, ['inspect', 'berth-agent'])))[0] as {
      Id: string
      RestartCount: number
      State: {OOMKilled: boolean}
    }
    expect([agent.RestartCount, agent.State.OOMKilled]).toEqual([0, false])
    // The kernel's own high-water mark of the agent's memory (page cache included) since it started,
    // from its memory cgroup as the agent itself sees it (the host's cgroup namespace and cgroupfs).
    const peak = Number(
      await ok(
        docker(m1, [
          'exec',
          'berth-agent',
          '/usr/local/bin/node',
          '-e',
          `const fs = require('fs')
      const path = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\\n').find((l) => /:memory:/.test(l)).split(':')[2]
      process.stdout.write(fs.readFileSync('/host/sys/fs/cgroup/memory' + path + '/memory.max_usage_in_bytes', 'utf8').trim())`,
        ]),
      ),
    )
    console.log(
      `agent memory peak through 50 MB without a newline: ${(peak / 1048576).toFixed(1)} MiB (limit 224 MiB), RSS now ${((after!.rssBytes ?? 0) / 1048576).toFixed(1)} MiB`,
    )
    expect(peak).toBeGreaterThan(0)
    expect(peak).toBeLessThan(200 * 1024 * 1024)
    await ok(docker(m1, ['rm', '-f', 'nonl']))
  })

  it('stats: a CPU burner reads near what the Docker stats API says (near 100% on an idle core), a memory hog its size', async () => {
    await ok(docker(m2, ['run', '-d', '--name', 'burner', 'bb:1', 'sh', '-c', 'while :; do :; done']))
    // The hog also pings its gateway, so its network counters move.
    await ok(
      docker(m2, [
        'run',
        '-d',
        '--name',
        'hog',
        '--tmpfs',
        '/hog:size=200m',
        'bb:1',
        'sh',
        '-c',
        "dd if=/dev/zero of=/hog/fill bs=1M count=100 2>/dev/null; ping -c 3 $(ip route | awk '/default/ {print $3}'); sleep 3600",
      ]),
    )
    // Let the agent see the burner for a few cycles, then take the stats API's figure (the Telegraf
    // way) repeatedly over one window and the agent's mean over the same window: on a busy machine
    // the burner's share moves, so only the same seconds compare.
    await new Promise((r) => setTimeout(r, 4000))
    const windowStart = Date.now()
    const samples: number[] = []
    while (Date.now() - windowStart < 10_000) {
      samples.push(
        Number(
          (await ok(docker(m2, ['stats', '--no-stream', '--format', '{{.CPUPerc}}', 'burner'])))
            .trim()
            .replace('%', ''),
        ),
      )
    }
    const windowEnd = Date.now()
    const apiCpu = samples.reduce((a, b) => a + b, 0) / samples.length
    const cpu = await influx(
      `SELECT mean(usage_percent) FROM docker_container_cpu WHERE host = '${m2}' AND container_name = 'burner' AND cpu = 'cpu-total' AND time >= ${windowStart}ms AND time <= ${windowEnd}ms`,
    )
    const agentCpu = cpu[0]!.values[0]![1] as number
    console.log(
      `burner: agent ${agentCpu.toFixed(1)}%, stats API ${apiCpu.toFixed(1)}% (${samples.length} samples)`,
    )
    expect(agentCpu).toBeGreaterThan(Math.min(80, apiCpu * 0.7))
    expect(agentCpu).toBeLessThan(Math.max(110, apiCpu * 1.3))
    const mem = await influx(
      `SELECT last(usage) FROM docker_container_mem WHERE host = '${m2}' AND container_name = 'hog'`,
    )
    const usage = mem[0]!.values[0]![1] as number
    expect(usage).toBeGreaterThan(100 * 1024 * 1024)
    expect(usage).toBeLessThan(110 * 1024 * 1024)
    for (const measurement of [
      'docker',
      'docker_container_cpu',
      'docker_container_mem',
      'docker_container_net',
      'docker_container_blkio',
      'docker_container_status',
      'cpu',
      'mem',
      'system',
      'berth_agent',
    ]) {
      expect(
        (await influx(`SELECT count(*) FROM ${measurement} WHERE host = '${m2}'`)).length,
        measurement,
      ).toBe(1)
    }
    const net = await influx(
      `SELECT last(tx_packets), last(rx_packets) FROM docker_container_net WHERE host = '${m2}' AND container_name = 'hog' AND network = 'eth0'`,
    )
    expect(net[0]!.values[0]!.slice(1).map((v) => (v as number) >= 3)).toEqual([true, true])
    await ok(docker(m2, ['rm', '-f', 'burner', 'hog']))
  })

  it('loses and repeats nothing through an InfluxDB outage, a killed agent and a restarted dockerd', async () => {
    // 9000 lines over about 90 s or more; the faults happen while it writes.
    await ok(
      docker(m1, [
        'run',
        '-d',
        '--name',
        'steady',
        'bb:1',
        'sh',
        '-c',
        'i=1; while [ $i -le 9000 ]; do echo "seq $i"; i=$((i+1)); usleep 10000; done',
      ]),
    )
    await new Promise((r) => setTimeout(r, 3000))
    // InfluxDB unreachable for 60 s; meanwhile agent status must say so and the spool must fill.
    await proxy.down()
    const outageStarted = Date.now()
    const during = await until(
      'the outage to show in agent status',
      async () => {
        const [s] = await status(m1)
        return s?.health === 'error' && (s.pointsSpooled ?? 0) > 0 ? s : undefined
      },
      30_000,
    )
    expect(during.lastError).toMatch(/cannot reach InfluxDB at http:\/\/.*: (ECONNREFUSED|ECONNRESET)/)
    await new Promise((r) => setTimeout(r, 60_000 - (Date.now() - outageStarted)))
    await proxy.up()
    // Killed mid-stream (SIGKILL, no chance to save): dockerd restarts it.
    const pid = (await ok(docker(m1, ['inspect', '-f', '{{.State.Pid}}', 'berth-agent']))).trim()
    await ok(lab.berth(['ssh', m1, `kill -9 ${pid}`]))
    await until(
      'the agent to be back',
      async () => ((await status(m1))[0]?.state === 'running' ? true : undefined),
      60_000,
    )
    await new Promise((r) => setTimeout(r, 5000))
    await ok(lab.berth(['ssh', m1, 'systemctl restart docker']))
    await until(
      'the agent after the dockerd restart',
      async () => ((await status(m1))[0]?.health === 'ok' ? true : undefined),
      90_000,
    )
    // The workload died with dockerd; the engine's log file is the truth to compare with.
    const engine = await engineLogs(m1, 'steady')
    expect(engine.length).toBeGreaterThan(1000)
    await until(
      'every line of steady',
      async () => ((await influxLogs(m1, 'steady')).length >= engine.length ? true : undefined),
      60_000,
    )
    await new Promise((r) => setTimeout(r, 3000))
    expect(await influxLogs(m1, 'steady')).toEqual(engine)
    // After recovery: new workloads are exact again, and the spool drained.
    const afterSince = Math.floor(Date.now() / 1000) - 1
    await ok(
      docker(m1, [
        'run',
        '--name',
        'after',
        'bb:1',
        'sh',
        '-c',
        'i=1; while [ $i -le 200 ]; do echo "after $i"; i=$((i+1)); done',
      ]),
    )
    // As long as the wait for the steady lines: once in CI, with three suites running, 30 s ran out.
    await until(
      'the lines after recovery',
      async () => ((await influxLogs(m1, 'after')).length >= 200 ? true : undefined),
      60_000,
    )
    expect(await influxLogs(m1, 'after')).toEqual(await engineLogs(m1, 'after'))
    const recovered = (await status(m1))[0]!
    expect([recovered.health, recovered.spoolBytes]).toEqual(['ok', 0])
    // No event is written twice, and the events after recovery are the engine's, exactly.
    const events = await influxEvents(m1, ['steady', 'after'])
    expect(new Set(events.map((e) => `${e.key} ${e.time}`)).size).toBe(events.length)
    const expected = await engineEvents(m1, ['after'], afterSince)
    expect(
      events
        .filter((e) => e.key.startsWith('after '))
        .map((e) => e.key)
        .sort(),
    ).toEqual(expected.map((e) => e.key).sort())
  })
})

describe('bad input', () => {
  it('wrong URL, missing database, wrong credentials: the agent runs and agent status says what is wrong', async () => {
    const wrongUrl = await lab.berth([
      'agent',
      'install',
      '-q',
      m2,
      '--influx-url',
      `http://${gateway}:1`,
      '--database',
      db,
      '--env',
      'BERTH_AGENT_FLUSH_MS=300',
    ])
    expect(wrongUrl.code, wrongUrl.stderr).toBe(0)
    expect(wrongUrl.stderr).toMatch(
      /Warning: the agent on .* reports: cannot reach InfluxDB at http:\/\/.*:1: ECONNREFUSED/,
    )
    const [unreachable] = await status(m2)
    expect([unreachable!.state, unreachable!.health]).toEqual(['running', 'error'])

    await ok(lab.berth(installArgs([m2]).map((a) => (a === db ? 'no_such_db_e2e' : a))))
    const missing = await until(
      'the missing database in status',
      async () => {
        const [s] = await status(m2)
        return s?.lastError?.includes('404') ? s : undefined
      },
      20_000,
    )
    expect(missing.lastError).toMatch(/InfluxDB has no database "no_such_db_e2e" \(404\): database not found/)

    const tokenFile = join(secretsDir, 'token')
    await writeFile(tokenFile, 'tok-right-2718\n', {mode: 0o600})
    const v2 = await startInfluxV2StandIn(gateway, () => 'tok-right-2718')
    const v2Url = v2.url
    try {
      const wrongToken = join(secretsDir, 'wrong-token')
      await writeFile(wrongToken, 'tok-wrong\n', {mode: 0o600})
      const denied = await lab.berth([
        'agent',
        'install',
        '-q',
        m2,
        '--influx-url',
        v2Url,
        '--bucket',
        db,
        '--org',
        'e2e',
        '--token-file',
        wrongToken,
        '--allow-insecure',
        '--env',
        'BERTH_AGENT_FLUSH_MS=300',
      ])
      expect(denied.code, denied.stderr).toBe(0)
      const [refused] = await status(m2)
      expect(refused!.lastError).toMatch(/InfluxDB refused the credentials \(401\): unauthorized access/)

      const accepted = await lab.berth([
        'agent',
        'install',
        '-q',
        m2,
        '--influx-url',
        v2Url,
        '--bucket',
        db,
        '--org',
        'e2e',
        '--token-file',
        tokenFile,
        '--allow-insecure',
        '--env',
        'BERTH_AGENT_FLUSH_MS=300',
        '--json',
      ])
      expect(accepted.code, accepted.stderr).toBe(0)
      expect(JSON.parse(accepted.stdout)[0].health).toBe('ok')
      const inspect = await ok(docker(m2, ['inspect', 'berth-agent']))
      expect(inspect).not.toContain('tok-right')
      expect(inspect).toContain('BERTH_AGENT_TOKEN_FILE=/run/berth-agent/token')
      expect(accepted.stdout + accepted.stderr).not.toContain('tok-right')
    } finally {
      await v2.close()
    }
  })

  it('refuses bad flags with one line and a non-zero exit, before touching a machine', async () => {
    const cases: [string[], RegExp, number][] = [
      [
        ['agent', 'install', m2, '--influx-url', 'http://x:8086'],
        /say where to write: --database NAME, or --bucket/,
        2,
      ],
      [['agent', 'install', m2, '--influx-url', 'ftp://x', '--database', 'd'], /must be http or https/, 2],
      [
        ['agent', 'install', m2, '--influx-url', 'http://u:p@x', '--database', 'd'],
        /must not carry credentials/,
        2,
      ],
      [
        ['agent', 'install', m2, '--influx-url', 'http://x', '--bucket', 'b', '--org', 'o'],
        /--bucket needs --org and --token-file/,
        2,
      ],
      [
        [
          'agent',
          'install',
          m2,
          '--influx-url',
          'http://x',
          '--bucket',
          'b',
          '--org',
          'o',
          '--token-file',
          '/nonexistent/t',
        ],
        /cannot read the token file \/nonexistent\/t: ENOENT/,
        2,
      ],
      [
        [
          'agent',
          'install',
          m2,
          '--influx-url',
          'http://x',
          '--database',
          'd',
          '--env',
          'BERTH_AGENT_TOKEN_FILE=/x',
        ],
        /cannot be set with --env/,
        2,
      ],
      [
        ['agent', 'install', 'never-made', '--influx-url', 'http://x', '--database', 'd'],
        /machine "never-made" does not exist/,
        4,
      ],
      [
        ['agent', 'install', '--influx-url', 'http://x', '--database', 'd'],
        /name at least one machine, or pass --all/,
        2,
      ],
    ]
    const before = await ok(docker(m2, ['inspect', '-f', '{{.Id}}', 'berth-agent']))
    for (const [args, message, code] of cases) {
      const result = await lab.berth(args)
      expect(result.code, args.join(' ')).toBe(code)
      expect(result.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1)
      expect(result.stderr, args.join(' ')).toMatch(message)
    }
    expect(await ok(docker(m2, ['inspect', '-f', '{{.Id}}', 'berth-agent']))).toBe(before)
  })

  it('agent rm removes the agent, the API filter and their volumes; status then says not installed', async () => {
    const removed = await lab.berth(['agent', 'rm', '--json', m1, m2])
    expect(removed.code, removed.stderr).toBe(0)
    expect(JSON.parse(removed.stdout)).toEqual([
      {ok: true, name: m1, removed: true},
      {ok: true, name: m2, removed: true},
    ])
    expect((await status(m1, m2)).map((s) => s.state)).toEqual(['not installed', 'not installed'])
    const volumes = (await ok(docker(m1, ['volume', 'ls', '-q']))).split('\n')
    for (const volume of ['berth-agent-state', 'berth-agent-api', 'berth-agent-secrets'])
      expect(volumes).not.toContain(volume)
    expect((await ok(docker(m1, ['ps', '-a', '--filter', 'name=berth-agent', '-q']))).trim()).toBe('')
    expect((await lab.berth(['agent', 'rm', m1])).stdout.trim()).toBe(`${m1} had no agent`)
  })
})
