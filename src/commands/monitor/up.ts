import {Args, Flags} from '@oclif/core'
import {alertFlags, alertSettingsFrom, webhookFlags, webhookFrom} from '../../cli/alert-flags.js'
import {BaseCommand} from '../../cli/base.js'
import {runWithProgress, throwIfFailed} from '../../cli/progress.js'
import {installAgent, type AgentStatus} from '../../core/agent/agent.js'
import {buildAgentImage, type AgentImage} from '../../core/agent/image.js'
import {readCaFile} from '../../core/http.js'
import {readSecretFile} from '../../core/secret-file.js'
import {
  checkListenAddress,
  DEFAULT_GRAFANA_IMAGE,
  DEFAULT_INFLUX_IMAGE,
  monitorUp,
} from '../../core/monitor/monitor.js'
import {DEFAULT_INFLUX} from '../../../dashboards/src/index.js'

export default class MonitorUp extends BaseCommand<typeof MonitorUp> {
  static override summary =
    "Run InfluxDB and Grafana (berth's data source and dashboards provisioned) on a machine."
  static override description =
    'Both run as containers (restart unless-stopped) on the network berth-monitor, with their data in volumes that survive ' +
    "`monitor down`. Grafana gets berth's alert rules too (--alert, --alert-config), sent to --alert-webhook-file's URL when given. --agent points " +
    "machines' agents at this InfluxDB. Running it again applies new settings and keeps the data.\n\n" +
    "Private by default: InfluxDB and Grafana serve https with certificates from the machine's own CA (verify them with its folder's ca.pem), " +
    "are published on the machine's address only, and InfluxDB wants a user: berth_admin, berth_writer (the agents: WRITE on the database) and " +
    "berth_reader (Grafana, dashboards check: READ), with passwords made once and kept in the machine's folder under monitor/ (0600). " +
    "Grafana's admin password is made once too (user admin). The secrets reach the containers as files, never in their environment."
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
    'listen-address': Flags.string({
      summary:
        "Machine address InfluxDB and Grafana are published on (default: the machine's). 0.0.0.0 publishes them on every interface: reachable from every network the machine is on, and Docker's published ports bypass host firewalls such as ufw.",
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
    const listenAddress =
      f['listen-address'] === undefined ? undefined : checkListenAddress(f['listen-address'])
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
                listenAddress,
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
    const writer = outcome.influxCredentials.writer
    const influx = {url: outcome.influxUrl, database: outcome.database, username: writer.username}
    const secrets = {
      password: await readSecretFile(writer.passwordFile, 'InfluxDB password'),
      ca: await readCaFile(outcome.caFile, 'the machine CA'),
    }
    const installed = await runWithProgress<AgentStatus>(
      agents.map((name) => ({
        title: `Pointing the agent on ${name} at ${outcome.influxUrl}`,
        run: (reporter) =>
          installAgent(
            this.store,
            name,
            {influx, intervalSeconds: f.interval},
            secrets,
            () => (image ??= buildAgentImage(this.store.cacheDir, this.config.version, reporter)),
            this.config.version,
            reporter,
          ),
      })),
      {quiet: f.quiet || f.json},
    )
    if (f.json) this.printJson({...outcome, agents: installed.map((o, i) => ({name: agents[i], ok: o.ok}))})
    else {
      const {reader} = outcome.influxCredentials
      this.log(`InfluxDB: ${outcome.influxUrl} (database ${outcome.database})`)
      this.log(`          writer ${writer.username}, password in ${writer.passwordFile}`)
      this.log(`          reader ${reader.username}, password in ${reader.passwordFile}`)
      if (outcome.grafanaUrl)
        this.log(`Grafana:  ${outcome.grafanaUrl} (user admin, password in ${outcome.grafanaPasswordFile})`)
      this.log(`CA:       ${outcome.caFile} (verifies both)`)
    }
    throwIfFailed(installed)
  }
}
