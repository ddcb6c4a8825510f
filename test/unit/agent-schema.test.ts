/**
 * The metrics schema (agent/src/schema.ts) is the one list of names: agent/SCHEMA.md documents
 * exactly it, and every name a dashboard query reads is one of it (so a literal that bypassed the
 * module, or a rename on one side only, fails here).
 */
import {readFileSync} from 'node:fs'
import {resolve} from 'node:path'
import {describe, expect, it} from 'vitest'
import {CONTAINER_TAGS, HOST_TAG, MEASUREMENTS, type Measurement} from '../../agent/src/schema.js'
import {alertRules, allDashboards, DEFAULT_ALERTS} from '../../dashboards/src/index.js'

const SCHEMA_MD = readFileSync(resolve(import.meta.dirname, '../../agent/SCHEMA.md'), 'utf8')
const backticked = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)
const tagsOf = (m: Measurement) => Object.keys(m.tags)
const fieldsOf = (m: Measurement) => Object.keys(m.fields)

interface DocRow {
  measurement: string
  extraTags: string[]
  fields: string[]
}

/** The rows of SCHEMA.md's tables: | `measurement` | extra tags | fields | notes |. */
function docRows(markdown: string): DocRow[] {
  return markdown
    .split('\n')
    .filter((line) => /^\| `/.test(line))
    .map((line) => {
      const [measurement, tags, fields] = line
        .split('|')
        .slice(1, 4)
        .map((cell) => backticked(cell))
      expect(measurement, line).toHaveLength(1)
      return {measurement: measurement![0]!, extraTags: tags!, fields: fields!}
    })
}

describe('agent/SCHEMA.md and the schema module', () => {
  const rows = docRows(SCHEMA_MD)
  const perContainer = backticked(/^Per-container tags[\s\S]*?\n\n/m.exec(SCHEMA_MD)![0]).filter(
    (name) => name !== 'docker_container_*',
  )

  it('document the same measurements, in the same order', () => {
    expect(rows.map((r) => r.measurement)).toEqual(MEASUREMENTS.map((m) => m.name))
  })

  it('agree on the per-container tags', () => {
    expect([HOST_TAG, ...perContainer]).toEqual([...CONTAINER_TAGS])
  })

  for (const measurement of MEASUREMENTS) {
    it(`agree on the tags and fields of ${measurement.name}`, () => {
      const row = rows.find((r) => r.measurement === measurement.name)!
      // `host` is on every point, the per-container tags on every docker_container_* point: the tables list the rest.
      const implied = measurement.name.startsWith('docker_container_') ? [...CONTAINER_TAGS] : [HOST_TAG]
      expect([...implied, ...row.extraTags].sort()).toEqual(tagsOf(measurement).sort())
      expect(row.fields).toEqual(fieldsOf(measurement))
    })
  }

  it('a table that drifts from the module fails the check (the parser reads what it should)', () => {
    const drifted = SCHEMA_MD.replace('`usage_in_usermode`', '`usage_user_mode`')
    const row = docRows(drifted).find((r) => r.measurement === 'docker_container_cpu')!
    expect(row.fields).toContain('usage_user_mode')
    expect(row.fields).not.toEqual(fieldsOf(MEASUREMENTS.find((m) => m.name === 'docker_container_cpu')!))
  })
})

describe("the dashboards and alert rules read only the schema's names", () => {
  /* eslint-disable @typescript-eslint/no-explicit-any -- dashboard JSON */
  const queries: string[] = JSON.parse(JSON.stringify(allDashboards()))
    .flatMap((dashboard: any) => [
      ...(dashboard.templating?.list ?? []).map((variable: any) => variable.query as string),
      ...(dashboard.panels ?? []).flatMap((panel: any) =>
        (panel.targets ?? []).map((target: any) => target.query as string),
      ),
    ])
    .concat(
      alertRules({settings: DEFAULT_ALERTS, folder: 'berth'}).map(
        (rule) => rule.data[0].model.query as string,
      ),
    )

  /** Quoted identifiers that are neither a measurement, a tag or field of one the query reads, nor one of its own aliases. */
  function unknownNames(query: string): string[] {
    const from = [...query.matchAll(/FROM "([^"]+)"/g)].map((m) => m[1]!)
    const measurements = MEASUREMENTS.filter((m) => from.includes(m.name))
    const known = new Set([
      ...from,
      ...measurements.flatMap((m) => [...tagsOf(m), ...fieldsOf(m)]),
      ...[...query.matchAll(/AS "([^"]+)"/g)].map((m) => m[1]!),
    ])
    const unknownMeasurements = from.filter((name) => !MEASUREMENTS.some((m) => m.name === name))
    return [
      ...unknownMeasurements,
      ...[...query.matchAll(/"([^"]+)"/g)].map((m) => m[1]!).filter((name) => !known.has(name)),
    ]
  }

  it('every measurement, tag and field a query names is in the schema', () => {
    expect(queries.length).toBeGreaterThan(40)
    for (const query of queries) expect(unknownNames(query), query).toEqual([])
  })

  it('the check catches a name the schema does not have', () => {
    expect(
      unknownNames('SELECT mean("usage_pct") FROM "docker_container_cpu" WHERE "cpu" = \'cpu-total\''),
    ).toEqual(['usage_pct'])
    expect(unknownNames('SELECT last("v") FROM "docker_containers"')).toEqual(['docker_containers', 'v'])
  })
})
