import {Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {influxFlags, influxSettings} from '../../cli/influx-flags.js'
import {DEFAULT_FOLDER} from '../../core/dashboards/export.js'
import {GrafanaClient, grafanaBaseUrl, installDashboards, readTokenFile} from '../../core/dashboards/grafana.js'
import {readSecretFile} from '../../core/secret-file.js'

export default class DashboardsInstall extends BaseCommand<typeof DashboardsInstall> {
  static override summary = 'Create or update berth\'s InfluxDB data source, folder and dashboards in a running Grafana.'
  static override description =
    'Through Grafana\'s HTTP API with a service account token read from --token-file (Admin role). Fixed uids make it ' +
    'idempotent: a second run updates the data source and overwrites the dashboards instead of adding copies.'
  static override examples = ['<%= config.bin %> dashboards install --grafana-url http://grafana:3000 --token-file ~/.grafana-token --influx-url http://influxdb:8086']
  static override flags = {
    'grafana-url': Flags.string({summary: 'Grafana\'s root URL.', required: true}),
    'token-file': Flags.string({summary: 'File holding a Grafana service account token (never pass it on the command line).', required: true}),
    folder: Flags.string({summary: 'Grafana folder for the dashboards (created if missing).', default: DEFAULT_FOLDER}),
    ...influxFlags,
    'influx-password-file': Flags.string({summary: 'File holding the InfluxDB password for --influx-user.', dependsOn: ['influx-user']}),
    json: Flags.boolean({summary: 'Print what was created or updated as JSON.'}),
  }

  async run(): Promise<void> {
    const url = grafanaBaseUrl(this.flags['grafana-url'])
    const token = await readTokenFile(this.flags['token-file'])
    const influxPassword = this.flags['influx-password-file'] ? await readSecretFile(this.flags['influx-password-file'], 'InfluxDB password') : undefined
    const grafana = new GrafanaClient({url, token})
    const outcome = await installDashboards(grafana, {influx: influxSettings(this.flags), influxPassword, folder: this.flags.folder}, (m) => {
      if (!this.flags.json) this.note(m)
    })
    if (this.flags.json) return this.printJson(outcome)
    for (const dashboard of outcome.dashboards) this.log(`${dashboard.title}\t${dashboard.url}`)
  }
}
