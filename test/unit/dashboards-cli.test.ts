/**
 * The dashboards and monitor commands as a user runs them (the built CLI): one "Error:" line and the
 * right exit code on bad input, the token never echoed, export writing its files.
 * Needs dist/ (the test script builds first).
 */
import {execFile} from 'node:child_process'
import {createServer, type Server} from 'node:http'
import {chmod, mkdtemp, readdir, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

const BIN = resolve(import.meta.dirname, '../../bin/run.js')
const TOKEN = 'glsa_cliTestToken_987'
let dir: string
let grafana: Server
let grafanaUrl: string
const requests: string[] = []

function berth(args: string[]): Promise<{code: number; stdout: string; stderr: string}> {
  const env: NodeJS.ProcessEnv = {...process.env, BERTH_STORAGE_PATH: join(dir, 'store'), NO_COLOR: '1'}
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [BIN, ...args], {env, timeout: 30_000}, (err, stdout, stderr) => {
      resolvePromise({code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr})
    })
  })
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-dash-cli-'))
  await writeFile(join(dir, 'token'), TOKEN + '\n', {mode: 0o600})
  // Grafana refusing the token, as its API documents (401 with a JSON message).
  grafana = createServer((req, res) => {
    requests.push(`${req.method} ${req.url} ${req.headers.authorization}`)
    res.writeHead(401, {'Content-Type': 'application/json'}).end(JSON.stringify({message: 'Invalid API key'}))
  })
  await new Promise<void>((r) => grafana.listen(0, '127.0.0.1', r))
  grafanaUrl = `http://127.0.0.1:${(grafana.address() as {port: number}).port}`
})

afterAll(() => new Promise<void>((r) => grafana.close(() => r())))

const oneErrorLine = (stderr: string) => {
  const lines = stderr.trim().split('\n')
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(/^Error: /)
  return lines[0]
}

