/**
 * berth's alert rules as code: the committed provisioning file is the generator's, it (and a
 * contact point) validate against the schema Grafana documents for alerting file provisioning (whose
 * own documented examples pass and broken variants fail), settings come from flags and files with
 * one-line errors, and a rule evaluates as Grafana would: query, reduce per series, threshold.
 */
import {mkdtemp, readdir, readFile, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import {alertRules, DATASOURCE_UID, DEFAULT_ALERTS, ruleSpecs} from '../../dashboards/src/index.js'
import {
  alertSettings,
  compare,
  evaluateRule,
  readWebhookFile,
  reduce,
} from '../../src/core/dashboards/alerts.js'
import {
  CONTACT_POINT_FILE,
  DEFAULT_EXPORT,
  exportDashboards,
  exportFiles,
  RULES_FILE,
} from '../../src/core/dashboards/export.js'
import type {InfluxQuery, Series} from '../../src/core/dashboards/harness.js'
import {validateAlertingProvisioning} from '../../src/core/dashboards/validate.js'
import {BerthError, oneLine} from '../../src/core/errors.js'

/* eslint-disable @typescript-eslint/no-explicit-any -- provisioning YAML */
const DASHBOARDS_DIR = resolve(import.meta.dirname, '../../dashboards')
const PROVISIONED = new Set([DATASOURCE_UID])

// The examples of Grafana's "Create and manage alerting resources using file provisioning" page, as documented.
const DOCUMENTED_RULES = `
apiVersion: 1
groups:
  - orgId: 1
    name: my_rule_group
    folder: my_first_folder
    interval: 60s
    rules:
      - uid: my_id_1
        title: my_first_rule
        condition: A
        data:
          - refId: A
            relativeTimeRange:
              from: 600
              to: 0
            datasourceUid: '__expr__'
            model:
              conditions:
                - evaluator:
                    params:
                      - 3
                    type: gt
                  operator:
                    type: and
                  query:
                    params:
                      - A
                  reducer:
                    type: last
                  type: query
              datasource:
                type: __expr__
                uid: '__expr__'
              expression: 1==0
              intervalMs: 1000
              maxDataPoints: 43200
              refId: A
              type: math
        dashboardUid: my_dashboard
        panelId: 123
        noDataState: Alerting
        execErrState: Alerting
        for: 60s
        annotations:
          some_key: some_value
        labels:
          team: sre_team_1
`
const DOCUMENTED_CONTACT_POINTS = `
apiVersion: 1
contactPoints:
  - orgId: 1
    name: cp_1
    receivers:
      - uid: first_uid
        type: prometheus-alertmanager
        settings:
          url: http://test:9000
`
const DOCUMENTED_POLICIES = `
apiVersion: 1
policies:
  - orgId: 1
    receiver: grafana-default-email
    group_by: ['...']
    matchers:
      - alertname = Watchdog
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 4h
`

async function failure(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(BerthError)
  expect(oneLine(err)).toBe((err as Error).message)
  return (err as Error).message
}

describe('committed alert rules', () => {
  it('are exactly what `npm run dashboards` writes, and nothing else is provisioned for alerting', async () => {
    expect(await readFile(join(DASHBOARDS_DIR, RULES_FILE), 'utf8')).toBe(exportFiles().get(RULES_FILE))
    expect(await readdir(join(DASHBOARDS_DIR, 'provisioning', 'alerting'))).toEqual(['berth-rules.yaml'])
  })

  it("validate against Grafana's documented file-provisioning schema, reading only the provisioned data source", async () => {
    const file = parse(await readFile(join(DASHBOARDS_DIR, RULES_FILE), 'utf8'))
    expect(validateAlertingProvisioning(file, PROVISIONED)).toEqual([])
    expect(file.groups).toHaveLength(1)
    expect(file.groups[0]).toMatchObject({orgId: 1, name: 'berth fleet', folder: 'berth', interval: '1m'})
    // No anchors or folded lines: each query reads as it is sent.
    expect(exportFiles().get(RULES_FILE)).not.toMatch(/[&*]a\d/)
  })

  it("cover the issue's conditions, one alert per host, container or filesystem", () => {
    const rules = alertRules({settings: DEFAULT_ALERTS, folder: 'berth'})
    expect(rules.map((r) => r.uid)).toEqual([
      'berth-machine-silent',
      'berth-agent-unhealthy',
      'berth-container-oom',
      'berth-restart-loop',
      'berth-host-cpu',
      'berth-host-memory',
      'berth-filesystem-full',
      'berth-agent-spool',
    ])
    const query = (uid: string) => rules.find((r) => r.uid === uid)!.data[0].model.query as string
    expect(query('berth-machine-silent')).toMatch(/FROM "docker" .* GROUP BY time\(30s\), "host" fill\(0\)$/)
    expect(query('berth-agent-unhealthy')).toContain(
      `FROM "berth_agent" WHERE "last_error" = '' AND $timeFilter`,
    )
    expect(query('berth-container-oom')).toContain(`"action" = 'oom'`)
    expect(query('berth-restart-loop')).toMatch(/"action" = 'die' .* GROUP BY "host", "actor"$/)
    expect(query('berth-filesystem-full')).toMatch(/FROM "disk" .* GROUP BY "host", "path"$/)
    expect(query('berth-agent-spool')).toContain('max("spool_bytes")')
    for (const rule of rules) {
      expect(rule.data[0]).toMatchObject({
        datasourceUid: DATASOURCE_UID,
        model: {rawQuery: true, datasource: {type: 'influxdb', uid: DATASOURCE_UID}},
      })
      expect(rule.labels).toMatchObject({source: 'berth'})
      expect(rule.annotations.summary).toMatch(/\{\{ \$labels\.host \}\}/)
    }
  })

  it('take their thresholds and windows from the settings', () => {
    const settings = {
      ...DEFAULT_ALERTS,
      cpuPercent: 75,
      cpuFor: '2m',
      restarts: 5,
      silentFor: '1m',
      diskPercent: 80,
    }
    const specs = Object.fromEntries(ruleSpecs(settings).map((s) => [s.uid, s]))
    expect(specs['berth-host-cpu']).toMatchObject({threshold: 75, rangeSeconds: 120, comparison: 'gt'})
    expect(specs['berth-host-cpu']!.query).toContain('GROUP BY time(12s), "host"')
    expect(specs['berth-restart-loop']).toMatchObject({threshold: 5, rangeSeconds: 600})
    expect(specs['berth-filesystem-full']!.threshold).toBe(80)
    // A minute of silence: 6 s buckets, the last 10 of them averaged.
    expect(specs['berth-machine-silent']!.query).toContain('moving_average(count("n_cpus"), 10)')
    expect(specs['berth-machine-silent']!.query).toContain('GROUP BY time(6s)')
  })
})

describe('the validator', () => {
  it("accepts the README's Slack and e-mail contact points and policy", async () => {
    const readme = await readFile(resolve(import.meta.dirname, '../../README.md'), 'utf8')
    const block = /### Alerts[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)![1]!
    const file = parse(block)
    expect(file.contactPoints[0].receivers.map((r: any) => r.type)).toEqual(['slack', 'email'])
    expect(validateAlertingProvisioning(file, PROVISIONED)).toEqual([])
  })

  it("accepts Grafana's own documented examples of rules, contact points and policies", () => {
    expect(validateAlertingProvisioning(parse(DOCUMENTED_RULES), PROVISIONED)).toEqual([])
    expect(validateAlertingProvisioning(parse(DOCUMENTED_CONTACT_POINTS), PROVISIONED)).toEqual([])
    expect(validateAlertingProvisioning(parse(DOCUMENTED_POLICIES), PROVISIONED)).toEqual([])
  })

  const broken: Array<[string, (f: any) => void, RegExp]> = [
    ['another apiVersion', (f) => (f.apiVersion = 2), /apiVersion 2/],
    ['a group without a folder', (f) => delete f.groups[0].folder, /no folder/],
    [
      'an interval that is not a duration',
      (f) => (f.groups[0].interval = 'every minute'),
      /interval "every minute" is not a duration/,
    ],
    ['a rule uid used twice', (f) => (f.groups[0].rules[1].uid = f.groups[0].rules[0].uid), /used twice/],
    [
      'a condition naming no refId',
      (f) => (f.groups[0].rules[0].condition = 'Z'),
      /condition "Z" is not one of its refIds/,
    ],
    [
      'a query on a data source not provisioned',
      (f) => (f.groups[0].rules[0].data[0].datasourceUid = 'prometheus'),
      /data source "prometheus" is not provisioned/,
    ],
    [
      'a reversed time range',
      (f) => (f.groups[0].rules[0].data[0].relativeTimeRange = {from: 0, to: 600}),
      /relativeTimeRange/,
    ],
    ['an unknown noDataState', (f) => (f.groups[0].rules[0].noDataState = 'Fine'), /noDataState "Fine"/],
    [
      'an unknown execErrState',
      (f) => (f.groups[0].rules[0].execErrState = 'Ignore'),
      /execErrState "Ignore"/,
    ],
    ['a "for" that is not a duration', (f) => (f.groups[0].rules[0].for = 5), /for 5 is not a duration/],
    ['a reducer Grafana lacks', (f) => (f.groups[0].rules[0].data[1].model.reducer = 'p99'), /reducer "p99"/],
    [
      'an expression reading a missing refId',
      (f) => (f.groups[0].rules[0].data[2].model.expression = 'Q'),
      /expression reads "Q"/,
    ],
    [
      'a non-string label',
      (f) => (f.groups[0].rules[0].labels.severity = 3),
      /labels must map strings to strings/,
    ],
    [
      'a contact point without receivers',
      (f) => (f.contactPoints = [{orgId: 1, name: 'x', receivers: []}]),
      /no receivers/,
    ],
    [
      'a webhook without a URL',
      (f) =>
        (f.contactPoints = [
          {orgId: 1, name: 'x', receivers: [{uid: 'u', type: 'webhook', settings: {httpMethod: 'POST'}}]},
        ]),
      /settings.url is required/,
    ],
    ['a policy without a receiver', (f) => (f.policies = [{orgId: 1}]), /policy 0: no receiver/],
  ]
  for (const [what, breakIt, problem] of broken) {
    it(`rejects ${what}`, () => {
      const file = parse(exportFiles().get(RULES_FILE)!)
      breakIt(file)
      expect(validateAlertingProvisioning(file, PROVISIONED).join('\n')).toMatch(problem)
    })
  }
})

describe('settings and the webhook', () => {
  it('default, then a file, then --alert pairs', async () => {
    expect(await alertSettings()).toEqual(DEFAULT_ALERTS)
    const dir = await mkdtemp(join(tmpdir(), 'berth-alerts-'))
    await writeFile(join(dir, 'alerts.yaml'), 'cpuPercent: 80\nsilentFor: 10m\n')
    expect(await alertSettings(['cpuPercent=95', 'restarts=7'], join(dir, 'alerts.yaml'))).toEqual({
      ...DEFAULT_ALERTS,
      cpuPercent: 95,
      silentFor: '10m',
      restarts: 7,
    })
  })

  it('refuses unknown keys, bad values and unreadable files in one line', async () => {
    expect(await failure(alertSettings(['cpu=95']))).toMatch(/unknown alert setting "cpu"/)
    expect(await failure(alertSettings(['cpuPercent=120']))).toMatch(
      /cpuPercent must be a percentage from 0 to 100, not "120"/,
    )
    expect(await failure(alertSettings(['restarts=2.5']))).toMatch(/whole number/)
    expect(await failure(alertSettings(['silentFor=soon']))).toMatch(
      /silentFor must be a duration such as 30s, 5m or 2h, not "soon"/,
    )
    expect(await failure(alertSettings(['cpuPercent']))).toMatch(/is not KEY=VALUE/)
    expect(await failure(alertSettings([], '/nonexistent/alerts.yaml'))).toMatch(/ENOENT/)
  })

  it("reads the webhook URL from a file and exports berth's contact point 0600, every rule routed to it", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-hook-'))
    await writeFile(join(dir, 'hook'), 'https://hooks.slack.com/services/T0/B0/token\n', {mode: 0o600})
    const url = await readWebhookFile(join(dir, 'hook'))
    await writeFile(join(dir, 'bad'), 'file:///etc/passwd', {mode: 0o600})
    expect(await failure(readWebhookFile(join(dir, 'bad')))).toMatch(/must be http:\/\/ or https:\/\//)
    await exportDashboards(join(dir, 'out'), {...DEFAULT_EXPORT, webhookUrl: url})
    expect((await stat(join(dir, 'out', CONTACT_POINT_FILE))).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'out', RULES_FILE))).mode & 0o777).toBe(0o644)
    const contact = parse(await readFile(join(dir, 'out', CONTACT_POINT_FILE), 'utf8'))
    expect(validateAlertingProvisioning(contact, PROVISIONED)).toEqual([])
    expect(contact.contactPoints[0].receivers[0].settings.url).toBe(url)
    const rules = parse(await readFile(join(dir, 'out', RULES_FILE), 'utf8'))
    expect(validateAlertingProvisioning(rules, PROVISIONED)).toEqual([])
    expect(
      rules.groups[0].rules.every(
        (r: any) => r.notification_settings.receiver === contact.contactPoints[0].name,
      ),
    ).toBe(true)
    expect(await readFile(join(dir, 'out', RULES_FILE), 'utf8')).not.toContain('token')
  })
})

