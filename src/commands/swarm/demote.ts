import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {runWithProgress} from '../../cli/progress.js'
import {outcomeFailure, outcomeRows} from '../../cli/swarm-output.js'
import {Machine} from '../../core/machine/machine.js'
import {demoteNode} from '../../core/swarm/swarm.js'

export default class SwarmDemote extends BaseCommand<typeof SwarmDemote> {
  static override summary = 'Make swarm managers workers.'
  static override description = 'Through a manager of the swarm (found among berth\'s machines, or --manager), one machine at a time so raft keeps its quorum.'
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s)', required: true})}
  static override flags = {
    manager: Flags.string({summary: 'A manager of the swarm to act through; default: one berth finds.'}),
    quiet: Flags.boolean({char: 'q', summary: 'No progress output.'}),
    json: Flags.boolean({summary: 'Print the outcome per machine as JSON.'}),
  }

  async run(): Promise<void> {
    const {flags} = this
    const names = [...new Set(this.words.length > 0 ? this.words : [this.args.name])]
    for (const name of names) await this.store.load(name)
    if (flags.manager) await this.store.load(flags.manager)
    const outcomes = await runWithProgress(names.map((name) => ({
      title: name,
      run: async (reporter) => {
        const release = await this.store.lock(name, 'berth swarm demote')
        try {
          const machine = await Machine.open(this.store, name, reporter)
          const manager = flags.manager ? await Machine.open(this.store, flags.manager) : undefined
          return await demoteNode(this.store, machine, {manager}, reporter)
        } finally {
          await release()
        }
      },
    })), {quiet: flags.quiet || flags.json})
    if (flags.json) this.printJson(outcomeRows(outcomes))
    else for (const o of outcomes) if (o.ok) this.log(o.value.message)
    const failure = outcomeFailure(outcomes)
    if (failure) throw failure
  }
}
