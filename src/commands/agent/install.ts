import {Args, Flags} from '@oclif/core'
import {agentTargets, allFlag, globalFlag, globalManager, renderAgentStatus} from '../../cli/agent.js'
import {BaseCommand} from '../../cli/base.js'
import {runWithProgress, throwIfFailed} from '../../cli/progress.js'
import {installAgent, MAX_LINE_ENV, prepareInflux, type AgentStatus} from '../../core/agent/agent.js'
import {ALLOW_INSECURE_SUMMARY} from '../../core/http.js'
import {installGlobalAgent} from '../../core/agent/global.js'
import {buildAgentImage, type AgentImage} from '../../core/agent/image.js'
import {AGENT_LIMIT_BOUNDS, agentLimits, DEFAULT_AGENT_LIMITS, formatSize} from '../../core/agent/limits.js'
import {BerthError, ExitCode, oneLine} from '../../core/errors.js'
import type {InfluxConnection} from '../../../agent/src/influx.js'

export default class AgentInstall extends BaseCommand<typeof AgentInstall> {
  static override summary =
    'Run the monitoring agent on machines: Docker events, container stats and logs into InfluxDB.'
  static override description =
    "The agent runs as the container berth-agent (restart unless-stopped, host network, user 65532 with no capabilities, no-new-privileges, read-only root, memory and pids limits (--memory, --pids-limit); /sys/fs/cgroup and /proc read-only) and reaches the Docker API only through berth-agent-api, a filter that lets through the GETs it makes and nothing else. Without --image berth builds the agent image here and loads it into each machine that lacks it. The password or token is read from a file and reaches the agent as a file, never on a command line or in the container's environment. Reinstalling keeps the agent's checkpoints and spool.\n\nWith --global and one swarm manager: a swarm global service berth-agent instead (one task per node, restart any, the same mounts, restrictions and filter; the secrets as swarm secrets, replaced when they change). Re-running it with the same settings changes nothing."
  static override examples = [
    '<%= config.bin %> agent install web db --influx-url http://10.0.0.2:8086 --database telegraf',
    '<%= config.bin %> agent install --all --influx-url https://influx.example.com --bucket fleet --org ops --token-file ~/.influx-token',
    '<%= config.bin %> agent install --global manager1 --influx-url https://influx.example.com --bucket fleet --org ops --token-file ~/.influx-token',
  ]
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s)'})}
  static override flags = {
    all: allFlag,
    global: globalFlag,
    'influx-url': Flags.string({
      summary: 'InfluxDB base URL as the machines reach it (http or https).',
      required: true,
    }),
    database: Flags.string({summary: 'InfluxDB 1.x database (/write).'}),
    'retention-policy': Flags.string({summary: 'InfluxDB 1.x retention policy.'}),
    'influx-username': Flags.string({summary: 'InfluxDB 1.x user.'}),
    'influx-password-file': Flags.string({summary: 'File holding the InfluxDB 1.x password.'}),
    bucket: Flags.string({
      summary: 'Bucket for the v2 write API (/api/v2/write); needs --org and --token-file.',
    }),
    org: Flags.string({summary: 'Organization for the v2 write API.'}),
    'token-file': Flags.string({
      summary:
        "File holding the InfluxDB token (with --bucket, or with --database for InfluxDB 3 and 2.x's v1 API: Authorization: Token).",
    }),
    'influx-ca-file': Flags.string({summary: 'PEM file of a CA to trust for an https InfluxDB.'}),
    'allow-insecure': Flags.boolean({summary: ALLOW_INSECURE_SUMMARY}),
    image: Flags.string({
      summary: 'Agent image the machines pull (default: built here and loaded into each machine).',
    }),
    interval: Flags.integer({summary: 'Seconds between stats collections.', default: 10, min: 1}),
    memory: Flags.string({
      summary: `Memory limit of the agent's container (${formatSize(DEFAULT_AGENT_LIMITS.memoryBytes)} by default; ${formatSize(AGENT_LIMIT_BOUNDS.memoryBytes.min)} at least).`,
    }),
    'pids-limit': Flags.integer({
      summary: `Processes and threads the agent's container may have (${DEFAULT_AGENT_LIMITS.pids} by default; ${AGENT_LIMIT_BOUNDS.pids.min} at least).`,
    }),
    'max-line-bytes': Flags.string({
      summary: `Longest log line written whole; a longer one is cut there and marked truncated (${formatSize(DEFAULT_AGENT_LIMITS.maxLineBytes)} by default).`,
    }),
    env: Flags.string({
      summary: 'Extra agent setting KEY=VALUE (BERTH_AGENT_* only; repeatable).',
      multiple: true,
    }),
    quiet: Flags.boolean({char: 'q', summary: 'No progress output.'}),
    json: Flags.boolean({summary: "Print each machine's agent status as JSON."}),
  }

  async run(): Promise<void> {
    const f = this.flags
    const env: Record<string, string> = {}
    for (const pair of f.env ?? []) {
      const match = /^(BERTH_AGENT_[A-Z0-9_]+)=(.*)$/.exec(pair)
      if (!match) throw new BerthError(`--env takes BERTH_AGENT_NAME=VALUE, not "${pair}"`, ExitCode.usage)
      if (match[1] === MAX_LINE_ENV)
        throw new BerthError(`${MAX_LINE_ENV} cannot be set with --env: use --max-line-bytes`, ExitCode.usage)
      if (/PASSWORD|TOKEN/.test(match[1]!))
        throw new BerthError(
          `${match[1]} cannot be set with --env: use --influx-password-file or --token-file`,
          ExitCode.usage,
        )
      if (match[1] === 'BERTH_AGENT_INSECURE')
        throw new BerthError(
          'BERTH_AGENT_INSECURE is not supported: trust a private CA with --influx-ca-file',
          ExitCode.usage,
        )
      env[match[1]!] = match[2]!
    }
    const influx: InfluxConnection = {
      url: f['influx-url'],
      database: f.database,
      retentionPolicy: f['retention-policy'],
      username: f['influx-username'],
      bucket: f.bucket,
      org: f.org,
    }
    const secrets = await prepareInflux(
      influx,
      {passwordFile: f['influx-password-file'], tokenFile: f['token-file'], caFile: f['influx-ca-file']},
      {allowInsecure: f['allow-insecure']},
    )
    const limits = agentLimits({
      memory: f.memory,
      pidsLimit: f['pids-limit'],
      maxLineBytes: f['max-line-bytes'],
    })
    const options = {influx, image: f.image, intervalSeconds: f.interval, limits, env}
    // One image build for all machines, started by whichever needs it first.
    let image: Promise<AgentImage> | undefined
    const buildOnce = (step: (m: string) => void) => () =>
      (image ??= buildAgentImage(this.store.cacheDir, this.config.version, {step}))
    if (f.global) {
      const manager = await globalManager(this.store, this.words, f.all)
      const [outcome] = await runWithProgress(
        [
          {
            title: `Deploying the global agent service through ${manager}`,
            run: (reporter) =>
              installGlobalAgent(
                this.store,
                manager,
                options,
                secrets,
                buildOnce(reporter.step),
                this.config.version,
                reporter,
              ),
          },
        ],
        {quiet: f.quiet || f.json},
      )
      if (!outcome!.ok) throw outcome!.error
      const deployed = outcome!.value
      if (f.json) this.printJson(deployed)
      else this.log(`${deployed.service}: ${deployed.action}\n${renderAgentStatus(deployed.nodes)}`)
      for (const status of deployed.nodes)
        if (status.lastError) this.note(`Warning: the agent on ${status.name} reports: ${status.lastError}`)
      return
    }
    const names = await agentTargets(this.store, this.words, f.all)
    const outcomes = await runWithProgress<AgentStatus>(
      names.map((name) => ({
        title: `Installing the agent on ${name}`,
        run: (reporter) =>
          installAgent(
            this.store,
            name,
            options,
            secrets,
            buildOnce(reporter.step),
            this.config.version,
            reporter,
          ),
      })),
      {quiet: f.quiet || f.json},
    )
    const installed = outcomes.flatMap((o) => (o.ok ? [o.value] : []))
    if (f.json)
      this.printJson(
        outcomes.map((o, i) =>
          o.ok ? {ok: true, ...o.value} : {name: names[i], ok: false, error: oneLine(o.error)},
        ),
      )
    else if (installed.length) this.log(renderAgentStatus(installed))
    for (const status of installed)
      if (status.lastError)
        this.note(`Warning: the agent on ${status.name} runs but reports: ${status.lastError}`)
    throwIfFailed(outcomes)
  }
}
