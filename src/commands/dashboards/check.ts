import {Flags} from '@oclif/core'
import {alertFlags, alertSettingsFrom} from '../../cli/alert-flags.js'
import {BaseCommand} from '../../cli/base.js'
import {renderTable} from '../../cli/table.js'
import {
  alertRules,
  allDashboards,
  DEFAULT_INFLUX,
  DEFAULT_MIN_INTERVAL,
} from '../../../dashboards/src/index.js'
import {evaluateRules, type RuleEvaluation} from '../../core/dashboards/alerts.js'
import {readCaFile} from '../../core/http.js'
import {readSecretFile} from '../../core/secret-file.js'
import {InfluxQuery, parseInterval, parseTimeBound, runPanelQueries} from '../../core/dashboards/harness.js'
import {BerthError} from '../../core/errors.js'
import {checkUrl} from '../../core/http-url.js'
import {INFLUX_CREDENTIALS_HINT} from '../../cli/influx-flags.js'

export default class DashboardsCheck extends BaseCommand<typeof DashboardsCheck> {
  static override summary =
    "Run every panel query of berth's dashboards against an InfluxDB, report the panels without data and the alert rules that would fire now."
  static override description =
    'Variables are resolved from their own queries ("All"), $timeFilter and $__interval expanded as Grafana does, and each ' +
    "query sent to InfluxDB's /query. Each alert rule is evaluated as Grafana would now (its query over its time range, " +
    'reduced per series, compared with its threshold; --alert and --alert-config as for export). Exits 1 when a query fails ' +
    'or a panel returns nothing, so it can gate a rollout; rules that fire are reported, not failed on.'
  static override examples = [
    '<%= config.bin %> dashboards check --influx-url http://10.0.0.5:8086 --database berth --from now-1h',
    '<%= config.bin %> dashboards check --influx-url http://10.0.0.5:8086 --alerts-only --alert cpuPercent=80 --json',
  ]
  static override flags = {
    'influx-url': Flags.string({summary: 'InfluxDB URL as this computer reaches it.', required: true}),
    database: Flags.string({
      summary: 'InfluxDB database the agents write to.',
      default: DEFAULT_INFLUX.database,
    }),
    'influx-user': Flags.string({summary: 'InfluxDB user.'}),
    'influx-password-file': Flags.string({
      summary: 'File holding the InfluxDB password.',
      dependsOn: ['influx-user'],
    }),
    'influx-ca-file': Flags.string({
      summary:
        "PEM file of a CA to trust for an https InfluxDB (for `monitor up`'s: the machine folder's ca.pem).",
    }),
    from: Flags.string({summary: 'Start of the time range.', default: 'now-15m'}),
    to: Flags.string({summary: 'End of the time range.', default: 'now'}),
    'min-interval': Flags.string({
      summary: "Smallest $__interval (the agents' collection interval).",
      default: DEFAULT_MIN_INTERVAL,
    }),
    ...alertFlags,
    'alerts-only': Flags.boolean({summary: 'Evaluate the alert rules only, not the panels.'}),
    json: Flags.boolean({
      summary: "Print every panel query's and alert rule's outcome as JSON ({panels, alerts}).",
    }),
  }

  async run(): Promise<void> {
    const f = this.flags
    checkUrl(f['influx-url'], '--influx-url', {credentialsHint: INFLUX_CREDENTIALS_HINT})
    const range = {from: parseTimeBound(f.from), to: parseTimeBound(f.to)}
    const minIntervalMs = parseInterval(f['min-interval'])
    const password = f['influx-password-file']
      ? await readSecretFile(f['influx-password-file'], 'InfluxDB password')
      : undefined
    const influx = new InfluxQuery(
      {url: f['influx-url'], database: f.database, username: f['influx-user']},
      {
        password,
        ca: f['influx-ca-file'] ? await readCaFile(f['influx-ca-file'], '--influx-ca-file') : undefined,
      },
    )
    const alerts = await evaluateRules(
      alertRules({settings: await alertSettingsFrom(f), folder: 'berth'}),
      influx,
    )
    const results = f['alerts-only']
      ? []
      : await runPanelQueries(JSON.parse(JSON.stringify(allDashboards())), influx, {range, minIntervalMs})
    const failed = results.filter((r) => r.error || r.rows === 0)
    if (f.json) this.printJson({panels: results.map(({series: _series, ...result}) => result), alerts})
    else {
      if (results.length)
        this.log(
          renderTable(
            ['DASHBOARD', 'PANEL', 'QUERY', 'ROWS', 'PROBLEM'],
            results.map((r) => [
              r.dashboard,
              r.panel,
              r.refId,
              String(r.rows),
              r.error ?? (r.rows === 0 ? 'no data' : ''),
            ]),
          ) + '\n',
        )
      this.log(
        renderTable(
          ['ALERT RULE', 'STATE', 'FIRING FOR'],
          alerts.map((a) => [a.title, a.state, a.error ?? firingFor(a)]),
        ),
      )
    }
    const broken = alerts.filter((a) => a.state === 'error')
    if (broken.length)
      throw new BerthError(
        `${broken.length} of ${alerts.length} alert rule queries failed (first: ${broken[0]!.title}: ${broken[0]!.error})`,
      )
    if (failed.length)
      throw new BerthError(
        `${failed.length} of ${results.length} panel queries returned no data (first: ${failed[0]!.dashboard} / ${failed[0]!.panel})`,
      )
  }
}

/** `host=web-1 actor=api (5)`, one instance after another. */
function firingFor(rule: RuleEvaluation): string {
  return rule.firing
    .map(
      (i) =>
        `${Object.entries(i.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')} (${i.value === null ? '-' : Number(i.value.toFixed(2))})`,
    )
    .join(', ')
}
