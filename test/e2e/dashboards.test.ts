/**
 * berth's dashboards against real data: one lab machine runs the real agent (`berth agent install`)
 * writing into the real InfluxDB, next to workloads that burn CPU, log on stdout and stderr, die and
 * restart, get restarted, and do direct disk I/O. Every panel query of every committed dashboard,
 * with its variables and time filter expanded as Grafana does, must return data, and so must the
 * queries of the popular Telegraf Docker dashboard (grafana.com 1150).
 */
import {spawn} from 'node:child_process'
import {readdir, readFile, stat} from 'node:fs/promises'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {InfluxQuery, runPanelQueries, type PanelQueryResult} from '../../src/core/dashboards/harness.js'
import {httpRequest} from '../../src/core/http.js'
import {busyboxTar, Lab, LAB_INFLUX, labBridgeGateway, ok, REPO, run, until} from '../lab/lab.js'

const INFLUX = LAB_INFLUX
/** The agent collects every 2 s here; the data source's minimum interval matches it, as `--min-interval 2s` would. */
const INTERVAL_S = 2
const RANGE = {from: 'now-10m', to: 'now'}

let lab: Lab
let machine: string
let db: string
let dockerEnv: NodeJS.ProcessEnv
let influx: InfluxQuery
/* eslint-disable @typescript-eslint/no-explicit-any -- dashboard JSON */
let dashboards: any[]
/** Whether the kernel accounts the disk workload's block I/O (some sandboxes account none). */
let blkio = false

const docker = (args: string[], input?: Buffer) => run('docker', args, {env: dockerEnv, input})
const influxAdmin = (q: string) => fetch(`${INFLUX}/query?${new URLSearchParams({q})}`, {method: 'POST'})

/** Panels reading docker_container_blkio's byte counters. */
const readsBlkio = (r: PanelQueryResult) => r.query.includes('"docker_container_blkio"')

/**
 * Whether the machine's kernel accounts block I/O to the disk workload's cgroup at all. Some
 * sandboxes count none (every blkio file reads `Total 0`, even after O_DIRECT writes): then blkio
 * panels have nothing to show, and the test says so instead of pretending.
 */
async function kernelCountsBlockIO(): Promise<boolean> {
  const id = (await ok(docker(['inspect', '-f', '{{.Id}}', 'disk']))).trim()
  const script = `cat $(find /sys/fs/cgroup -path '*${id}*' \\( -name blkio.throttle.io_service_bytes_recursive -o -name io.stat \\) | head -1)`
  const stats = await ok(lab.berth(['ssh', machine, '--', script]))
  return [...stats.matchAll(/(?:Read |Write |rbytes=|wbytes=)(\d+)/g)].some((m) => Number(m[1]) > 0)
}

/** An InfluxDB image made here from Debian's influxd and the libraries it links (no registry is reachable). */
async function influxdbImageTar(): Promise<Buffer> {
  const script =
    'd=$(mktemp -d) && mkdir -p $d/usr/bin $d/tmp && cp /usr/bin/influxd $d/usr/bin/ && ' +
    'for lib in $(ldd /usr/bin/influxd | grep -o "/[^ ]*"); do mkdir -p $d$(dirname $lib) && cp -L $lib $d$lib; done && tar -C $d -c . && rm -rf $d'
  const result = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn('sh', ['-c', script])
    const chunks: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => chunks.push(c))
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`influxd image tar exited ${code}`)),
    )
  })
  return result
}

const describeResult = (r: PanelQueryResult) =>
  `${r.dashboard} / ${r.panel} / ${r.refId}: ${r.error ?? `${r.rows} rows`}\n    ${r.query}`

