/**
 * berth's dashboards as data: the committed JSON matches the generator, every dashboard fits
 * Grafana's model (and the validator catches what would not), provisioning files parse to what
 * Grafana expects, and the query harness expands variables the way Grafana does.
 */
import {readdir, readFile} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import {
  allDashboards,
  DATASOURCE,
  DATASOURCE_UID,
  datasourceProvisioning,
  datasourceSecrets,
  DEFAULT_INFLUX,
  DEFAULT_MIN_INTERVAL,
  PASSWORD_ENV,
  TOKEN_ENV,
} from '../../dashboards/src/index.js'
import {exportFiles} from '../../src/core/dashboards/export.js'
import {
  escapeRegex,
  expandQuery,
  intervalFor,
  parseInterval,
  parseTimeBound,
  rowsWithData,
  timeFilter,
  type Variable,
} from '../../src/core/dashboards/harness.js'
import {flattenPanels, validateDashboard} from '../../src/core/dashboards/validate.js'

const DASHBOARDS_DIR = resolve(import.meta.dirname, '../../dashboards')
/* eslint-disable @typescript-eslint/no-explicit-any -- dashboard JSON */
/** The dashboards as Grafana receives them: serialized. */
const dashboards = (): any[] => JSON.parse(JSON.stringify(allDashboards()))

describe('committed dashboards', () => {
  it('are exactly what the generator writes (run `npm run dashboards` after changing dashboards/src)', async () => {
    const files = exportFiles()
    for (const [path, content] of files)
      expect(await readFile(join(DASHBOARDS_DIR, path), 'utf8'), path).toBe(content)
    const committedJson = (await readdir(join(DASHBOARDS_DIR, 'json'))).map((f) => join('json', f)).sort()
    expect(committedJson).toEqual([...files.keys()].filter((p) => p.startsWith('json')).sort())
  })
})

describe('dashboard model', () => {
  it('has the four dashboards, each with host and container variables', () => {
    expect(dashboards().map((d) => d.uid)).toEqual([
      'berth-fleet',
      'berth-host',
      'berth-container',
      'berth-events',
    ])
    for (const d of dashboards())
      expect(d.templating.list.map((v: any) => v.name).slice(0, 2), d.uid).toEqual(['host', 'container'])
  })

  it('passes validation: schemaVersion, 24-column grid without overlaps, unique ids, data source references', () => {
    // References must resolve to the data source the provisioning file declares, not just to a constant.
    const provisioned = parse(exportFiles().get('provisioning/datasources/berth.yaml')!).datasources[0]
    expect(provisioned).toMatchObject(DATASOURCE)
    for (const d of dashboards()) {
      expect(validateDashboard(d, {type: provisioned.type, uid: provisioned.uid}), d.uid).toEqual([])
      expect(d.schemaVersion).toBeGreaterThanOrEqual(36)
    }
  })

  it('shows what the issue asks for', () => {
    const titles = (uid: string) => flattenPanels(dashboards().find((d) => d.uid === uid)).map((p) => p.title)
    expect(titles('berth-fleet')).toEqual(
      expect.arrayContaining([
        'Machines up',
        'Containers running per host',
        'CPU per host',
        'Memory used per host',
        'Disk I/O per host',
        'Network per host',
        'Docker events',
        'Recent die, oom and restart events',
        'Agent health',
        'Agent lag',
      ]),
    )
    expect(titles('berth-container')).toEqual(
      expect.arrayContaining(['CPU', 'Memory', 'Network', 'Block I/O', 'Restarts', 'Logs']),
    )
    expect(titles('berth-events')).toEqual(expect.arrayContaining(['Events', 'Logs']))
    const logs = flattenPanels(dashboards().find((d) => d.uid === 'berth-container')).find(
      (p) => p.type === 'logs',
    )
    expect(logs?.targets[0]).toMatchObject({resultFormat: 'logs', rawQuery: true, datasource: DATASOURCE})
  })

  const broken: Array<[string, (d: any) => void, RegExp]> = [
    [
      'a panel past column 24',
      (d) => (d.panels[0].gridPos = {x: 20, y: 0, w: 8, h: 4}),
      /does not fit the 24-column grid/,
    ],
    ['overlapping panels', (d) => (d.panels[1].gridPos = {...d.panels[0].gridPos}), /overlaps panel/],
    ['a repeated panel id', (d) => (d.panels[1].id = d.panels[0].id), /is used twice/],
    [
      'another data source',
      (d) => (d.panels[0].datasource = {type: 'influxdb', uid: 'other'}),
      /not the provisioned influxdb data source "berth-influxdb"/,
    ],
    [
      'a target with another data source',
      (d) => (d.panels[0].targets[0].datasource = {type: 'prometheus', uid: DATASOURCE_UID}),
      /query A: data source/,
    ],
    [
      'an undefined variable',
      (d) => (d.panels[0].targets[0].query += ' AND "x" =~ /^$nope$/'),
      /uses \$nope/,
    ],
    ['an old schemaVersion', (d) => (d.schemaVersion = 16), /schemaVersion 16/],
    [
      'a panel plugin Grafana does not ship',
      (d) => (d.panels[0].type = 'grafana-clock-panel'),
      /is not a panel built into Grafana/,
    ],
    [
      'a variable on another data source',
      (d) => (d.templating.list[0].datasource = {uid: 'x'}),
      /variable "host": data source/,
    ],
  ]
  for (const [what, breakIt, problem] of broken) {
    it(`rejects ${what}`, () => {
      const d = dashboards()[0]
      breakIt(d)
      expect(validateDashboard(d, DATASOURCE).join('\n')).toMatch(problem)
    })
  }
})

