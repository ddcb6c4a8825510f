/**
 * Runs dashboards' panel queries the way Grafana's InfluxDB (InfluxQL) data source would: template
 * variables resolved from their own SHOW TAG VALUES queries, then $timeFilter, $__interval and the
 * variables expanded, then each query sent to InfluxDB's /query. It proves that every panel has data.
 */
import type {InfluxConnection, InfluxSecrets} from '../../../agent/src/influx.js'
import {redactUrl} from '../../../agent/src/url.js'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import {httpRequest} from '../http.js'
import {flattenPanels, VARIABLE_REFERENCE} from './validate.js'

/* eslint-disable @typescript-eslint/no-explicit-any -- dashboard JSON */
type Json = Record<string, any>

/** Grafana time range bounds: `now`, `now-15m`, or an absolute time (Date or epoch ms). */
export type TimeBound = string | number | Date

export interface TimeRange {
  from: TimeBound
  to: TimeBound
}

export interface Variable {
  values: string[]
  /** Multi-value or "All" variables are regex-escaped and joined as Grafana does for InfluxQL. */
  multi: boolean
}

export interface ExpandContext {
  range: TimeRange
  intervalMs: number
  variables: Map<string, Variable>
}

const RELATIVE = /^now(?:-(\d+)([smhdwMy]))?$/
const UNIT_MS: Record<string, number> = {s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5, M: 2592e6, y: 31536e6}

function boundMs(bound: TimeBound, now: number): number {
  if (bound instanceof Date) return bound.getTime()
  if (typeof bound === 'number') return bound
  const m = RELATIVE.exec(bound)
  if (!m) throw new BerthError(`time bound "${bound}" is not now or now-N[smhdwMy]`, ExitCode.usage)
  return m[1] ? now - Number(m[1]) * UNIT_MS[m[2]] : now
}

/** InfluxQL time of a bound as Grafana writes it: now-N in s, m, h or d stays relative to InfluxDB's now(), anything else is epoch ms. */
function influxTime(bound: TimeBound): string {
  if (bound === 'now') return 'now()'
  const relative = typeof bound === 'string' ? /^now-(\d+[smhd])$/.exec(bound) : null
  return relative ? `now() - ${relative[1]}` : `${boundMs(bound, Date.now())}ms`
}

/** `$timeFilter` as Grafana renders it: no upper bound when the range ends now. */
export function timeFilter(range: TimeRange): string {
  const from = `time >= ${influxTime(range.from)}`
  const to = influxTime(range.to)
  return to === 'now()' ? from : `${from} and time <= ${to}`
}

/**
 * $__interval for a range: the range spread over `maxDataPoints`, never below the data source's
 * minimum (the agent's collection interval), in whole seconds once it reaches one.
 */
export function intervalFor(
  range: TimeRange,
  minIntervalMs: number,
  maxDataPoints = 1000,
  now = Date.now(),
): number {
  const span = boundMs(range.to, now) - boundMs(range.from, now)
  const raw = Math.max(minIntervalMs, span / maxDataPoints)
  return raw >= 1000 ? Math.ceil(raw / 1000) * 1000 : Math.max(1, Math.ceil(raw))
}

function formatInterval(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}

/** Escapes a value for an InfluxQL regex literal (`/.../`), the way Grafana's InfluxDB data source does. */
export function escapeRegex(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&')
}

function variableText(variable: Variable): string {
  if (!variable.multi) return variable.values[0] ?? ''
  const escaped = variable.values.map(escapeRegex)
  return escaped.length === 1 ? escaped[0] : `(${escaped.join('|')})`
}

/** A query with every variable Grafana would fill in filled in; an unknown variable is an error. */
export function expandQuery(query: string, context: ExpandContext): string {
  const builtins: Record<string, string> = {
    timeFilter: timeFilter(context.range),
    __interval: formatInterval(context.intervalMs),
    __interval_ms: String(context.intervalMs),
  }
  return query.replace(VARIABLE_REFERENCE, (_whole, braced, plain, bracketed) => {
    const name: string = braced ?? plain ?? bracketed
    if (name in builtins) return builtins[name]
    const variable = context.variables.get(name)
    if (!variable)
      throw new BerthError(`query uses $${name}, which is not defined: ${query}`, ExitCode.failure)
    return variableText(variable)
  })
}

export interface Series {
  name: string
  tags?: Record<string, string>
  columns: string[]
  values: unknown[][]
}

/** InfluxDB 1.x's /query endpoint (InfluxDB 2.x and 3.x serve it too, through their v1 compatibility API). */
export class InfluxQuery {
  /** Basic auth only with both a username and a password. */
  constructor(
    private readonly influx: InfluxConnection,
    private readonly secrets: InfluxSecrets = {},
  ) {}

