import {Args, Flags} from '@oclif/core'
import {agentTargets, allFlag, globalFlag, globalManager} from '../../cli/agent.js'
import {BaseCommand} from '../../cli/base.js'
import {runWithProgress, throwIfFailed} from '../../cli/progress.js'
import {removeAgent} from '../../core/agent/agent.js'
import {removeGlobalAgent} from '../../core/agent/global.js'
import {oneLine} from '../../core/errors.js'

export default class AgentRm extends BaseCommand<typeof AgentRm> {
  static override summary =
    'Remove the agent from machines (its container and state volume), or with --global the swarm service and its secrets.'
  static override examples = [
    '<%= config.bin %> agent rm web',
    '<%= config.bin %> agent rm --all',
    '<%= config.bin %> agent rm --global manager1',
  ]
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s)'})}
  static override flags = {
    all: allFlag,
    global: globalFlag,
    quiet: Flags.boolean({char: 'q', summary: 'No progress output.'}),
    json: Flags.boolean({summary: 'Print the outcome per machine as JSON.'}),
  }

  async run(): Promise<void> {
    if (this.flags.global) {
      const manager = await globalManager(this.store, this.words, this.flags.all)
      const [outcome] = await runWithProgress(
        [
          {
            title: `Removing the global agent service through ${manager}`,
            run: (reporter) => removeGlobalAgent(this.store, manager, reporter),
          },
        ],
        {quiet: this.flags.quiet || this.flags.json},
      )
      if (!outcome!.ok) throw outcome!.error
      if (this.flags.json) this.printJson(outcome!.value)
      else
        this.log(
          outcome!.value.removed
            ? `Removed the global agent service from ${manager}'s swarm`
            : `${manager}'s swarm had no global agent service`,
        )
      return
    }
    const names = await agentTargets(this.store, this.words, this.flags.all)
    const outcomes = await runWithProgress(
      names.map((name) => ({
        title: `Removing the agent from ${name}`,
        run: (reporter) => removeAgent(this.store, name, reporter),
      })),
      {quiet: this.flags.quiet || this.flags.json},
    )
    if (this.flags.json)
      this.printJson(
        outcomes.map((o, i) =>
          o.ok ? {ok: true, ...o.value} : {name: names[i], ok: false, error: oneLine(o.error)},
        ),
      )
    else
      for (const o of outcomes)
        if (o.ok)
          this.log(
            o.value.removed ? `Removed the agent from ${o.value.name}` : `${o.value.name} had no agent`,
          )
    throwIfFailed(outcomes)
  }
}
