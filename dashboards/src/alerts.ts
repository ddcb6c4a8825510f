/**
 * berth's Grafana alert rules, as code beside the dashboards: each is one InfluxQL query (A) on the
 * dashboards' data source, reduced per series (B) and compared with a threshold (C), so one rule
 * yields one alert per host, container or filesystem. Durations live in the queries ("above the
 * threshold in every minute of the last 10 minutes"), not in Grafana's pending period, so whether a
 * rule fires is a function of the data alone and `berth dashboards check` can evaluate it without Grafana.
 */
import {stringify} from 'yaml'
import {
  BERTH_AGENT,
  BERTH_EVENT,
  CPU_TOTAL,
  DOCKER,
  HOST_CPU,
  HOST_DISK,
  HOST_MEM,
  HOST_TAG,
  type Measurement,
} from '../../agent/src/schema.js'
import {DATASOURCE, DATASOURCE_UID} from './panels.js'

export interface AlertSettings {
  /** Machine not reporting / agent silent: no host points (or no healthy agent report) for this long. */
  silentFor: string
  /** How long an OOM kill keeps its alert firing. */
  oomWindow: string
  /** Restart loop: more than this many `die` events of one container within restartWindow. */
  restarts: number
  restartWindow: string
  /** Host CPU busy (100 − idle), percent, in every part of cpuFor. */
  cpuPercent: number
  cpuFor: string
  /** Host memory used, percent, in every part of memoryFor. */
  memoryPercent: number
  memoryFor: string
  /** A filesystem's used_percent in its last report. */
  diskPercent: number
  /** An agent's spool (points InfluxDB did not take) above this many bytes within spoolWindow. */
  spoolBytes: number
  spoolWindow: string
  /** How often Grafana evaluates the group. */
  interval: string
}

export const DEFAULT_ALERTS: AlertSettings = {
  silentFor: '5m',
  oomWindow: '10m',
  restarts: 3,
  restartWindow: '10m',
  cpuPercent: 90,
  cpuFor: '10m',
  memoryPercent: 90,
  memoryFor: '10m',
  diskPercent: 90,
  spoolBytes: 1_048_576,
  spoolWindow: '10m',
  interval: '1m',
}

export const RULE_GROUP = 'berth fleet'
/** The contact point `--alert-webhook-file` provisions; the rules route to it by name. */
export const CONTACT_POINT = 'berth'
/** Hosts that reported in this window are the ones a silence is noticed for. */
const KNOWN_HOSTS_SECONDS = 86_400
/** Each rule's label, for notification policies that route berth's alerts. */
export const ALERT_LABEL = {source: 'berth'}

const DURATION = /^(\d+)(s|m|h|d)$/

/** "90s", "5m", "2h", "1d" in seconds; anything else is an error naming the setting. */
export function durationSeconds(value: string, setting = 'duration'): number {
  const m = DURATION.exec(value)
  if (!m || Number(m[1]) === 0)
    throw new Error(`${setting} must be a duration such as 30s, 5m or 2h, not "${value}"`)
  return Number(m[1]) * {s: 1, m: 60, h: 3600, d: 86_400}[m[2] as 's' | 'm' | 'h' | 'd']
}

/** Buckets for "in every part of the window": a tenth of it, between 1 s and 1 min. */
const bucketSeconds = (window: number) => Math.min(60, Math.max(1, Math.floor(window / 10)))

export type Reducer = 'last' | 'max' | 'min' | 'sum'
export type Comparison = 'gt' | 'lt'

/** What a rule is made of before it becomes Grafana's model. */
export interface RuleSpec {
  uid: string
  title: string
  severity: 'critical' | 'warning'
  summary: string
  description: string
  query: string
  rangeSeconds: number
  reducer: Reducer
  comparison: Comparison
  threshold: number
}

