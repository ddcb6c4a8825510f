import {Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {renderTable} from '../../cli/table.js'
import {allDashboards, DEFAULT_INFLUX} from '../../../dashboards/src/index.js'
import {readSecretFile} from '../../core/secret-file.js'
import {InfluxQuery, parseInterval, parseTimeBound, runPanelQueries} from '../../core/dashboards/harness.js'
import {BerthError} from '../../core/errors.js'

export default class DashboardsCheck extends BaseCommand<typeof DashboardsCheck> {
  static override summary = 'Run every panel query of berth\'s dashboards against an InfluxDB and report the panels without data.'
  static override description =
    'Variables are resolved from their own queries ("All"), $timeFilter and $__interval expanded as Grafana does, and each ' +
    'query sent to InfluxDB\'s /query. Exits 1 when a query fails or returns nothing, so it can gate a rollout.'
  static override examples = ['<%= config.bin %> dashboards check --influx-url http://10.0.0.5:8086 --database berth --from now-1h']
  static override flags = {
    'influx-url': Flags.string({summary: 'InfluxDB URL as this computer reaches it.', required: true}),
    database: Flags.string({summary: 'InfluxDB database the agents write to.', default: DEFAULT_INFLUX.database}),
    'influx-user': Flags.string({summary: 'InfluxDB user.'}),
    'influx-password-file': Flags.string({summary: 'File holding the InfluxDB password.', dependsOn: ['influx-user']}),
    from: Flags.string({summary: 'Start of the time range.', default: 'now-15m'}),
    to: Flags.string({summary: 'End of the time range.', default: 'now'}),
    'min-interval': Flags.string({summary: 'Smallest $__interval (the agents\' collection interval).', default: DEFAULT_INFLUX.minInterval}),
    json: Flags.boolean({summary: 'Print every query\'s outcome as JSON.'}),
  }

  async run(): Promise<void> {
    const f = this.flags
    const range = {from: parseTimeBound(f.from), to: parseTimeBound(f.to)}
    const minIntervalMs = parseInterval(f['min-interval'])
    const password = f['influx-password-file'] ? await readSecretFile(f['influx-password-file'], 'InfluxDB password') : undefined
    const influx = new InfluxQuery(f['influx-url'], f.database, f['influx-user'] && password ? {user: f['influx-user'], password} : undefined)
    const results = await runPanelQueries(JSON.parse(JSON.stringify(allDashboards())), influx, {range, minIntervalMs})
    const failed = results.filter((r) => r.error || r.rows === 0)
    if (f.json) this.printJson(results.map(({series: _series, ...result}) => result))
    else this.log(renderTable(['DASHBOARD', 'PANEL', 'QUERY', 'ROWS', 'PROBLEM'], results.map((r) => [r.dashboard, r.panel, r.refId, String(r.rows), r.error ?? (r.rows === 0 ? 'no data' : '')])))
    if (failed.length) throw new BerthError(`${failed.length} of ${results.length} panel queries returned no data (first: ${failed[0]!.dashboard} / ${failed[0]!.panel})`)
  }
}
