import {Args, Flags} from '@oclif/core'
import {SwarmStepCommand} from '../../cli/swarm-output.js'
import {BerthError, ExitCode} from '../../core/errors.js'
import {Machine, Reporter} from '../../core/machine/machine.js'
import {joinSwarm} from '../../core/swarm/swarm.js'

export default class SwarmJoin extends SwarmStepCommand<typeof SwarmJoin> {
  static override summary = 'Join machines to the swarm a manager belongs to, as workers or managers.'
  static override description =
    'Workers join in parallel, managers one at a time. A machine already in that swarm is left as it is; one in another swarm is refused unless --force.'
  static override examples = [
    '<%= config.bin %> swarm join w1 w2 w3 --to m1',
    '<%= config.bin %> swarm join m2 --manager --to m1',
  ]
  static override args = {name: Args.string({description: 'machine name(s) to join', required: true})}
  static override flags = {
    to: Flags.string({summary: 'A manager of the swarm to join.', required: true}),
    manager: Flags.boolean({summary: 'Join as managers.', exclusive: ['worker']}),
    worker: Flags.boolean({summary: 'Join as workers (the default).', exclusive: ['manager']}),
    force: Flags.boolean({summary: 'Machines in another swarm leave it first.'}),
    'advertise-addr': Flags.string({
      summary: 'Address the joining machine advertises (one machine only); default: its IP.',
    }),
    ...SwarmStepCommand.flags,
  }

  protected override async validate(names: string[]): Promise<void> {
    const {flags} = this
    if (names.includes(flags.to))
      throw new BerthError(`${flags.to} is the manager joined through; it cannot join itself`, ExitCode.usage)
    if (flags['advertise-addr'] && names.length > 1)
      throw new BerthError('--advertise-addr applies to one machine at a time', ExitCode.usage)
    await this.store.load(flags.to)
  }

  protected async step(machine: Machine, reporter: Reporter) {
    const {flags} = this
    const manager = await Machine.open(this.store, flags.to)
    return joinSwarm(
      machine,
      manager,
      {
        role: flags.manager ? 'manager' : 'worker',
        force: flags.force,
        advertiseAddr: flags['advertise-addr'],
      },
      reporter,
    )
  }
}