describe('berth dashboards and monitor on the command line', () => {
  it('install: a 401 is one line with a hint, the token sent as a bearer header and never printed', async () => {
    const result = await berth([
      'dashboards',
      'install',
      '--grafana-url',
      grafanaUrl,
      '--token-file',
      join(dir, 'token'),
      '--allow-insecure',
    ])
    expect(result.code).toBe(1)
    expect(oneErrorLine(result.stderr)).toMatch(
      /refused the token .*\(401: Invalid API key\) \(the token file must hold a Grafana service account token/,
    )
    expect(requests).toEqual([`GET /api/datasources/uid/berth-influxdb Bearer ${TOKEN}`])
    expect(result.stdout + result.stderr).not.toContain(TOKEN)
  })

  it('install: a bad URL or a missing token file is a usage error (exit 2) before any request', async () => {
    requests.length = 0
    const badUrl = await berth([
      'dashboards',
      'install',
      '--grafana-url',
      'ftp://grafana',
      '--token-file',
      join(dir, 'token'),
    ])
    expect([badUrl.code, oneErrorLine(badUrl.stderr)]).toEqual([
      2,
      'Error: --grafana-url must be http:// or https://, not ftp:',
    ])
    const noFile = await berth([
      'dashboards',
      'install',
      '--grafana-url',
      grafanaUrl,
      '--token-file',
      join(dir, 'nope'),
    ])
    expect(noFile.code).toBe(2)
    expect(oneErrorLine(noFile.stderr)).toMatch(/cannot read the token file .*nope: ENOENT/)
    expect(requests).toEqual([])
  })

  it('export writes the dashboards and provisioning files, and fails in one line where it cannot write', async () => {
    const out = join(dir, 'export')
    const result = await berth([
      'dashboards',
      'export',
      out,
      '--influx-url',
      'http://10.0.0.5:8086',
      '--json',
    ])
    expect(result.code, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout).files).toHaveLength(7) // 4 dashboards, data source, dashboards provider, alert rules
    // A bad alert setting is a usage error before anything is written.
    const bad = await berth(['dashboards', 'export', join(dir, 'export-bad'), '--alert', 'cpuPercent=150'])
    expect(bad.code).toBe(2)
    expect(oneErrorLine(bad.stderr)).toMatch(
      /--alert cpuPercent=150: cpuPercent must be a percentage from 0 to 100, not "150"/,
    )
    await expect(readdir(join(dir, 'export-bad'))).rejects.toThrow(/ENOENT/)
    expect((await readdir(join(out, 'json'))).sort()).toEqual([
      'berth-container.json',
      'berth-events.json',
      'berth-fleet.json',
      'berth-host.json',
    ])
    const blocked = await berth(['dashboards', 'export', join(dir, 'token', 'sub')])
    expect(blocked.code).toBe(1)
    expect(oneErrorLine(blocked.stderr)).toMatch(/cannot write the dashboards to .*: ENOTDIR/)
  })

  it('check: an unreachable InfluxDB and bad flags are one line', async () => {
    const unreachable = await berth(['dashboards', 'check', '--influx-url', 'http://127.0.0.1:9'])
    expect(unreachable.code).toBe(1)
    expect(oneErrorLine(unreachable.stderr)).toMatch(
      /^Error: cannot reach InfluxDB at http:\/\/127\.0\.0\.1:9: /,
    )
    const badRange = await berth([
      'dashboards',
      'check',
      '--influx-url',
      'http://127.0.0.1:9',
      '--from',
      'yesterday',
    ])
    expect([badRange.code, oneErrorLine(badRange.stderr)]).toEqual([
      2,
      expect.stringMatching(/"yesterday" is not a time/),
    ])
  })

  it('install: a token for a plain http Grafana is refused in one line (exit 2) without --allow-insecure, before any request', async () => {
    requests.length = 0
    const refused = await berth([
      'dashboards',
      'install',
      '--grafana-url',
      grafanaUrl,
      '--token-file',
      join(dir, 'token'),
    ])
    expect([refused.code, oneErrorLine(refused.stderr)]).toEqual([
      2,
      'Error: --grafana-url is plain http: the Grafana token would cross the network in clear, readable and replayable by anyone on the path (use https (--grafana-ca-file for a private CA), or --allow-insecure to send it anyway)',
    ])
    expect(requests).toEqual([])
    expect(refused.stdout + refused.stderr).not.toContain(TOKEN)
    const help = await berth(['dashboards', 'install', '--help'])
    expect(help.stdout.replace(/\s+/g, ' ')).toContain(
      '--allow-insecure Send the password or token over plain http (refused without this flag): anyone on the network path can read it and use it.',
    )
  })

  it('agent install: a password or token for a plain http InfluxDB is refused in one line (exit 2) without --allow-insecure, before any machine is looked at', async () => {
    await writeFile(join(dir, 'influx-password'), 'pw-agent-cli-555\n', {mode: 0o600})
    await writeFile(join(dir, 'influx-token'), 'tok-agent-cli-777\n', {mode: 0o600})
    const base = ['agent', 'install', 'nosuch', '--influx-url', 'http://10.0.0.5:8086', '--database', 'd']
    const password = ['--influx-username', 'u', '--influx-password-file', join(dir, 'influx-password')]
    const token = ['--token-file', join(dir, 'influx-token')]
    for (const [secret, flags] of [
      ['password', password],
      ['token', token],
    ] as const) {
      const refused = await berth([...base, ...flags])
      expect([refused.code, oneErrorLine(refused.stderr)]).toEqual([
        2,
        `Error: --influx-url is plain http: the ${secret} would cross the network in clear, readable and replayable by anyone on the path (use https (--influx-ca-file for a private CA), or --allow-insecure to send it anyway)`,
      ])
      expect(refused.stdout + refused.stderr).not.toMatch(/pw-agent-cli-555|tok-agent-cli-777/)
      // With the flag, or over https, or with no secret to send, it goes on to the machines (none here).
      for (const args of [
        [...base, ...flags, '--allow-insecure'],
        [...base.map((a) => a.replace('http:', 'https:')), ...flags],
        base,
      ]) {
        const next = await berth(args)
        expect([next.code, oneErrorLine(next.stderr)], args.join(' ')).toEqual([
          4,
          'Error: machine "nosuch" does not exist (run `berth ls` to see your machines)',
        ])
      }
    }
  })

  it('monitor up: a --listen-address that is not an IP address is a usage error before anything starts', async () => {
    for (const address of ['eth0', '10.0.0.5:8086']) {
      const result = await berth(['monitor', 'up', 'nosuch', '--listen-address', address])
      expect([result.code, oneErrorLine(result.stderr)]).toEqual([
        2,
        `Error: --listen-address must be an IP address of the machine (or 0.0.0.0 for every interface), not "${address}"`,
      ])
    }
    const help = await berth(['monitor', 'up', '--help'])
    expect(help.stdout.replace(/\s+/g, ' ')).toContain(
      "0.0.0.0 publishes them on every interface: reachable from every network the machine is on, and Docker's published ports bypass host firewalls such as ufw.",
    )
  })

  it('monitor up on a machine that does not exist: exit 4 before anything starts', async () => {
    const result = await berth(['monitor', 'up', 'nosuch', '--no-grafana'])
    expect(result.code).toBe(4)
    expect(oneErrorLine(result.stderr)).toBe(
      'Error: machine "nosuch" does not exist (run `berth ls` to see your machines)',
    )
  })
})