describe('provisioning files', () => {
  it('declare the InfluxQL data source with the uid the dashboards reference', () => {
    const files = exportFiles()
    const datasources = parse(files.get('provisioning/datasources/berth.yaml')!)
    expect(datasources.apiVersion).toBe(1)
    expect(datasources.datasources).toEqual([
      expect.objectContaining({
        uid: DATASOURCE_UID,
        type: 'influxdb',
        access: 'proxy',
        url: DEFAULT_INFLUX.url,
        jsonData: {version: 'InfluxQL', dbName: 'berth', httpMode: 'GET', timeInterval: '10s'},
      }),
    ])
    const providers = parse(files.get('provisioning/dashboards/berth.yaml')!)
    expect(providers.providers).toEqual([
      expect.objectContaining({
        type: 'file',
        folder: 'berth',
        options: {path: '/var/lib/grafana/dashboards/berth', foldersFromFilesStructure: false},
      }),
    ])
  })

  it('refer to the password through an environment variable, never hold it', () => {
    const text = datasourceProvisioning({...DEFAULT_INFLUX, username: 'grafana'}, DEFAULT_MIN_INTERVAL)
    expect(parse(text).datasources[0]).toMatchObject({
      user: 'grafana',
      secureJsonData: {password: `$${PASSWORD_ENV}`},
    })
  })

  it("with a token (InfluxDB 3, 2.x's v1 API): an Authorization header whose value Grafana reads from its environment", () => {
    const entry = parse(datasourceProvisioning({...DEFAULT_INFLUX, tokenAuth: true}, DEFAULT_MIN_INTERVAL))
      .datasources[0]
    expect(entry).toMatchObject({
      jsonData: {httpHeaderName1: 'Authorization'},
      secureJsonData: {httpHeaderValue1: `Token $${TOKEN_ENV}`},
    })
    expect(entry.user).toBeUndefined()
    expect(datasourceSecrets({...DEFAULT_INFLUX, tokenAuth: true}, undefined, 'tok-9')).toEqual({
      secureJsonData: {httpHeaderValue1: 'Token tok-9'},
    })
  })
})

describe('query harness expansion', () => {
  const variables = new Map<string, Variable>([
    ['host', {values: ['m1', 'm.2'], multi: true}],
    ['container', {values: ['web'], multi: true}],
    ['single', {values: ['a.b', 'c'], multi: false}],
  ])
  const context = {range: {from: 'now-15m', to: 'now'}, intervalMs: 10_000, variables}

  it('renders $timeFilter as Grafana does', () => {
    expect(timeFilter({from: 'now-6h', to: 'now'})).toBe('time >= now() - 6h')
    expect(timeFilter({from: 1_700_000_000_000, to: new Date(1_700_000_360_000)})).toBe(
      'time >= 1700000000000ms and time <= 1700000360000ms',
    )
    expect(timeFilter({from: 'now-2d', to: 'now-1d'})).toBe('time >= now() - 2d and time <= now() - 1d')
  })

  it('picks $__interval from the range, never below the minimum', () => {
    expect(intervalFor({from: 'now-15m', to: 'now'}, 10_000)).toBe(10_000)
    expect(intervalFor({from: 'now-24h', to: 'now'}, 10_000)).toBe(87_000)
    expect(intervalFor({from: 0, to: 500}, 0)).toBe(1)
  })

  it('expands multi-value variables as escaped regex alternatives, single ones as they are', () => {
    expect(
      expandQuery(
        'SELECT x FROM y WHERE "host" =~ /^$host$/ AND "c" =~ /^${container}$/ AND s = \'[[single]]\' AND $timeFilter GROUP BY time($__interval)',
        context,
      ),
    ).toBe(
      'SELECT x FROM y WHERE "host" =~ /^(m1|m\\.2)$/ AND "c" =~ /^web$/ AND s = \'a.b\' AND time >= now() - 15m GROUP BY time(10s)',
    )
    expect(escapeRegex('a/b(c)*')).toBe('a\\/b\\(c\\)\\*')
    expect(() => expandQuery('WHERE "x" = $missing', context)).toThrow(/\$missing/)
  })

  it('counts only rows holding a value', () => {
    expect(
      rowsWithData([
        {
          name: 'm',
          columns: ['time', 'mean'],
          values: [
            [1, null],
            [2, 3],
            [3, null],
          ],
        },
      ]),
    ).toBe(1)
    expect(rowsWithData([{name: 'm', columns: ['time', 'mean'], values: [[1, null]]}])).toBe(0)
  })

  it('parses the time range and interval flags of `dashboards check`', () => {
    expect(parseTimeBound('now-1h')).toBe('now-1h')
    expect(parseTimeBound('2026-01-31T12:00:00Z')).toBe(Date.UTC(2026, 0, 31, 12))
    expect(() => parseTimeBound('yesterday')).toThrow(/is not a time/)
    expect(parseInterval('10s')).toBe(10_000)
    expect(parseInterval('500ms')).toBe(500)
    expect(() => parseInterval('10')).toThrow(/not an interval/)
  })
})
