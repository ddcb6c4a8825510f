import {Args, Flags} from '@oclif/core'
import {agentTargets, globalFlag, globalManager, renderAgentStatus} from '../../cli/agent.js'
import {BaseCommand} from '../../cli/base.js'
import {runWithProgress, throwIfFailed} from '../../cli/progress.js'
import {agentStatus, type AgentStatus} from '../../core/agent/agent.js'
import {globalAgentStatus} from '../../core/agent/global.js'
import {oneLine} from '../../core/errors.js'

export default class AgentStatusCommand extends BaseCommand<typeof AgentStatusCommand> {
  static override summary = 'Show the agent on machines: running, version, last write, spool, errors.'
  static override description =
    "Asks each machine's engine for the agent container and the agent itself for its health (through the engine's exec), in parallel. Without names: every machine. With --global and a swarm manager: the global service's task on each node of its swarm, and each agent's health."
  static override examples = [
    '<%= config.bin %> agent status',
    '<%= config.bin %> agent status web --json',
    '<%= config.bin %> agent status --global manager1',
  ]
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s); default: all'})}
  static override flags = {
    global: globalFlag,
    json: Flags.boolean({summary: 'Print the status per machine as JSON.'}),
  }

  async run(): Promise<void> {
    if (this.flags.global) {
      const nodes = await globalAgentStatus(this.store, await globalManager(this.store, this.words, false))
      if (this.flags.json) this.printJson(nodes)
      else this.log(renderAgentStatus(nodes))
      return
    }
    const names = await agentTargets(this.store, this.words, this.words.length === 0)
    const outcomes = await runWithProgress<AgentStatus>(
      names.map((name) => ({title: `Asking ${name}`, run: () => agentStatus(this.store, name)})),
      {quiet: true},
    )
    if (this.flags.json)
      this.printJson(
        outcomes.map((o, i) =>
          o.ok ? {ok: true, ...o.value} : {name: names[i], ok: false, error: oneLine(o.error)},
        ),
      )
    else
      this.log(
        renderAgentStatus(
          outcomes.map((o, i) =>
            o.ok
              ? o.value
              : {
                  name: names[i]!,
                  installed: false,
                  running: false,
                  state: 'unreachable',
                  lastError: oneLine(o.error),
                },
          ),
        ),
      )
    throwIfFailed(outcomes)
  }
}