describe('evaluation as Grafana does it', () => {
  it('reduces with dropNN and compares', () => {
    expect(reduce([1, null, 3, Number.NaN], 'last')).toBe(3)
    expect(reduce([5, null, 2], 'min')).toBe(2)
    expect(reduce([null], 'last')).toBeNull()
    expect(compare(null, {type: 'gt', params: [0]})).toBe(false)
    expect(compare(0, {type: 'lt', params: [0.001]})).toBe(true)
  })

  it('runs query A over its relative range and fires per series that crosses the threshold', async () => {
    const rule = alertRules({settings: {...DEFAULT_ALERTS, restarts: 2}, folder: 'berth'}).find(
      (r) => r.uid === 'berth-restart-loop',
    )!
    const asked: string[] = []
    const series: Series[] = [
      {
        name: 'berth_event',
        tags: {host: 'web-1', actor: 'api'},
        columns: ['time', 'count'],
        values: [[0, 3]],
      },
      {name: 'berth_event', tags: {host: 'web-1', actor: 'db'}, columns: ['time', 'count'], values: [[0, 2]]},
    ]
    const influx = {query: async (q: string) => (asked.push(q), series)} as unknown as InfluxQuery
    const now = Date.UTC(2026, 0, 1, 12)
    const result = await evaluateRule(rule, influx, now)
    expect(asked).toEqual([
      `SELECT count("actor_id") FROM "berth_event" WHERE "type" = 'container' AND "action" = 'die' AND time >= ${now - 600_000}ms and time <= ${now}ms GROUP BY "host", "actor"`,
    ])
    expect(result).toMatchObject({
      uid: 'berth-restart-loop',
      state: 'firing',
      series: 2,
      firing: [{labels: {host: 'web-1', actor: 'api'}, value: 3, firing: true}],
    })
    const failing = {
      query: async () => {
        throw new BerthError('InfluxDB rejected the query (400: bad)')
      },
    } as unknown as InfluxQuery
    expect(await evaluateRule(rule, failing, now)).toMatchObject({
      state: 'error',
      error: 'InfluxDB rejected the query (400: bad)',
      firing: [],
    })
  })
})
