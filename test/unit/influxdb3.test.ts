/**
 * InfluxDB 3 answers InfluxQL over the v1 /query API but leaves features out, and refuses a tag
 * and a field of one name in a table. These tests fail when a dashboard query uses what InfluxDB 3
 * lacks, or when the agent's schema (agent/SCHEMA.md) gives a measurement a tag and a field of one name.
 */
import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {allDashboards, influxdb3Unsupported} from '../../dashboards/src/index.js'

/** Every string under a `query` key, anywhere in a dashboard (panel targets and template variables). */
function queries(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) queries(item, found)
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'query' && typeof value === 'string') found.push(value)
      else if (
        key === 'query' &&
        value &&
        typeof value === 'object' &&
        typeof (value as {query?: unknown}).query === 'string'
      )
        found.push((value as {query: string}).query)
      else queries(value, found)
    }
  }
  return found
}

describe('dashboards on InfluxDB 3', () => {
  const all = allDashboards().map((d) => JSON.parse(JSON.stringify(d)) as {title: string})

  it('no query uses SLIMIT/SOFFSET, SHOW DATABASES, SHOW SERIES, cardinality, INTEGRAL, SAMPLE, HOLT_WINTERS or the moving-average family', () => {
    let count = 0
    for (const dashboard of all) {
      for (const query of queries(dashboard)) {
        count++
        expect(influxdb3Unsupported(query), `${dashboard.title}: ${query}`).toEqual([])
      }
    }
    expect(count).toBeGreaterThan(20) // the walk does find the queries
  })

  it('the check finds each excluded feature, and not a name that merely contains one', () => {
    const bad: [string, string][] = [
      ['SELECT mean(v) FROM m GROUP BY * SLIMIT 5', 'SLIMIT'],
      ['SELECT v FROM m SOFFSET 2', 'SOFFSET'],
      ['show databases', 'SHOW DATABASES'],
      ['SHOW SERIES FROM m', 'SHOW SERIES'],
      ['SHOW TAG VALUES CARDINALITY WITH KEY = "host"', 'cardinality queries'],
      ['SELECT integral(v) FROM m', 'INTEGRAL'],
      ['SELECT sample(v, 3) FROM m', 'SAMPLE'],
      ['SELECT holt_winters_with_fit(mean(v), 3, 0) FROM m GROUP BY time(1m)', 'HOLT_WINTERS'],
      ['SELECT moving_average(mean(v), 3) FROM m GROUP BY time(1m)', 'the moving-average family'],
      [
        'SELECT kaufmans_adaptive_moving_average(mean(v), 3) FROM m GROUP BY time(1m)',
        'the moving-average family',
      ],
      ['SELECT chande_momentum_oscillator(mean(v), 3) FROM m GROUP BY time(1m)', 'the moving-average family'],
    ]
    for (const [query, feature] of bad) expect(influxdb3Unsupported(query), query).toEqual([feature])
    expect(
      influxdb3Unsupported(
        'SELECT mean("sample") FROM "integral" WHERE "host" =~ /cardinality/ AND x = \'slimit\'',
      ),
    ).toEqual([])
  })
})

/** The measurements of SCHEMA.md's tables with their tag and field names (parenthesised remarks left out). */
function schemaNames(markdown: string): Map<string, {tags: Set<string>; fields: Set<string>}> {
  const names = (cell: string) => {
    let bare = cell
    for (let before = ''; before !== bare;) [before, bare] = [bare, bare.replace(/\([^()]*\)/g, '')]
    // A name starts its comma-separated part; what follows `=` or `or` is a value.
    return new Set(
      bare
        .split(',')
        .map((part) => /^\s*`([^`]+)`/.exec(part)?.[1])
        .filter((n): n is string => n !== undefined && /^[a-z_]+$/.test(n)),
    )
  }
  const measurements = new Map<string, {tags: Set<string>; fields: Set<string>}>()
  const containerTags = [
    'engine_host',
    'server_version',
    'container_name',
    'container_image',
    'container_version',
    'container_status',
  ]
  for (const line of markdown.split('\n')) {
    const cells = line.split('|').slice(1, -1)
    const name = /^\s*`([a-z_]+)`/.exec(cells[0] ?? '')?.[1]
    if (cells.length < 3 || !name) continue // measurement | extra tags | fields (| notes)
    const tags = names(cells[1]!)
    tags.add('host')
    if (name.startsWith('docker_container_')) for (const tag of containerTags) tags.add(tag)
    measurements.set(name, {tags, fields: names(cells[2]!)})
  }
  return measurements
}

describe('the agent schema on InfluxDB 3', () => {
  const schema = schemaNames(readFileSync(new URL('../../agent/SCHEMA.md', import.meta.url), 'utf8'))

  it('reads every measurement of SCHEMA.md with its tags and fields', () => {
    expect([...schema.keys()].sort()).toEqual([
      'berth_agent',
      'berth_event',
      'cpu',
      'disk',
      'docker',
      'docker_container_blkio',
      'docker_container_cpu',
      'docker_container_mem',
      'docker_container_net',
      'docker_container_status',
      'docker_log',
      'mem',
      'system',
    ])
    expect([...schema.get('docker_log')!.tags].sort()).toEqual([
      'container_image',
      'container_name',
      'container_version',
      'host',
      'stream',
    ])
    expect([...schema.get('docker_container_cpu')!.fields]).toContain('usage_percent')
    expect([...schema.get('berth_event')!.fields]).toEqual(
      expect.arrayContaining(['actor_id', 'detail', 'resync']),
    )
  })

  it('no measurement has a tag and a field of one name', () => {
    for (const [measurement, {tags, fields}] of schema) {
      expect(
        [...tags].filter((t) => fields.has(t)),
        measurement,
      ).toEqual([])
    }
    // and the check would see one
    const clash = schemaNames('| `m` | `cpu` | `cpu`, `v` | notes |')
    expect([...clash.get('m')!.tags].filter((t) => clash.get('m')!.fields.has(t))).toEqual(['cpu'])
  })
})