/**
 * Per host, the mean number of reports per bucket over the last `silentSeconds` (a moving average
 * over empty buckets filled with 0), evaluated over a day of history so a host that stopped
 * reporting still has a series, ending in 0. InfluxQL cannot filter a subquery's filled buckets by
 * time (the outer range narrows the inner one), hence the moving average.
 */
function recentReports<M extends Measurement>(
  measurement: M,
  field: keyof M['fields'] & string,
  where: string,
  silentSeconds: number,
): string {
  const seconds = bucketSeconds(silentSeconds)
  const buckets = Math.max(2, Math.ceil(silentSeconds / seconds))
  return `SELECT moving_average(count("${field}"), ${buckets}) FROM "${measurement.name}" WHERE ${where}$timeFilter GROUP BY time(${seconds}s), "${HOST_TAG}" fill(0)`
}

/** Below this mean a host sent nothing in the window (one report in it averages far more). */
const NOTHING = 0.001

/** The lowest per-bucket mean of a host field over the window: above the threshold only if it stayed there. */
function sustained(measurement: Measurement, expression: string, where: string, seconds: number): string {
  return `SELECT min("v") FROM (SELECT ${expression} AS "v" FROM "${measurement.name}" WHERE ${where}$timeFilter GROUP BY time(${bucketSeconds(seconds)}s), "${HOST_TAG}") GROUP BY "${HOST_TAG}"`
}

const E = BERTH_EVENT
const containerEvents = (action: string) =>
  `SELECT count("${E.fields.actor_id}") FROM "${E.name}" WHERE "${E.tags.type}" = 'container' AND "${E.tags.action}" = '${action}' AND $timeFilter GROUP BY "${HOST_TAG}", "${E.tags.actor}"`