beforeAll(async () => {
  lab = await Lab.create()
  machine = lab.name('dash')
  db = `dashboards_e2e_${machine.slice(-6)}`
  influx = new InfluxQuery({url: INFLUX, database: db})
  const dir = join(REPO, 'dashboards', 'json')
  dashboards = await Promise.all(
    (await readdir(dir)).sort().map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8'))),
  )
  const gateway = await labBridgeGateway()
  await influxAdmin(`CREATE DATABASE ${db}`)
  const [created, busybox] = await Promise.all([lab.berth(['create', '-q', machine]), busyboxTar()])
  expect(created.code, created.stderr).toBe(0)
  dockerEnv = await lab.dockerEnv(machine)
  await Promise.all([
    ok(docker(['import', '-', 'bb:1'], busybox)),
    ok(
      lab.berth([
        'agent',
        'install',
        '-q',
        machine,
        '--influx-url',
        `http://${gateway}:8086`,
        '--database',
        db,
        '--interval',
        String(INTERVAL_S),
        '--env',
        'BERTH_AGENT_FLUSH_MS=500',
      ]),
    ),
  ])
  const workload = (name: string, script: string, extra: string[] = []) =>
    ok(docker(['run', '-d', '--name', name, ...extra, 'bb:1', 'sh', '-c', script]))
  await Promise.all([
    workload('logger', 'i=0; while :; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); sleep 1; done'),
    workload('busy', 'while :; do i=0; while [ $i -lt 5000 ]; do i=$((i+1)); done; sleep 1; done'),
    workload('crasher', 'echo "crashing soon"; sleep 2; exit 3', ['--restart', 'on-failure:2']),
    workload(
      'disk',
      'while :; do dd if=/dev/zero of=/data/f bs=64k count=16 oflag=direct 2>/dev/null; dd if=/data/f of=/dev/null bs=64k iflag=direct 2>/dev/null; sleep 1; done',
      ['-v', '/data'],
    ),
  ])
  await ok(docker(['restart', '-t', '1', 'busy']))
})

afterAll(async () => {
  await lab?.berth(['rm', '-f', machine])
  await influxAdmin(`DROP DATABASE ${db}`)
  await lab?.cleanup()
})