  async query(statement: string): Promise<Series[]> {
    const params = new URLSearchParams({db: this.influx.database ?? '', epoch: 'ms', q: statement})
    const headers: Record<string, string> = {Accept: 'application/json'}
    const {username} = this.influx
    const {password} = this.secrets
    if (username && password)
      headers.Authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
    let response: {status: number; text: string}
    try {
      response = await httpRequest(`${this.influx.url.replace(/\/+$/, '')}/query?${params}`, {
        headers,
        ca: this.secrets.ca,
      })
    } catch (err) {
      throw new BerthError(
        redactUrl(
          `cannot reach InfluxDB at ${this.influx.url}: ${oneLine((err as {cause?: unknown}).cause ?? err)}`,
        ),
      )
    }
    let body: {results?: Array<{series?: Series[]; error?: string}>; error?: string} = {}
    try {
      body = JSON.parse(response.text) as typeof body
    } catch {
      // not JSON: the status says what went wrong
    }
    const error = body.error ?? body.results?.find((r) => r.error)?.error
    if (response.status < 200 || response.status > 299 || error)
      throw new BerthError(
        `InfluxDB rejected the query (${response.status}: ${error ?? 'no detail'}): ${statement}`,
      )
    return (body.results ?? []).flatMap((r) => r.series ?? [])
  }
}

/** Rows holding at least one value besides the time: a series of nulls (fill(null)) draws nothing. */
export function rowsWithData(series: Series[]): number {
  let rows = 0
  for (const s of series) {
    const timeColumn = s.columns.indexOf('time')
    for (const row of s.values) if (row.some((value, i) => i !== timeColumn && value !== null)) rows++
  }
  return rows
}

/** Values of each dashboard variable from its own query, in definition order (a later one may use an earlier one). */
export async function resolveVariables(
  dashboard: Json,
  influx: InfluxQuery,
  context: Omit<ExpandContext, 'variables'>,
  overrides: Record<string, string[]> = {},
): Promise<Map<string, Variable>> {
  const variables = new Map<string, Variable>()
  for (const variable of dashboard.templating?.list ?? []) {
    const multi = Boolean(variable.multi || variable.includeAll)
    if (overrides[variable.name]) {
      variables.set(variable.name, {values: overrides[variable.name], multi})
      continue
    }
    if (variable.type !== 'query')
      throw new BerthError(
        `variable "${variable.name}" is of type ${variable.type}, which the harness does not resolve`,
      )
    const series = await influx.query(expandQuery(variable.query, {...context, variables}))
    const valueColumn = (s: Series) => s.columns.indexOf('value')
    const values = [
      ...new Set(series.flatMap((s) => s.values.map((row) => String(row[valueColumn(s)])))),
    ].sort()
    if (values.length === 0)
      throw new BerthError(
        `variable "${variable.name}" of dashboard "${dashboard.uid}" has no values: ${variable.query}`,
      )
    // Grafana's "All" (the default berth sets) stands for every value; a single-value variable takes the first.
    variables.set(variable.name, {values: multi ? values : values.slice(0, 1), multi})
  }
  return variables
}

export interface PanelQueryResult {
  dashboard: string
  panel: string
  refId: string
  query: string
  rows: number
  series: Series[]
  error?: string
}

export interface HarnessOptions {
  range: TimeRange
  /** The data source's minimum interval (its jsonData.timeInterval). */
  minIntervalMs: number
  /** Fixed values for some variables instead of "All". */
  overrides?: Record<string, string[]>
}

/** Every panel target of every dashboard, expanded and run; a query InfluxDB rejects is reported, not thrown. */
export async function runPanelQueries(
  dashboards: Json[],
  influx: InfluxQuery,
  options: HarnessOptions,
): Promise<PanelQueryResult[]> {
  const results: PanelQueryResult[] = []
  for (const dashboard of dashboards) {
    const context = {range: options.range, intervalMs: intervalFor(options.range, options.minIntervalMs)}
    const variables = await resolveVariables(dashboard, influx, context, options.overrides)
    for (const panel of flattenPanels(dashboard)) {
      for (const target of panel.targets ?? []) {
        const query = expandQuery(target.query, {...context, variables})
        const result: PanelQueryResult = {
          dashboard: dashboard.uid,
          panel: panel.title,
          refId: target.refId,
          query,
          rows: 0,
          series: [],
        }
        try {
          result.series = await influx.query(query)
          result.rows = rowsWithData(result.series)
        } catch (err) {
          result.error = oneLine(err)
        }
        results.push(result)
      }
    }
  }
  return results
}

/** Time bound given by a user: `now`, `now-N[smhdwMy]`, or a date Date.parse understands. */
export function parseTimeBound(value: string): TimeBound {
  if (RELATIVE.test(value)) return value
  const ms = Date.parse(value)
  if (Number.isNaN(ms))
    throw new BerthError(
      `"${value}" is not a time: use now, now-15m, or a date such as 2026-01-31T12:00:00Z`,
      ExitCode.usage,
    )
  return ms
}

/** "10s", "500ms", "2m" as milliseconds (the data source's minimum interval). */
export function parseInterval(value: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(value)
  if (!m) throw new BerthError(`"${value}" is not an interval such as 10s, 500ms or 1m`, ExitCode.usage)
  return Number(m[1]) * {ms: 1, s: 1000, m: 60_000, h: 3_600_000}[m[2] as 'ms' | 's' | 'm' | 'h']
}
