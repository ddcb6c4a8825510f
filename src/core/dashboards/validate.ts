/**
 * Checks a dashboard against the parts of Grafana's dashboard model that make it load and show
 * data: identity, schema version, the 24-column grid, panel ids, data source references, variables.
 */

export const GRID_COLUMNS = 24
/** From schema 36 on, Grafana stores data source references as {type, uid} objects (what berth writes). */
export const MIN_SCHEMA_VERSION = 36
/** Panel plugins built into Grafana that berth's dashboards may use (no plugin to install). */
const CORE_PANEL_TYPES = new Set([
  'row',
  'timeseries',
  'stat',
  'table',
  'logs',
  'gauge',
  'bargauge',
  'barchart',
  'text',
  'state-timeline',
  'status-history',
  'heatmap',
  'piechart',
])
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

function checkDatasource(
  where: string,
  ref: unknown,
  datasource: {type: string; uid: string},
  problems: string[],
): void {
  const r = ref as Json | undefined
  if (!r || r.uid !== datasource.uid || r.type !== datasource.type) {
    problems.push(
      `${where}: data source ${JSON.stringify(ref)} is not the provisioned ${datasource.type} data source "${datasource.uid}"`,
    )
  }
}

/** Problems found, one line each; empty when the dashboard is sound. */
export function validateDashboard(dashboard: Json, datasource: {type: string; uid: string}): string[] {
  const problems: string[] = []
  const name = `dashboard ${JSON.stringify(dashboard.uid)}`
  if (typeof dashboard.uid !== 'string' || !/^[A-Za-z0-9_-]{1,40}$/.test(dashboard.uid))
    problems.push(`${name}: uid must be 1-40 letters, digits, - or _`)
  if (typeof dashboard.title !== 'string' || !dashboard.title.trim()) problems.push(`${name}: no title`)
  if (!Number.isInteger(dashboard.schemaVersion) || dashboard.schemaVersion < MIN_SCHEMA_VERSION) {
    problems.push(
      `${name}: schemaVersion ${dashboard.schemaVersion} (need an integer >= ${MIN_SCHEMA_VERSION})`,
    )
  }

  const variables = new Map<string, Json>()
  for (const variable of dashboard.templating?.list ?? []) {
    if (variables.has(variable.name)) problems.push(`${name}: variable "${variable.name}" defined twice`)
    variables.set(variable.name, variable)
    if (variable.type === 'query')
      checkDatasource(`${name} variable "${variable.name}"`, variable.datasource, datasource, problems)
  }
  const checkReferences = (where: string, text: string) => {
    for (const ref of referencedVariables(text)) {
      if (!variables.has(ref) && !BUILTIN_VARIABLES.has(ref))
        problems.push(`${where}: uses $${ref}, which the dashboard does not define`)
    }
  }
  for (const variable of variables.values())
    if (typeof variable.query === 'string')
      checkReferences(`${name} variable "${variable.name}"`, variable.query)

  const ids = new Set<number>()
  const placed: Array<{title: string; pos: GridPos}> = []
  for (const panel of flattenPanels(dashboard)) {
    const where = `${name} panel ${JSON.stringify(panel.title)}`
    if (!Number.isInteger(panel.id) || panel.id < 1)
      problems.push(`${where}: id ${panel.id} is not a positive integer`)
    else if (ids.has(panel.id)) problems.push(`${where}: id ${panel.id} is used twice`)
    else ids.add(panel.id)
    if (!CORE_PANEL_TYPES.has(panel.type))
      problems.push(`${where}: type ${JSON.stringify(panel.type)} is not a panel built into Grafana`)

    const pos = panel.gridPos as GridPos | undefined
    if (
      !pos ||
      ![pos.x, pos.y, pos.w, pos.h].every(Number.isInteger) ||
      pos.x < 0 ||
      pos.y < 0 ||
      pos.w < 1 ||
      pos.h < 1 ||
      pos.x + pos.w > GRID_COLUMNS
    ) {
      problems.push(`${where}: gridPos ${JSON.stringify(pos)} does not fit the ${GRID_COLUMNS}-column grid`)
    } else {
      for (const other of placed)
        if (overlaps(pos, other.pos)) problems.push(`${where}: overlaps panel ${JSON.stringify(other.title)}`)
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
      if (typeof target.query !== 'string' || !target.query.trim() || target.rawQuery !== true)
        problems.push(`${at}: not a raw InfluxQL query`)
      else checkReferences(at, target.query)
    }
  }
  return problems
}