describe('dashboards on data from the real agent', () => {
  it('every panel query of every dashboard returns data', async () => {
    expect(dashboards.map((d) => d.uid).sort()).toEqual([
      'berth-container',
      'berth-events',
      'berth-fleet',
      'berth-host',
    ])
    blkio = await kernelCountsBlockIO()
    let results: PanelQueryResult[] = []
    const empty = () => results.filter((r) => (r.error || r.rows === 0) && (blkio || !readsBlkio(r)))
    // Derivatives need two intervals and the crasher three runs: wait for them, then every panel must have data.
    await until(
      'every panel to have data',
      async () => {
        results = await runPanelQueries(dashboards, influx, {range: RANGE, minIntervalMs: INTERVAL_S * 1000})
        return empty().length === 0 ? results : undefined
      },
      120_000,
    ).catch(() => undefined)
    expect(empty().map(describeResult)).toEqual([])
    expect(results.length).toBeGreaterThan(50)
    const emptyBlkio = results.filter((r) => readsBlkio(r) && (r.error || r.rows === 0))
    if (emptyBlkio.length) {
      // Nothing to show is right only if the kernel counted nothing and the agent wrote no blkio byte counters at all.
      expect(
        await influx.query(`SELECT count("io_service_bytes_recursive_total") FROM "docker_container_blkio"`),
      ).toEqual([])
      console.warn(
        'this kernel accounts no block I/O to cgroups: blkio panels were checked to be empty, not to have data',
      )
    }

    // `berth dashboards check` reports the same, and fails exactly when a panel has no data.
    const check = await lab.berth([
      'dashboards',
      'check',
      '--influx-url',
      INFLUX,
      '--database',
      db,
      '--from',
      RANGE.from,
      '--min-interval',
      `${INTERVAL_S}s`,
      '--json',
    ])
    const reported = (JSON.parse(check.stdout) as {panels: PanelQueryResult[]}).panels
      .filter((r) => r.error || r.rows === 0)
      .map((r) => `${r.dashboard} ${r.panel} ${r.refId}`)
      .sort()
    const expected = emptyBlkio.map((r) => `${r.dashboard} ${r.panel} ${r.refId}`).sort()
    expect(reported).toEqual(expected)
    expect(check.code).toBe(expected.length ? 1 : 0)
    if (expected.length)
      expect(check.stderr.trim()).toBe(
        `Error: ${expected.length} of ${results.length} panel queries returned no data (first: berth-fleet / Disk I/O per host)`,
      )
  })

  it("the container view shows one container's logs, its death and its restarts", async () => {
    const container = dashboards.find((d) => d.uid === 'berth-container')
    const panel = async (name: string, title: string) => {
      const results = await runPanelQueries([container], influx, {
        range: RANGE,
        minIntervalMs: INTERVAL_S * 1000,
        overrides: {container: [name]},
      })
      return results.filter((r) => r.panel === title)
    }
    const logs = (await panel('logger', 'Logs'))[0]!
    const lines = logs.series.flatMap((s) =>
      s.values.map((row) => `${row[s.columns.indexOf('stream')]} ${row[s.columns.indexOf('message')]}`),
    )
    expect(lines).toEqual(expect.arrayContaining(['stdout out 1', 'stderr err 1']))
    expect(lines.every((line) => /^(stdout out|stderr err) \d+$/.test(line))).toBe(true)

    // The first run and two restarts by on-failure:2, each ending in a die.
    const dieRows = async () => {
      const events = (await panel('crasher', 'Events'))[0]!.series[0]
      return events
        ? events.values
            .filter((row) => row[events.columns.indexOf('action')] === 'die')
            .map((row) => ({exitCode: row[events.columns.indexOf('exit_code')]}))
        : []
    }
    const dies = await until(
      'three die events of the crasher',
      async () => ((await dieRows()).length >= 3 ? dieRows() : undefined),
      120_000,
    )
    expect(dies).toEqual([{exitCode: 3}, {exitCode: 3}, {exitCode: 3}])
    const restarts = (await panel('crasher', 'Restart count'))[0]!.series[0]!
    expect(restarts.values[0]![1]).toBe(2)
  })

  it('the Telegraf Docker dashboard (1150) queries return data', async () => {
    const where = '"host" =~ /^$server$/ AND $timeFilter'
    const telegraf = {
      uid: 'telegraf-1150',
      templating: {
        list: [
          {
            type: 'query',
            name: 'server',
            multi: false,
            includeAll: false,
            query: 'SHOW TAG VALUES FROM "docker" WITH KEY = "host"',
          },
        ],
      },
      panels: [
        ...[
          'n_containers',
          'n_containers_running',
          'n_containers_stopped',
          'n_containers_paused',
          'n_images',
        ].map((field) => ({
          title: field,
          targets: [{refId: 'A', query: `SELECT last("${field}") FROM "docker" WHERE ${where}`}],
        })),
        {
          title: 'CPU usage',
          targets: [
            {
              refId: 'A',
              query: `SELECT mean("usage_percent") FROM "docker_container_cpu" WHERE ${where} GROUP BY time($__interval), "container_name"`,
            },
          ],
        },
        {
          title: 'Memory usage',
          targets: [
            {
              refId: 'A',
              query: `SELECT mean("usage") FROM "docker_container_mem" WHERE ${where} GROUP BY time($__interval), "container_name"`,
            },
          ],
        },
        {
          title: 'Network',
          targets: ['rx_bytes', 'tx_bytes'].map((field, i) => ({
            refId: 'AB'[i],
            query: `SELECT non_negative_derivative(mean("${field}"), 1s) FROM "docker_container_net" WHERE ${where} GROUP BY time($__interval), "container_name"`,
          })),
        },
      ],
    }
    const results = await runPanelQueries([telegraf], influx, {
      range: RANGE,
      minIntervalMs: INTERVAL_S * 1000,
    })
    expect(results.filter((r) => r.error || r.rows === 0).map(describeResult)).toEqual([])
    expect(results).toHaveLength(9)
    // The agent's count is the engine's own (`docker info`), a collection interval or two ago.
    const counts = async () => {
      const engine = Number((await ok(docker(['info', '--format', '{{.ContainersRunning}}']))).trim())
      const agent = (
        await influx.query(`SELECT last("n_containers_running") FROM "docker" WHERE "host" = '${machine}'`)
      )[0]?.values[0]?.[1]
      return {engine, agent}
    }
    const agreed = await until(
      "the agent's running count to match the engine's",
      async () => {
        const c = await counts()
        return c.agent === c.engine ? c : undefined
      },
      20_000,
    ).catch(async () => ({
      ...(await counts()),
      containers: await ok(docker(['ps', '-a', '--format', '{{.Names}} {{.State}}'])),
    }))
    expect(agreed).toEqual({engine: agreed.engine, agent: agreed.engine})
  })
})

