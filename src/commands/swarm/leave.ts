import {Flags} from '@oclif/core'
import {SwarmStepCommand} from '../../cli/swarm-output.js'
import type {Machine, Reporter} from '../../core/machine/machine.js'
import {leaveSwarm} from '../../core/swarm/swarm.js'

export default class SwarmLeave extends SwarmStepCommand<typeof SwarmLeave> {
  static override summary = 'Take machines out of their swarm.'
  static override description =
    'A manager is demoted through another manager first, so the rest keep a correct quorum; its node is then removed from the node list.'
  static override flags = {
    ...SwarmStepCommand.flags,
    force: Flags.boolean({
      char: 'f',
      summary: 'Leave even as the last manager (dissolves the swarm) or when no other manager is reachable.',
    }),
  }

  protected override concurrency = 1

  protected async step(machine: Machine, reporter: Reporter) {
    return leaveSwarm(machine, {force: this.flags.force, store: this.store}, reporter)
  }
}