/** Durations in Grafana's provisioning files (Prometheus' format): 30s, 5m, 1h30m, 0s. */
const PROMETHEUS_DURATION = /^(?:\d+(?:ms|s|m|h|d|w|y))+$/
const NO_DATA_STATES = new Set(['NoData', 'Alerting', 'OK', 'KeepLast'])
const EXEC_ERR_STATES = new Set(['Error', 'Alerting', 'OK', 'KeepLast'])
const EXPRESSION_UIDS = new Set(['__expr__', '-100'])
const EXPRESSION_TYPES = new Set(['math', 'reduce', 'resample', 'classic_conditions', 'threshold', 'sql'])
const REDUCERS = new Set(['mean', 'min', 'max', 'sum', 'count', 'last', 'median'])
const EVALUATORS = new Set([
  'gt',
  'lt',
  'eq',
  'ne',
  'gte',
  'lte',
  'within_range',
  'outside_range',
  'within_range_included',
  'outside_range_included',
])
/** Contact point integrations Grafana documents for file provisioning, and the settings each requires. */
const INTEGRATIONS: Record<string, string[]> = {
  'prometheus-alertmanager': ['url'],
  dingding: ['url'],
  discord: ['url'],
  email: ['addresses'],
  googlechat: ['url'],
  kafka: ['kafkaRestProxy', 'kafkaTopic'],
  line: ['token'],
  teams: ['url'],
  opsgenie: ['apiKey'],
  pagerduty: ['integrationKey'],
  pushover: ['apiToken', 'userKey'],
  slack: [],
  sensugo: ['url', 'apikey'],
  telegram: ['bottoken', 'chatid'],
  threema: ['api_secret', 'gateway_id', 'recipient_id'],
  victorops: ['url'],
  webhook: ['url'],
  wecom: [],
  webex: [],
  sns: [],
  oncall: ['url'],
}

const isMap = (value: unknown): value is Json =>
  value !== null && typeof value === 'object' && !Array.isArray(value)
const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value.trim() !== ''
const stringMap = (value: unknown) =>
  value === undefined || (isMap(value) && Object.values(value).every((v) => typeof v === 'string'))
const orgId = (value: unknown) => value === undefined || (Number.isInteger(value) && (value as number) >= 1)