describe('secret files on the command line', () => {
  it('install refuses a token file others can read, in one line naming it and its mode, before any request', async () => {
    requests.length = 0
    const open = join(dir, 'token-open')
    await writeFile(open, TOKEN + '\n', {mode: 0o644})
    await chmod(open, 0o644)
    const result = await berth(['dashboards', 'install', '--grafana-url', grafanaUrl, '--token-file', open])
    expect(result.code).toBe(2)
    expect(oneErrorLine(result.stderr)).toBe(
      `Error: the token file ${open} is readable by others (mode 0644) (run \`chmod 600 ${open}\`)`,
    )
    expect(result.stdout + result.stderr).not.toContain(TOKEN)
    expect(requests).toEqual([])
  })
})

describe('URLs on the command line (the attacker: a URL that leaks, or reads local files)', () => {
  const SECRET = 's3cretPassw0rd'
  it('dashboards check refuses file:// and credentials in one line, never echoing them, before any request', async () => {
    const runs = await Promise.all(
      [
        [`file:///etc/passwd`, /^Error: --influx-url must be http:\/\/ or https:\/\/, not file:$/],
        [
          `http://admin:${SECRET}@127.0.0.1:1`,
          /^Error: --influx-url must not carry credentials \(give --influx-user/,
        ],
        [`http://admin:${SECRET}@[nope`, /^Error: --influx-url is not a URL: "http:\/\/\*\*\*@\[nope"$/],
      ].map(async ([url, expected]) => {
        const result = await berth(['dashboards', 'check', '--influx-url', url as string, '--alerts-only'])
        expect(result.code).toBe(2)
        expect(oneErrorLine(result.stderr)).toMatch(expected as RegExp)
        expect(result.stdout + result.stderr).not.toContain(SECRET)
      }),
    )
    expect(runs).toHaveLength(3)
  })

  it('dashboards export refuses credentials in --influx-url (they would land in the data source file)', async () => {
    const result = await berth([
      'dashboards',
      'export',
      join(dir, 'export-creds'),
      '--influx-url',
      `http://admin:${SECRET}@influx:8086`,
    ])
    expect(result.code).toBe(2)
    expect(oneErrorLine(result.stderr)).toMatch(/--influx-url must not carry credentials/)
    expect(result.stderr).not.toContain(SECRET)
    await expect(readdir(join(dir, 'export-creds'))).rejects.toThrow(/ENOENT/)
  })
})
