import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {runWithProgress} from '../../cli/progress.js'
import {outcomeFailure, outcomeRows} from '../../cli/swarm-output.js'
import {Machine} from '../../core/machine/machine.js'
import {leaveSwarm} from '../../core/swarm/swarm.js'

export default class SwarmLeave extends BaseCommand<typeof SwarmLeave> {
  static override summary = 'Take machines out of their swarm.'
  static override description = 'A manager is demoted through another manager first, so the rest keep a correct quorum; its node is then removed from the node list.'
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s)', required: true})}
  static override flags = {
    force: Flags.boolean({char: 'f', summary: 'Leave even as the last manager (dissolves the swarm) or when no other manager is reachable.'}),
    quiet: Flags.boolean({char: 'q', summary: 'No progress output.'}),
    json: Flags.boolean({summary: 'Print the outcome per machine as JSON.'}),
  }

  async run(): Promise<void> {
    const {flags} = this
    const names = [...new Set(this.words.length > 0 ? this.words : [this.args.name])]
    for (const name of names) await this.store.load(name)
    const outcomes = await runWithProgress(names.map((name) => ({
      title: name,
      run: async (reporter) => {
        const release = await this.store.lock(name, 'berth swarm leave')
        try {
          return await leaveSwarm(await Machine.open(this.store, name, reporter), {force: flags.force, store: this.store}, reporter)
        } finally {
          await release()
        }
      },
    })), {quiet: flags.quiet || flags.json, concurrency: 1})
    if (flags.json) this.printJson(outcomeRows(outcomes))
    else for (const o of outcomes) if (o.ok) this.log(o.value.message)
    const failure = outcomeFailure(outcomes)
    if (failure) throw failure
  }
}
