import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {runWithProgress} from '../../cli/progress.js'
import {outcomeFailure, outcomeRows} from '../../cli/swarm-output.js'
import {BerthError, ExitCode} from '../../core/errors.js'
import {Machine} from '../../core/machine/machine.js'
import {joinSwarm} from '../../core/swarm/swarm.js'

export default class SwarmJoin extends BaseCommand<typeof SwarmJoin> {
  static override summary = 'Join machines to the swarm a manager belongs to, as workers or managers.'
  static override description = 'Workers join in parallel, managers one at a time. A machine already in that swarm is left as it is; one in another swarm is refused unless --force.'
  static override examples = ['<%= config.bin %> swarm join w1 w2 w3 --to m1', '<%= config.bin %> swarm join m2 --manager --to m1']
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s) to join', required: true})}
  static override flags = {
    to: Flags.string({summary: 'A manager of the swarm to join.', required: true}),
    manager: Flags.boolean({summary: 'Join as managers.', exclusive: ['worker']}),
    worker: Flags.boolean({summary: 'Join as workers (the default).', exclusive: ['manager']}),
    force: Flags.boolean({summary: 'Machines in another swarm leave it first.'}),
    'advertise-addr': Flags.string({summary: 'Address the joining machine advertises (one machine only); default: its IP.'}),
    quiet: Flags.boolean({char: 'q', summary: 'No progress output.'}),
    json: Flags.boolean({summary: 'Print the outcome per machine as JSON.'}),
  }

  async run(): Promise<void> {
    const {flags} = this
    const names = [...new Set(this.words.length > 0 ? this.words : [this.args.name])]
    if (names.includes(flags.to)) throw new BerthError(`${flags.to} is the manager joined through; it cannot join itself`, ExitCode.usage)
    if (flags['advertise-addr'] && names.length > 1) throw new BerthError('--advertise-addr applies to one machine at a time', ExitCode.usage)
    await this.store.load(flags.to)
    for (const name of names) await this.store.load(name)
    const role = flags.manager ? 'manager' : 'worker'
    const outcomes = await runWithProgress(names.map((name) => ({
      title: name,
      run: async (reporter) => {
        const release = await this.store.lock(name, 'berth swarm join')
        try {
          const [machine, manager] = await Promise.all([Machine.open(this.store, name, reporter), Machine.open(this.store, flags.to)])
          return await joinSwarm(machine, manager, {role, force: flags.force, advertiseAddr: flags['advertise-addr']}, reporter)
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
