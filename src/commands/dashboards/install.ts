import {Flags} from '@oclif/core'
import {alertFlags, alertSettingsFrom, webhookFlags, webhookFrom} from '../../cli/alert-flags.js'
import {BaseCommand} from '../../cli/base.js'
import {datasourceSettings, influxFlags} from '../../cli/influx-flags.js'
import {DEFAULT_FOLDER} from '../../core/dashboards/export.js'
import {installAlerts} from '../../core/dashboards/grafana-alerts.js'
import {
  GrafanaClient,
  grafanaBaseUrl,
  installDashboards,
  readTokenFile,
} from '../../core/dashboards/grafana.js'
import {readSecretFile} from '../../core/secret-file.js'
import {ALLOW_INSECURE_SUMMARY, insecureRefusal, readCaFile} from '../../core/http.js'

export default class DashboardsInstall extends BaseCommand<typeof DashboardsInstall> {
  static override summary =
    "Create or update berth's InfluxDB data source, folder, dashboards and alert rules in a running Grafana."
  static override description =
    "Through Grafana's HTTP API with a service account token read from --token-file (Admin role). Fixed uids make it " +
    'idempotent: a second run updates the data source, overwrites the dashboards and updates each alert rule in place ' +
    '(alerting provisioning API, by uid) instead of adding copies.'
  static override examples = [
    '<%= config.bin %> dashboards install --grafana-url https://grafana.example:3000 --token-file ~/.grafana-token --influx-url http://influxdb:8086',
  ]
  static override flags = {
    'grafana-url': Flags.string({summary: "Grafana's root URL.", required: true}),
    'token-file': Flags.string({
      summary: 'File holding a Grafana service account token (never pass it on the command line).',
      required: true,
    }),
    'grafana-ca-file': Flags.string({
      summary:
        "PEM file of a CA to trust for an https Grafana (for `monitor up`'s: the machine folder's ca.pem).",
    }),
    'allow-insecure': Flags.boolean({summary: ALLOW_INSECURE_SUMMARY}),
    folder: Flags.string({
      summary: 'Grafana folder for the dashboards (created if missing).',
      default: DEFAULT_FOLDER,
    }),
    ...influxFlags,
    'influx-password-file': Flags.string({
      summary: 'File holding the InfluxDB password for --influx-user.',
      dependsOn: ['influx-user'],
    }),
    ...alertFlags,
    ...webhookFlags,
    'no-alerts': Flags.boolean({summary: 'Leave the alert rules out.'}),
    'influx-token-file': Flags.string({
      summary:
        'File holding an InfluxDB token (InfluxDB 3, or 2.x through its v1 API), sent as Authorization: Token.',
      exclusive: ['influx-user'],
    }),
    json: Flags.boolean({summary: 'Print what was created or updated as JSON.'}),
  }

  async run(): Promise<void> {
    const url = grafanaBaseUrl(this.flags['grafana-url'])
    const token = await readTokenFile(this.flags['token-file'])
    if (url.startsWith('http:') && !this.flags['allow-insecure'])
      throw insecureRefusal('--grafana-url', 'Grafana token', '--grafana-ca-file')
    const ca = this.flags['grafana-ca-file']
      ? await readCaFile(this.flags['grafana-ca-file'], '--grafana-ca-file')
      : undefined
    const influxPassword = this.flags['influx-password-file']
      ? await readSecretFile(this.flags['influx-password-file'], 'InfluxDB password')
      : undefined
    const influxToken = this.flags['influx-token-file']
      ? await readSecretFile(this.flags['influx-token-file'], 'InfluxDB token')
      : undefined
    const [settings, webhookUrl] = [await alertSettingsFrom(this.flags), await webhookFrom(this.flags)]
    const grafana = new GrafanaClient({url, token, ca})
    const progress = (m: string) => {
      if (!this.flags.json) this.note(m)
    }
    const installed = await installDashboards(
      grafana,
      {
        ...datasourceSettings(this.flags, influxToken !== undefined),
        influxPassword,
        influxToken,
        folder: this.flags.folder,
      },
      progress,
    )
    const alerts = this.flags['no-alerts']
      ? undefined
      : await installAlerts(
          grafana,
          {folderUid: installed.folder.uid, folderTitle: installed.folder.title, settings, webhookUrl},
          progress,
        )
    const outcome = {...installed, alerts}
    if (this.flags.json) return this.printJson(outcome)
    for (const dashboard of outcome.dashboards) this.log(`${dashboard.title}\t${dashboard.url}`)
  }
}