export function ruleSpecs(settings: AlertSettings = DEFAULT_ALERTS): RuleSpec[] {
  const silent = durationSeconds(settings.silentFor, 'silentFor')
  const cpuFor = durationSeconds(settings.cpuFor, 'cpuFor')
  const memoryFor = durationSeconds(settings.memoryFor, 'memoryFor')
  return [
    {
      uid: 'berth-machine-silent',
      title: 'Machine not reporting',
      severity: 'critical',
      summary: `{{ $labels.host }} has sent no engine data for ${settings.silentFor}`,
      description: `No "${DOCKER.name}" point from {{ $labels.host }} in the last ${settings.silentFor}: the machine or its engine is down, its agent stopped, or InfluxDB does not get its writes. Machines silent for more than a day are no longer watched.`,
      query: recentReports(DOCKER, 'n_cpus', '', silent),
      rangeSeconds: KNOWN_HOSTS_SECONDS,
      reducer: 'last',
      comparison: 'lt',
      threshold: NOTHING,
    },
    {
      uid: 'berth-agent-unhealthy',
      title: 'Agent silent or erroring',
      severity: 'critical',
      summary: `The agent on {{ $labels.host }} has made no healthy report for ${settings.silentFor}`,
      description: `Every berth_agent report from {{ $labels.host }} in the last ${settings.silentFor} carried an error, or none arrived. \`berth agent status {{ $labels.host }}\` shows its last error.`,
      query: recentReports(
        BERTH_AGENT,
        'points_written',
        `"${BERTH_AGENT.fields.last_error}" = '' AND `,
        silent,
      ),
      rangeSeconds: KNOWN_HOSTS_SECONDS,
      reducer: 'last',
      comparison: 'lt',
      threshold: NOTHING,
    },
    {
      uid: 'berth-container-oom',
      title: 'Container OOM-killed',
      severity: 'warning',
      summary: '{{ $labels.actor }} on {{ $labels.host }} was killed for memory',
      description: `The kernel's OOM killer ended a process of container {{ $labels.actor }} on {{ $labels.host }} ({{ $values.B }} oom events in the last ${settings.oomWindow}).`,
      query: containerEvents('oom'),
      rangeSeconds: durationSeconds(settings.oomWindow, 'oomWindow'),
      reducer: 'last',
      comparison: 'gt',
      threshold: 0,
    },
    {
      uid: 'berth-restart-loop',
      title: 'Container restart loop',
      severity: 'warning',
      summary: `{{ $labels.actor }} on {{ $labels.host }} died {{ $values.B }} times in ${settings.restartWindow}`,
      description: `More than ${settings.restarts} die events of container {{ $labels.actor }} on {{ $labels.host }} in the last ${settings.restartWindow}: it exits and is restarted over and over.`,
      query: containerEvents('die'),
      rangeSeconds: durationSeconds(settings.restartWindow, 'restartWindow'),
      reducer: 'last',
      comparison: 'gt',
      threshold: settings.restarts,
    },
    {
      uid: 'berth-host-cpu',
      title: 'Host CPU high',
      severity: 'warning',
      summary: `{{ $labels.host }}'s CPUs were over ${settings.cpuPercent}% busy for ${settings.cpuFor}`,
      description: `The busy share of all CPUs of {{ $labels.host }} (100 − idle) stayed above ${settings.cpuPercent}% for ${settings.cpuFor} (lowest: {{ $values.B }}%).`,
      query: sustained(
        HOST_CPU,
        `100 - mean("${HOST_CPU.fields.usage_idle}")`,
        `"${HOST_CPU.tags.cpu}" = '${CPU_TOTAL}' AND `,
        cpuFor,
      ),
      rangeSeconds: cpuFor,
      reducer: 'last',
      comparison: 'gt',
      threshold: settings.cpuPercent,
    },
    {
      uid: 'berth-host-memory',
      title: 'Host memory high',
      severity: 'warning',
      summary: `{{ $labels.host }} used over ${settings.memoryPercent}% of its memory for ${settings.memoryFor}`,
      description: `Memory used on {{ $labels.host }} stayed above ${settings.memoryPercent}% for ${settings.memoryFor} (lowest: {{ $values.B }}%).`,
      query: sustained(HOST_MEM, `mean("${HOST_MEM.fields.used_percent}")`, '', memoryFor),
      rangeSeconds: memoryFor,
      reducer: 'last',
      comparison: 'gt',
      threshold: settings.memoryPercent,
    },
    {
      uid: 'berth-filesystem-full',
      title: 'Filesystem almost full',
      severity: 'critical',
      summary: `{{ $labels.path }} on {{ $labels.host }} is {{ $values.B }}% full`,
      description: `The filesystem mounted at {{ $labels.path }} on {{ $labels.host }} is more than ${settings.diskPercent}% full (of the space unprivileged processes may use).`,
      query: `SELECT last("${HOST_DISK.fields.used_percent}") FROM "${HOST_DISK.name}" WHERE $timeFilter GROUP BY "${HOST_TAG}", "${HOST_DISK.tags.path}"`,
      rangeSeconds: 600,
      reducer: 'last',
      comparison: 'gt',
      threshold: settings.diskPercent,
    },
    {
      uid: 'berth-agent-spool',
      title: 'Agent spool growing',
      severity: 'warning',
      summary: `The agent on {{ $labels.host }} spooled {{ $values.B }} bytes InfluxDB did not take`,
      description: `The agent on {{ $labels.host }} had more than ${settings.spoolBytes} bytes waiting in its on-disk spool in the last ${settings.spoolWindow}: InfluxDB was unreachable or refused its writes. Nothing is lost while the spool has room.`,
      query: `SELECT max("${BERTH_AGENT.fields.spool_bytes}") FROM "${BERTH_AGENT.name}" WHERE $timeFilter GROUP BY "${HOST_TAG}"`,
      rangeSeconds: durationSeconds(settings.spoolWindow, 'spoolWindow'),
      reducer: 'last',
      comparison: 'gt',
      threshold: settings.spoolBytes,
    },
  ]
}

/* eslint-disable @typescript-eslint/no-explicit-any -- Grafana's rule model is JSON */
export type GrafanaRule = Record<string, any>