function checkRule(rule: Json, where: string, datasourceUids: Set<string>, problems: string[]): void {
  const at = `${where} rule ${JSON.stringify(rule.uid ?? rule.title)}`
  if (!nonEmpty(rule.uid) || !/^[A-Za-z0-9_-]{1,40}$/.test(rule.uid))
    problems.push(`${at}: uid must be 1-40 letters, digits, - or _`)
  if (!nonEmpty(rule.title)) problems.push(`${at}: no title`)
  const data: Json[] = Array.isArray(rule.data) ? rule.data : []
  if (data.length === 0) problems.push(`${at}: no data (queries and expressions)`)
  const refIds = new Set<string>()
  for (const query of data) {
    const q = `${at} data ${JSON.stringify(query.refId)}`
    if (!nonEmpty(query.refId) || refIds.has(query.refId)) problems.push(`${q}: refId missing or repeated`)
    refIds.add(query.refId)
    const range = query.relativeTimeRange
    if (
      !isMap(range) ||
      !Number.isInteger(range.from) ||
      !Number.isInteger(range.to) ||
      range.to < 0 ||
      range.from < range.to
    )
      problems.push(`${q}: relativeTimeRange must be {from, to} in whole seconds, from >= to >= 0`)
    if (!nonEmpty(query.datasourceUid)) problems.push(`${q}: no datasourceUid`)
    if (!isMap(query.model)) {
      problems.push(`${q}: no model`)
      continue
    }
    if (query.model.refId !== undefined && query.model.refId !== query.refId)
      problems.push(`${q}: model.refId ${JSON.stringify(query.model.refId)} differs`)
    if (EXPRESSION_UIDS.has(query.datasourceUid)) {
      const model = query.model
      if (!EXPRESSION_TYPES.has(model.type))
        problems.push(`${q}: expression type ${JSON.stringify(model.type)} is not one of Grafana's`)
      if (model.type === 'reduce' && !REDUCERS.has(model.reducer))
        problems.push(`${q}: reducer ${JSON.stringify(model.reducer)} is not one of Grafana's`)
      if (model.type === 'threshold') {
        const evaluator = model.conditions?.[0]?.evaluator
        if (
          !EVALUATORS.has(evaluator?.type) ||
          !Array.isArray(evaluator?.params) ||
          !evaluator.params.every((p: unknown) => typeof p === 'number' && Number.isFinite(p))
        ) {
          problems.push(`${q}: threshold needs conditions[0].evaluator {type, params: numbers}`)
        }
      }
    } else if (!datasourceUids.has(query.datasourceUid)) {
      problems.push(`${q}: data source "${query.datasourceUid}" is not provisioned`)
    }
  }
  // An expression reads refIds that must exist (checked after all are known).
  for (const query of data) {
    const expression = query.model?.expression
    if (
      EXPRESSION_UIDS.has(query.datasourceUid) &&
      query.model?.type !== 'math' &&
      nonEmpty(expression) &&
      !refIds.has(expression)
    ) {
      problems.push(
        `${at} data ${JSON.stringify(query.refId)}: expression reads ${JSON.stringify(expression)}, which the rule does not define`,
      )
    }
  }
  if (!nonEmpty(rule.condition) || !refIds.has(rule.condition))
    problems.push(`${at}: condition ${JSON.stringify(rule.condition)} is not one of its refIds`)
  if (rule.noDataState !== undefined && !NO_DATA_STATES.has(rule.noDataState))
    problems.push(
      `${at}: noDataState ${JSON.stringify(rule.noDataState)} is not NoData, Alerting, OK or KeepLast`,
    )
  if (rule.execErrState !== undefined && !EXEC_ERR_STATES.has(rule.execErrState))
    problems.push(
      `${at}: execErrState ${JSON.stringify(rule.execErrState)} is not Error, Alerting, OK or KeepLast`,
    )
  if (rule.for !== undefined && !(typeof rule.for === 'string' && PROMETHEUS_DURATION.test(rule.for)))
    problems.push(`${at}: for ${JSON.stringify(rule.for)} is not a duration`)
  if (!stringMap(rule.annotations)) problems.push(`${at}: annotations must map strings to strings`)
  if (!stringMap(rule.labels)) problems.push(`${at}: labels must map strings to strings`)
  if (rule.isPaused !== undefined && typeof rule.isPaused !== 'boolean')
    problems.push(`${at}: isPaused must be true or false`)
  if (rule.notification_settings !== undefined && !nonEmpty(rule.notification_settings?.receiver))
    problems.push(`${at}: notification_settings.receiver must name a contact point`)
}

/**
 * Problems in a Grafana alerting provisioning file (rules, contact points, notification policies),
 * one line each, against the schema Grafana documents for file provisioning; empty when sound.
 */
