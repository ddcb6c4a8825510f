import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {alertFlags, alertSettingsFrom, webhookFlags, webhookFrom} from '../../cli/alert-flags.js'
import {datasourceSettings, influxFlags} from '../../cli/influx-flags.js'
import {DEFAULT_DASHBOARDS_PATH, DEFAULT_FOLDER, exportDashboards} from '../../core/dashboards/export.js'
import {PASSWORD_ENV, TOKEN_ENV} from '../../../dashboards/src/index.js'

export default class DashboardsExport extends BaseCommand<typeof DashboardsExport> {
  static override summary = "Write berth's Grafana dashboards (JSON) and provisioning files to a folder."
  static override description =
    'DIR/json holds one file per dashboard; DIR/provisioning holds datasources/berth.yaml (InfluxDB, InfluxQL) and ' +
    'dashboards/berth.yaml (a provider reading --dashboards-path) and alerting/berth-rules.yaml (the alert rules, in --folder). Mount DIR/provisioning as /etc/grafana/provisioning and ' +
    `DIR/json at --dashboards-path. With --influx-user, Grafana reads the password from its environment variable ${PASSWORD_ENV}.`
  static override examples = [
    '<%= config.bin %> dashboards export ./grafana',
    '<%= config.bin %> dashboards export ./grafana --influx-url http://10.0.0.5:8086 --database fleet',
  ]
  static override args = {
    dir: Args.string({description: 'folder to write into (created if missing)', required: true}),
  }
  static override flags = {
    ...influxFlags,
    'influx-token': Flags.boolean({
      summary: `InfluxDB wants a token (InfluxDB 3, or 2.x through its v1 API): Grafana sends Authorization: Token with the value of its environment variable ${TOKEN_ENV}.`,
      exclusive: ['influx-user'],
    }),
    'dashboards-path': Flags.string({
      summary: "Folder of the JSON files as Grafana's server sees it.",
      default: DEFAULT_DASHBOARDS_PATH,
    }),
    folder: Flags.string({
      summary: 'Grafana folder the provisioned dashboards appear in.',
      default: DEFAULT_FOLDER,
    }),
    ...alertFlags,
    ...webhookFlags,
    json: Flags.boolean({summary: 'Print the files written as JSON.'}),
  }

  async run(): Promise<void> {
    const [alerts, webhookUrl] = [await alertSettingsFrom(this.flags), await webhookFrom(this.flags)]
    const files = await exportDashboards(this.args.dir, {
      ...datasourceSettings(this.flags, this.flags['influx-token']),
      dashboardsPath: this.flags['dashboards-path'],
      folder: this.flags.folder,
      alerts,
      webhookUrl,
    })
    if (this.flags.json) this.printJson({files})
    else for (const file of files) this.log(file)
  }
}