const EXPRESSION = {type: '__expr__', uid: '__expr__'}

/** A rule in Grafana's file-provisioning shape (groups[].rules[]). */
export function grafanaRule(spec: RuleSpec, contactPoint?: string): GrafanaRule {
  return {
    uid: spec.uid,
    title: spec.title,
    condition: 'C',
    data: [
      {
        refId: 'A',
        relativeTimeRange: {from: spec.rangeSeconds, to: 0},
        datasourceUid: DATASOURCE_UID,
        model: {
          refId: 'A',
          datasource: DATASOURCE,
          query: spec.query,
          rawQuery: true,
          resultFormat: 'time_series',
          intervalMs: 1000,
          maxDataPoints: 43200,
        },
      },
      {
        refId: 'B',
        relativeTimeRange: {from: 0, to: 0},
        datasourceUid: EXPRESSION.uid,
        model: {
          refId: 'B',
          datasource: EXPRESSION,
          type: 'reduce',
          expression: 'A',
          reducer: spec.reducer,
          settings: {mode: 'dropNN'},
        },
      },
      {
        refId: 'C',
        relativeTimeRange: {from: 0, to: 0},
        datasourceUid: EXPRESSION.uid,
        model: {
          refId: 'C',
          datasource: EXPRESSION,
          type: 'threshold',
          expression: 'B',
          conditions: [{evaluator: {type: spec.comparison, params: [spec.threshold]}}],
        },
      },
    ],
    // Nothing to count (no OOM, no events) is the healthy case; silence has rules of its own.
    noDataState: 'OK',
    execErrState: 'Error',
    for: '0s',
    annotations: {summary: spec.summary, description: spec.description},
    labels: {...ALERT_LABEL, severity: spec.severity},
    isPaused: false,
    ...(contactPoint ? {notification_settings: {receiver: contactPoint}} : {}),
  }
}

export interface AlertProvisioning {
  settings: AlertSettings
  /** The folder's title (file provisioning names folders by title). */
  folder: string
  /** A webhook URL: berth's contact point, and the rules routed to it. */
  webhookUrl?: string
}

/** Plain YAML: no anchors for repeated objects, long queries on one line. */
const yaml = (value: unknown) => stringify(value, {aliasDuplicateObjects: false, lineWidth: 0})

export function alertRules(options: AlertProvisioning): GrafanaRule[] {
  return ruleSpecs(options.settings).map((spec) =>
    grafanaRule(spec, options.webhookUrl ? CONTACT_POINT : undefined),
  )
}

/** provisioning/alerting/berth-rules.yaml */
export function alertRulesProvisioning(options: AlertProvisioning): string {
  const group = {
    orgId: 1,
    name: RULE_GROUP,
    folder: options.folder,
    interval: options.settings.interval,
    rules: alertRules(options),
  }
  return (
    '# berth: Grafana alert rules provisioning (generated by `berth dashboards export`)\n' +
    yaml({apiVersion: 1, groups: [group]})
  )
}

/** The webhook contact point in Grafana's model (receiver entry and API body alike). */
export function contactPointReceiver(webhookUrl: string): {
  uid: string
  type: string
  settings: Record<string, string>
  disableResolveMessage: boolean
} {
  return {
    uid: 'berth-webhook',
    type: 'webhook',
    settings: {url: webhookUrl, httpMethod: 'POST'},
    disableResolveMessage: false,
  }
}

/** provisioning/alerting/berth-contact-point.yaml: only with a webhook (it holds the URL, which may carry a token). */
export function contactPointProvisioning(webhookUrl: string): string {
  return (
    '# berth: Grafana contact point provisioning (generated by `berth dashboards export`)\n' +
    yaml({
      apiVersion: 1,
      contactPoints: [{orgId: 1, name: CONTACT_POINT, receivers: [contactPointReceiver(webhookUrl)]}],
    })
  )
}
