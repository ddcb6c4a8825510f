/**
 * berth's alert rules outside Grafana: their settings from flags or a file, and their evaluation
 * against InfluxDB the way Grafana's alerting evaluates them (query A over its relative time range,
 * B reduces each series, C compares with the threshold), so `dashboards check` says which would fire.
 */
import {readFile} from 'node:fs/promises'
import {parse} from 'yaml'
import {
  DEFAULT_ALERTS,
  durationSeconds,
  type AlertSettings,
  type GrafanaRule,
} from '../../../dashboards/src/index.js'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import {expandQuery, type InfluxQuery, type Series} from './harness.js'
import {readSecretFile} from '../secret-file.js'

type Kind = 'duration' | 'percent' | 'count'
const KINDS: Record<keyof AlertSettings, Kind> = {
  silentFor: 'duration',
  oomWindow: 'duration',
  restarts: 'count',
  restartWindow: 'duration',
  cpuPercent: 'percent',
  cpuFor: 'duration',
  memoryPercent: 'percent',
  memoryFor: 'duration',
  diskPercent: 'percent',
  spoolBytes: 'count',
  spoolWindow: 'duration',
  interval: 'duration',
}

function settingValue(key: keyof AlertSettings, raw: unknown, where: string): string | number {
  const kind = KINDS[key]
  const text = String(raw).trim()
  if (kind === 'duration') {
    try {
      durationSeconds(text, key)
    } catch (err) {
      throw new BerthError(`${where}: ${(err as Error).message}`, ExitCode.usage)
    }
    return text
  }
  const value = Number(text)
  const valid =
    text !== '' &&
    Number.isFinite(value) &&
    value >= 0 &&
    (kind === 'percent' ? value <= 100 : Number.isInteger(value))
  if (!valid)
    throw new BerthError(
      `${where}: ${key} must be ${kind === 'percent' ? 'a percentage from 0 to 100' : 'a whole number, 0 or more'}, not "${text}"`,
      ExitCode.usage,
    )
  return value
}

/** Settings over the defaults: a YAML/JSON file of them, then `key=value` pairs (which win). */
export async function alertSettings(pairs: string[] = [], file?: string): Promise<AlertSettings> {
  const settings: Record<string, string | number> = {...DEFAULT_ALERTS}
  const apply = (key: string, value: unknown, where: string) => {
    if (!(key in KINDS))
      throw new BerthError(
        `${where}: unknown alert setting "${key}"`,
        ExitCode.usage,
        `settings: ${Object.keys(KINDS).join(', ')}`,
      )
    settings[key] = settingValue(key as keyof AlertSettings, value, where)
  }
  if (file) {
    let parsed: unknown
    try {
      parsed = parse(await readFile(file, 'utf8'))
    } catch (err) {
      throw new BerthError(
        `cannot read the alert settings file ${file}: ${(err as NodeJS.ErrnoException).code ?? oneLine(err)}`,
        ExitCode.usage,
      )
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new BerthError(`the alert settings file ${file} must hold a map of settings`, ExitCode.usage)
    for (const [key, value] of Object.entries(parsed)) apply(key, value, file)
  }
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq < 1)
      throw new BerthError(
        `--alert "${pair}" is not KEY=VALUE`,
        ExitCode.usage,
        'e.g. --alert cpuPercent=95 --alert silentFor=10m',
      )
    apply(pair.slice(0, eq), pair.slice(eq + 1), `--alert ${pair}`)
  }
  return settings as unknown as AlertSettings
}

/** A webhook URL from a file (it may carry a token, as Slack's do: never on the command line). */
export async function readWebhookFile(path: string): Promise<string> {
  const text = await readSecretFile(path, 'webhook')
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new BerthError(`the webhook file ${path} does not hold a URL`, ExitCode.usage)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new BerthError(
      `the webhook in ${path} must be http:// or https://, not ${url.protocol}`,
      ExitCode.usage,
    )
  return url.toString()
}

export interface AlertInstance {
  labels: Record<string, string>
  value: number | null
  firing: boolean
}

export interface RuleEvaluation {
  uid: string
  title: string
  state: 'firing' | 'ok' | 'error'
  /** Only the instances that fire. */
  firing: AlertInstance[]
  /** Series the query returned (instances evaluated). */
  series: number
  query: string
  error?: string
}

/* eslint-disable @typescript-eslint/no-explicit-any -- Grafana's rule model is JSON */
const node = (rule: GrafanaRule, refId: string): Record<string, any> => {
  const found = rule.data.find((d: {refId: string}) => d.refId === refId)
  if (!found) throw new Error(`rule ${rule.uid} has no ${refId}`)
  return found
}

/** Grafana's reducers with mode dropNN: nulls and NaN dropped first; nothing left reduces to null. */
export function reduce(values: Array<number | null>, reducer: string): number | null {
  const kept = values.filter((v): v is number => typeof v === 'number' && !Number.isNaN(v))
  if (kept.length === 0) return null
  switch (reducer) {
    case 'last':
      return kept[kept.length - 1]!
    case 'max':
      return Math.max(...kept)
    case 'min':
      return Math.min(...kept)
    case 'sum':
      return kept.reduce((a, b) => a + b, 0)
    default:
      throw new Error(`reducer ${reducer} is not one berth evaluates`)
  }
}

export function compare(value: number | null, evaluator: {type: string; params: number[]}): boolean {
  if (value === null) return false
  if (evaluator.type === 'gt') return value > evaluator.params[0]!
  if (evaluator.type === 'lt') return value < evaluator.params[0]!
  throw new Error(`threshold ${evaluator.type} is not one berth evaluates`)
}

function seriesValues(series: Series): Array<number | null> {
  const column = series.columns.findIndex((c) => c !== 'time')
  return series.values.map((row) => (typeof row[column] === 'number' ? (row[column] as number) : null))
}

/** One rule, as Grafana would evaluate it at `now`. */
export async function evaluateRule(
  rule: GrafanaRule,
  influx: InfluxQuery,
  now = Date.now(),
): Promise<RuleEvaluation> {
  const a = node(rule, 'A')
  const reducer = node(rule, 'B').model.reducer as string
  const evaluator = node(rule, rule.condition).model.conditions[0].evaluator as {
    type: string
    params: number[]
  }
  const range = {from: now - a.relativeTimeRange.from * 1000, to: now - a.relativeTimeRange.to * 1000}
  const query = expandQuery(a.model.query, {
    range,
    intervalMs: a.model.intervalMs ?? 1000,
    variables: new Map(),
  })
  const result: RuleEvaluation = {uid: rule.uid, title: rule.title, state: 'ok', firing: [], series: 0, query}
  try {
    const series = await influx.query(query)
    result.series = series.length
    for (const s of series) {
      const value = reduce(seriesValues(s), reducer)
      if (compare(value, evaluator)) result.firing.push({labels: s.tags ?? {}, value, firing: true})
    }
    if (result.firing.length) result.state = 'firing'
  } catch (err) {
    result.state = 'error'
    result.error = oneLine(err)
  }
  return result
}

export async function evaluateRules(
  rules: GrafanaRule[],
  influx: InfluxQuery,
  now = Date.now(),
): Promise<RuleEvaluation[]> {
  const results: RuleEvaluation[] = []
  for (const rule of rules) results.push(await evaluateRule(rule, influx, now))
  return results
}
