/**
 * Checks a dashboard against the parts of Grafana's dashboard model that make it load and show
 * data: identity, schema version, the 24-column grid, panel ids, data source references, variables.
 */

export const GRID_COLUMNS = 24
/** From schema 36 on, Grafana stores data source references as {type, uid} objects (what berth writes). */
export const MIN_SCHEMA_VERSION = 36
/** Panel plugins built into Grafana that berth's dashboards may use (no plugin to install). */
const CORE_PANEL_TYPES = new Set(['row', 'timeseries', 'stat', 'table', 'logs', 'gauge', 'bargauge', 'barchart', 'text', 'state-timeline', 'status-history', 'heatmap', 'piechart'])
/** Names Grafana itself fills in an InfluxQL query. */
const BUILTIN_VARIABLES = new Set(['timeFilter', '__interval', '__interval_ms', '__from', '__to'])

interface GridPos {
  x: number
  y: number
  w: number
  h: number
}

/* eslint-disable @typescript-eslint/no-explicit-any -- dashboard JSON is checked field by field here */
type Json = Record<string, any>

/** Every panel, including those nested in collapsed rows. */
export function flattenPanels(dashboard: Json): Json[] {
  return (dashboard.panels ?? []).flatMap((panel: Json) => [panel, ...(panel.panels ?? [])])
}

/** A `${name}` (with an optional `:format`), `$name` or `[[name]]` variable reference, as Grafana reads them. */
export const VARIABLE_REFERENCE = /\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g

/** The variables a query refers to. */
export function referencedVariables(query: string): string[] {
  return [...query.matchAll(VARIABLE_REFERENCE)].map((m) => m[1] ?? m[2] ?? m[3])
}

function overlaps(a: GridPos, b: GridPos): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
}

function checkDatasource(where: string, ref: unknown, datasource: {type: string; uid: string}, problems: string[]): void {
  const r = ref as Json | undefined
  if (!r || r.uid !== datasource.uid || r.type !== datasource.type) {
    problems.push(`${where}: data source ${JSON.stringify(ref)} is not the provisioned ${datasource.type} data source "${datasource.uid}"`)
  }
}

/** Problems found, one line each; empty when the dashboard is sound. */
export function validateDashboard(dashboard: Json, datasource: {type: string; uid: string}): string[] {
  const problems: string[] = []
  const name = `dashboard ${JSON.stringify(dashboard.uid)}`
  if (typeof dashboard.uid !== 'string' || !/^[A-Za-z0-9_-]{1,40}$/.test(dashboard.uid)) problems.push(`${name}: uid must be 1-40 letters, digits, - or _`)
  if (typeof dashboard.title !== 'string' || !dashboard.title.trim()) problems.push(`${name}: no title`)
  if (!Number.isInteger(dashboard.schemaVersion) || dashboard.schemaVersion < MIN_SCHEMA_VERSION) {
    problems.push(`${name}: schemaVersion ${dashboard.schemaVersion} (need an integer >= ${MIN_SCHEMA_VERSION})`)
  }

  const variables = new Map<string, Json>()
  for (const variable of dashboard.templating?.list ?? []) {
    if (variables.has(variable.name)) problems.push(`${name}: variable "${variable.name}" defined twice`)
    variables.set(variable.name, variable)
    if (variable.type === 'query') checkDatasource(`${name} variable "${variable.name}"`, variable.datasource, datasource, problems)
  }
  const checkReferences = (where: string, text: string) => {
    for (const ref of referencedVariables(text)) {
      if (!variables.has(ref) && !BUILTIN_VARIABLES.has(ref)) problems.push(`${where}: uses $${ref}, which the dashboard does not define`)
    }
  }
  for (const variable of variables.values()) if (typeof variable.query === 'string') checkReferences(`${name} variable "${variable.name}"`, variable.query)

  const ids = new Set<number>()
  const placed: Array<{title: string; pos: GridPos}> = []
  for (const panel of flattenPanels(dashboard)) {
    const where = `${name} panel ${JSON.stringify(panel.title)}`
    if (!Number.isInteger(panel.id) || panel.id < 1) problems.push(`${where}: id ${panel.id} is not a positive integer`)
    else if (ids.has(panel.id)) problems.push(`${where}: id ${panel.id} is used twice`)
    else ids.add(panel.id)
    if (!CORE_PANEL_TYPES.has(panel.type)) problems.push(`${where}: type ${JSON.stringify(panel.type)} is not a panel built into Grafana`)

    const pos = panel.gridPos as GridPos | undefined
    if (!pos || ![pos.x, pos.y, pos.w, pos.h].every(Number.isInteger) || pos.x < 0 || pos.y < 0 || pos.w < 1 || pos.h < 1 || pos.x + pos.w > GRID_COLUMNS) {
      problems.push(`${where}: gridPos ${JSON.stringify(pos)} does not fit the ${GRID_COLUMNS}-column grid`)
    } else {
      for (const other of placed) if (overlaps(pos, other.pos)) problems.push(`${where}: overlaps panel ${JSON.stringify(other.title)}`)
      placed.push({title: panel.title, pos})
    }

    if (panel.type === 'row') continue
    checkDatasource(where, panel.datasource, datasource, problems)
    const targets: Json[] = panel.targets ?? []
    if (targets.length === 0) problems.push(`${where}: no queries`)
    const refIds = new Set<string>()
    for (const target of targets) {
      const at = `${where} query ${target.refId}`
      if (!target.refId || refIds.has(target.refId)) problems.push(`${at}: refId missing or repeated`)
      refIds.add(target.refId)
      if (target.datasource !== undefined) checkDatasource(at, target.datasource, datasource, problems)
      if (typeof target.query !== 'string' || !target.query.trim() || target.rawQuery !== true) problems.push(`${at}: not a raw InfluxQL query`)
      else checkReferences(at, target.query)
    }
  }
  return problems
}