export function validateAlertingProvisioning(file: unknown, datasourceUids: Set<string>): string[] {
  const problems: string[] = []
  if (!isMap(file)) return ['not a map']
  if (file.apiVersion !== 1) problems.push(`apiVersion ${JSON.stringify(file.apiVersion)} (need 1)`)
  const known = [
    'apiVersion',
    'groups',
    'deleteRules',
    'contactPoints',
    'deleteContactPoints',
    'policies',
    'resetPolicies',
    'templates',
    'deleteTemplates',
    'muteTimes',
    'deleteMuteTimes',
  ]
  for (const key of Object.keys(file))
    if (!known.includes(key)) problems.push(`unknown top-level key "${key}"`)
  for (const [i, group] of (Array.isArray(file.groups)
    ? file.groups
    : file.groups === undefined
      ? []
      : [null]
  ).entries()) {
    const where = `group ${i}`
    if (!isMap(group)) {
      problems.push(`${where}: not a map`)
      continue
    }
    if (!orgId(group.orgId)) problems.push(`${where}: orgId must be a positive integer`)
    if (!nonEmpty(group.name)) problems.push(`${where}: no name`)
    if (!nonEmpty(group.folder)) problems.push(`${where}: no folder`)
    if (!(typeof group.interval === 'string' && PROMETHEUS_DURATION.test(group.interval)))
      problems.push(`${where}: interval ${JSON.stringify(group.interval)} is not a duration`)
    if (!Array.isArray(group.rules) || group.rules.length === 0) problems.push(`${where}: no rules`)
    const uids = new Set<string>()
    for (const rule of Array.isArray(group.rules) ? group.rules : []) {
      if (!isMap(rule)) {
        problems.push(`${where}: a rule is not a map`)
        continue
      }
      if (uids.has(rule.uid)) problems.push(`${where}: rule uid ${JSON.stringify(rule.uid)} used twice`)
      uids.add(rule.uid)
      checkRule(rule, where, datasourceUids, problems)
    }
  }
  for (const [i, point] of (Array.isArray(file.contactPoints) ? file.contactPoints : []).entries()) {
    const where = `contact point ${JSON.stringify(point?.name ?? i)}`
    if (!orgId(point?.orgId)) problems.push(`${where}: orgId must be a positive integer`)
    if (!nonEmpty(point?.name)) problems.push(`${where}: no name`)
    const receivers: Json[] = Array.isArray(point?.receivers) ? point.receivers : []
    if (receivers.length === 0)
      problems.push(`${where}: no receivers (file provisioning creates nothing without one)`)
    for (const receiver of receivers) {
      const at = `${where} receiver ${JSON.stringify(receiver?.uid)}`
      if (!nonEmpty(receiver?.uid)) problems.push(`${at}: no uid`)
      const required = INTEGRATIONS[receiver?.type]
      if (!required)
        problems.push(`${at}: type ${JSON.stringify(receiver?.type)} is not an integration Grafana documents`)
      if (!isMap(receiver?.settings) || Object.keys(receiver.settings).length === 0)
        problems.push(`${at}: no settings`)
      else
        for (const key of required ?? [])
          if (!nonEmpty(receiver.settings[key]))
            problems.push(`${at}: settings.${key} is required for ${receiver.type}`)
    }
  }
  for (const [i, policy] of (Array.isArray(file.policies) ? file.policies : []).entries()) {
    const where = `policy ${i}`
    if (!orgId(policy?.orgId)) problems.push(`${where}: orgId must be a positive integer`)
    if (!nonEmpty(policy?.receiver)) problems.push(`${where}: no receiver`)
    if (
      policy?.group_by !== undefined &&
      !(Array.isArray(policy.group_by) && policy.group_by.every(nonEmpty))
    )
      problems.push(`${where}: group_by must list label names`)
    for (const key of ['group_wait', 'group_interval', 'repeat_interval']) {
      if (
        policy?.[key] !== undefined &&
        !(typeof policy[key] === 'string' && PROMETHEUS_DURATION.test(policy[key]))
      )
        problems.push(`${where}: ${key} is not a duration`)
    }
  }
  return problems
}
