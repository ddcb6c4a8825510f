import {Args, Flags} from '@oclif/core'
import {alertFlags, alertSettingsFrom, webhookFlags, webhookFrom} from '../../cli/alert-flags.js'
import {BaseCommand} from '../../cli/base.js'
import {runWithProgress, throwIfFailed} from '../../cli/progress.js'
import {installAgent, type AgentStatus} from '../../core/agent/agent.js'
import {buildAgentImage, type AgentImage} from '../../core/agent/image.js'
import {DEFAULT_GRAFANA_IMAGE, DEFAULT_INFLUX_IMAGE, monitorUp} from '../../core/monitor/monitor.js'
import {DEFAULT_INFLUX} from '../../../dashboards/src/index.js'

export default class MonitorUp extends BaseCommand<typeof MonitorUp> {
  static override summary =
    "Run InfluxDB and Grafana (berth's data source and dashboards provisioned) on a machine."
  static override description =
    'Both run as containers (restart unless-stopped) on the network berth-monitor, with their data in volumes that survive ' +
    "`monitor down`. Grafana gets berth's alert rules too (--alert, --alert-config), sent to --alert-webhook-file's URL when given. Grafana's admin password is made once and kept in the machine's folder (0600). --agent points " +
    "machines' agents at this InfluxDB. Running it again applies new settings and keeps the data."
  static override examples = [
    '<%= config.bin %> monitor up ops --agent web --agent db',
    '<%= config.bin %> monitor up ops --influx-image registry.example/influxdb:1.8 --no-grafana',
  ]
  static override args = {name: Args.string({description: 'machine to run the stack on', required: true})}
  static override flags = {
    'influx-image': Flags.string({
      summary: 'InfluxDB 1.x image (on the machine already, or pullable).',
      default: DEFAULT_INFLUX_IMAGE,
    }),
    'grafana-image': Flags.string({summary: 'Grafana image.', default: DEFAULT_GRAFANA_IMAGE}),
    'no-grafana': Flags.boolean({summary: 'Run InfluxDB only.'}),
    database: Flags.string({summary: 'Database the agents write to.', default: DEFAULT_INFLUX.database}),
    'influx-port': Flags.integer({
      summary: 'Port InfluxDB is published on.',
      default: 8086,
      min: 1,
      max: 65535,
    }),
    'grafana-port': Flags.integer({
      summary: 'Port Grafana is published on.',
      default: 3000,
      min: 1,
      max: 65535,
    }),
    agent: Flags.string({
      summary: 'Machine whose agent should write here (repeatable); the agent is installed or reconfigured.',
      multiple: true,
    }),
    interval: Flags.integer({summary: "Seconds between the agents' stats collections.", default: 10, min: 1}),
    ...alertFlags,
    ...webhookFlags,
    quiet: Flags.boolean({char: 'q', summary: 'No progress output.'}),
    json: Flags.boolean({summary: 'Print the outcome as JSON.'}),
  }

  async run(): Promise<void> {
    const f = this.flags
    const agents = [...new Set(f.agent ?? [])]
    for (const machine of [this.args.name, ...agents]) await this.store.load(machine) // a wrong name fails before anything starts
    const [alerts, webhookUrl] = [await alertSettingsFrom(f), await webhookFrom(f)]
    const [up] = await runWithProgress(
      [
        {
          title: `Starting the monitoring stack on ${this.args.name}`,
          run: (reporter) =>
            monitorUp(
              this.store,
              this.args.name,
              {
                influxImage: f['influx-image'],
                grafanaImage: f['no-grafana'] ? undefined : f['grafana-image'],
                database: f.database,
                influxPort: f['influx-port'],
                grafanaPort: f['grafana-port'],
                minInterval: `${f.interval}s`,
                alerts,
                webhookUrl,
              },
              reporter,
            ),
        },
      ],
      {quiet: f.quiet || f.json},
    )
    if (!up!.ok) throw up!.error
    const outcome = up!.value
    let image: Promise<AgentImage> | undefined
    const influx = {url: outcome.influxUrl, database: outcome.database}
    const installed = await runWithProgress<AgentStatus>(
      agents.map((name) => ({
        title: `Pointing the agent on ${name} at ${outcome.influxUrl}`,
        run: (reporter) =>
          installAgent(
            this.store,
            name,
            {influx, intervalSeconds: f.interval},
            {},
            () => (image ??= buildAgentImage(this.store.cacheDir, this.config.version, reporter)),
            this.config.version,
            reporter,
          ),
      })),
      {quiet: f.quiet || f.json},
    )
    if (f.json) this.printJson({...outcome, agents: installed.map((o, i) => ({name: agents[i], ok: o.ok}))})
    else {
      this.log(`InfluxDB: ${outcome.influxUrl} (database ${outcome.database})`)
      if (outcome.grafanaUrl)
        this.log(`Grafana:  ${outcome.grafanaUrl} (user admin, password in ${outcome.grafanaPasswordFile})`)
    }
    throwIfFailed(installed)
  }
}
