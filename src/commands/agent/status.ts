import {Args, Flags} from '@oclif/core'
import {agentTargets, renderAgentStatus} from '../../cli/agent.js'
import {BaseCommand} from '../../cli/base.js'
import {runWithProgress, throwIfFailed} from '../../cli/progress.js'
import {agentStatus, type AgentStatus} from '../../core/agent/agent.js'
import {oneLine} from '../../core/errors.js'

export default class AgentStatusCommand extends BaseCommand<typeof AgentStatusCommand> {
  static override summary = 'Show the agent on machines: running, version, last write, spool, errors.'
  static override description = 'Asks each machine\'s engine for the agent container and the agent itself for its health (through the engine\'s exec), in parallel. Without names: every machine.'
  static override examples = ['<%= config.bin %> agent status', '<%= config.bin %> agent status web --json']
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s); default: all'})}
  static override flags = {
    json: Flags.boolean({summary: 'Print the status per machine as JSON.'}),
  }

  async run(): Promise<void> {
    const names = await agentTargets(this.store, this.words, this.words.length === 0)
    const outcomes = await runWithProgress<AgentStatus>(names.map((name) => ({title: `Asking ${name}`, run: () => agentStatus(this.store, name)})), {quiet: true})
    if (this.flags.json) this.printJson(outcomes.map((o, i) => (o.ok ? {ok: true, ...o.value} : {name: names[i], ok: false, error: oneLine(o.error)})))
    else this.log(renderAgentStatus(outcomes.map((o, i) => (o.ok ? o.value : {name: names[i]!, installed: false, running: false, state: 'unreachable', lastError: oneLine(o.error)}))))
    throwIfFailed(outcomes)
  }
}
