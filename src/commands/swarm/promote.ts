import {Flags} from '@oclif/core'
import {SwarmStepCommand} from '../../cli/swarm-output.js'
import {Machine, Reporter} from '../../core/machine/machine.js'
import {promoteNode} from '../../core/swarm/swarm.js'

export default class SwarmPromote extends SwarmStepCommand<typeof SwarmPromote> {
  static override summary = 'Make swarm workers managers.'
  static override description =
    "Through a manager of the swarm (found among berth's machines, or --manager), one machine at a time so raft keeps its quorum."
  static override flags = {
    ...SwarmStepCommand.flags,
    manager: Flags.string({summary: 'A manager of the swarm to act through; default: one berth finds.'}),
  }

  protected override async validate(): Promise<void> {
    if (this.flags.manager) await this.store.load(this.flags.manager)
  }

  protected async step(machine: Machine, reporter: Reporter) {
    const manager = this.flags.manager ? await Machine.open(this.store, this.flags.manager) : undefined
    return promoteNode(this.store, machine, {manager}, reporter)
  }
}