describe('berth monitor on the same machine', () => {
  const IMAGE = 'berth-e2e/influxdb:1.6'
  /** What `monitor up --json` printed. */
  let up: {
    influxUrl: string
    caFile: string
    listenAddress: string
    influxCredentials: Record<'admin' | 'writer' | 'reader', {username: string; passwordFile: string}>
  }
  let ca: string
  const password = async (role: 'admin' | 'writer' | 'reader') =>
    (await readFile(up.influxCredentials[role].passwordFile, 'utf8')).trim()
  const reader = async () =>
    new InfluxQuery(
      {url: up.influxUrl, database: 'berth', username: 'berth_reader'},
      {password: await password('reader'), ca},
    )
  /** A request to the monitor's InfluxDB, as `user` (or nobody), over https verified with the machine's CA. */
  const influxAs = async (role: 'writer' | 'reader' | undefined, path: string, body?: string) =>
    httpRequest(`${up.influxUrl}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      ca,
      body,
      headers: role
        ? {
            Authorization: `Basic ${Buffer.from(`berth_${role}:${await password(role)}`).toString('base64')}`,
          }
        : {},
    })

  it('refuses an image the machine lacks and cannot pull, leaving nothing behind', async () => {
    const result = await lab.berth([
      'monitor',
      'up',
      '-q',
      machine,
      '--influx-image',
      'berth-e2e/missing:1',
      '--no-grafana',
    ])
    expect(result.code).toBe(1)
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^Error: image berth-e2e\/missing:1 is not on .* and could not be pulled: /),
    ])
    expect(await ok(docker(['ps', '-a', '--filter', 'name=berth-influxdb', '--format', '{{.Names}}']))).toBe(
      '',
    )
  })

  it('runs InfluxDB from a locally built image, private: https from the machine CA, users only, on the machine address', async () => {
    await ok(docker(['import', '-c', 'CMD ["/usr/bin/influxd"]', '-', IMAGE], await influxdbImageTar()))
    up = JSON.parse(
      await ok(
        lab.berth([
          'monitor',
          'up',
          machine,
          '--influx-image',
          IMAGE,
          '--no-grafana',
          '--agent',
          machine,
          '--interval',
          String(INTERVAL_S),
          '--json',
        ]),
      ),
    )
    const ip = (await ok(lab.berth(['ip', machine]))).trim()
    const dir = join(lab.storePath, 'machines', machine)
    expect(up).toMatchObject({
      machine,
      database: 'berth',
      agents: [{name: machine, ok: true}],
      influxUrl: `https://${ip}:8086`,
      listenAddress: ip,
      caFile: join(dir, 'ca.pem'),
    })
    ca = await readFile(up.caFile, 'utf8')
    // Nobody writes or reads without a user; a wrong password is refused too.
    const unauthenticatedWrite = await influxAs(undefined, '/write?db=berth', 'intruder v=1')
    expect([unauthenticatedWrite.status, unauthenticatedWrite.text]).toEqual([
      401,
      expect.stringContaining('unable to parse authentication credentials'),
    ])
    const unauthenticatedQuery = await influxAs(
      undefined,
      `/query?db=berth&q=${encodeURIComponent('SHOW MEASUREMENTS')}`,
    )
    expect(unauthenticatedQuery.status).toBe(401)
    const wrong = await httpRequest(`${up.influxUrl}/query?q=SHOW+DATABASES`, {
      ca,
      headers: {Authorization: `Basic ${Buffer.from('berth_admin:guess').toString('base64')}`},
    })
    expect([wrong.status, wrong.text]).toEqual([401, expect.stringContaining('authorization failed')])
    // Each user does its own job only: the reader cannot write, the writer cannot read.
    expect((await influxAs('reader', '/write?db=berth', 'intruder v=1')).status).toBe(403)
    expect(
      (await influxAs('writer', `/query?db=berth&q=${encodeURIComponent('SHOW MEASUREMENTS')}`)).status,
    ).toBe(403)
    // Only https, only with a certificate the machine's CA signed; plain http gets no answer from InfluxDB.
    await expect(httpRequest(`${up.influxUrl}/ping`)).rejects.toThrow(
      /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
    )
    const plain = await httpRequest(`http://${ip}:8086/ping`).catch((err: Error) => err)
    expect(plain instanceof Error ? plain.message : `HTTP ${plain.status}`).not.toBe('HTTP 204')
    // Published on the machine's address alone, secrets nowhere in the containers' configuration.
    expect(
      JSON.parse(await ok(docker(['inspect', '-f', '{{json .HostConfig.PortBindings}}', 'berth-influxdb']))),
    ).toEqual({
      '8086/tcp': [{HostIp: ip, HostPort: '8086'}],
    })
    const inspect = await ok(docker(['inspect', 'berth-influxdb', 'berth-agent']))
    for (const role of ['admin', 'writer', 'reader'] as const)
      expect(inspect).not.toContain(await password(role))
    expect(inspect).toContain('BERTH_AGENT_PASSWORD_FILE=')
    expect((await stat(join(dir, 'monitor'))).mode & 0o777).toBe(0o700)
    for (const role of ['admin', 'writer', 'reader'] as const)
      expect((await stat(up.influxCredentials[role].passwordFile)).mode & 0o777).toBe(0o600)
  })

  it('the agent writes with the generated writer, and every panel has data for the reader', async () => {
    await ok(docker(['restart', '-t', '1', 'busy'])) // events after the switch, for the event panels
    const monitor = await reader()
    let results: PanelQueryResult[] = []
    const empty = () => results.filter((r) => (r.error || r.rows === 0) && (blkio || !readsBlkio(r)))
    await until(
      'every panel to have data in the monitor InfluxDB',
      async () => {
        results = await runPanelQueries(dashboards, monitor, {range: RANGE, minIntervalMs: INTERVAL_S * 1000})
        return empty().length === 0 ? results : undefined
      },
      120_000,
    ).catch(() => undefined)
    expect(empty().map(describeResult)).toEqual([])
    // `dashboards check` reaches it the same way: the reader's password file and the machine's CA.
    const check = await lab.berth([
      'dashboards',
      'check',
      '--alerts-only',
      '--influx-url',
      up.influxUrl,
      '--influx-user',
      'berth_reader',
      '--influx-password-file',
      up.influxCredentials.reader.passwordFile,
      '--influx-ca-file',
      up.caFile,
      '--json',
    ])
    expect(check.code, check.stderr).toBe(0)
    const alerts = (JSON.parse(check.stdout) as {alerts: Array<{state: string}>}).alerts
    expect(alerts.length).toBeGreaterThanOrEqual(8)
    expect(alerts.filter((a) => a.state === 'error')).toEqual([])
  })

  it('keeps the data and the users across another `up`, and `down --volumes` removes containers, network and volume', async () => {
    const lines = async () =>
      (await (await reader()).query('SELECT count("message") FROM "docker_log"'))[0]?.values[0]?.[1] as
        number | undefined
    const before = await lines()
    expect(before).toBeGreaterThan(0)
    await ok(lab.berth(['monitor', 'up', '-q', machine, '--influx-image', IMAGE, '--no-grafana']))
    expect(await lines()).toBeGreaterThanOrEqual(before!)
    const down = JSON.parse(await ok(lab.berth(['monitor', 'down', machine, '--volumes', '--json'])))
    expect(down.removed.sort()).toEqual(['berth-influxdb', 'berth-influxdb-data', 'berth-monitor'])
    expect(await ok(docker(['ps', '-a', '--filter', 'name=berth-influxdb', '--format', '{{.Names}}']))).toBe(
      '',
    )
    expect(await ok(docker(['volume', 'ls', '-q', '--filter', 'name=berth-influxdb-data']))).toBe('')
  })
})
