import {Args, Flags} from '@oclif/core'
import {agentTargets, allFlag} from '../../cli/agent.js'
import {BaseCommand} from '../../cli/base.js'
import {runWithProgress, throwIfFailed} from '../../cli/progress.js'
import {removeAgent} from '../../core/agent/agent.js'
import {oneLine} from '../../core/errors.js'

export default class AgentRm extends BaseCommand<typeof AgentRm> {
  static override summary = 'Remove the agent from machines (its container and state volume).'
  static override examples = ['<%= config.bin %> agent rm web', '<%= config.bin %> agent rm --all']
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s)'})}
  static override flags = {
    all: allFlag,
    quiet: Flags.boolean({char: 'q', summary: 'No progress output.'}),
    json: Flags.boolean({summary: 'Print the outcome per machine as JSON.'}),
  }

  async run(): Promise<void> {
    const names = await agentTargets(this.store, this.words, this.flags.all)
    const outcomes = await runWithProgress(names.map((name) => ({title: `Removing the agent from ${name}`, run: (reporter) => removeAgent(this.store, name, reporter)})),
      {quiet: this.flags.quiet || this.flags.json})
    if (this.flags.json) this.printJson(outcomes.map((o, i) => (o.ok ? {ok: true, ...o.value} : {name: names[i], ok: false, error: oneLine(o.error)})))
    else for (const o of outcomes) if (o.ok) this.log(o.value.removed ? `Removed the agent from ${o.value.name}` : `${o.value.name} had no agent`)
    throwIfFailed(outcomes)
  }
}
