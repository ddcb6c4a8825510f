import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {renderTable} from '../../cli/table.js'
import {short} from '../../core/swarm/model.js'
import {listSwarms} from '../../core/swarm/swarm.js'

export default class SwarmLs extends BaseCommand<typeof SwarmLs> {
  static override summary = 'List swarm nodes: role, availability, status, engine version, leader.'
  static override description =
    "With a machine name, the nodes of its swarm (a worker is enough); without, every swarm berth's machines manage."
  static override args = {name: Args.string({description: 'a machine in the swarm'})}
  static override flags = {
    json: Flags.boolean({summary: 'Print as JSON.'}),
  }

  async run(): Promise<void> {
    const swarms = await listSwarms(this.store, this.args.name)
    if (this.flags.json) return this.printJson(swarms)
    if (swarms.length === 0)
      return this.note("No swarm among berth's machines; `berth swarm init NAME` starts one.")
    const header = [
      'ID',
      'MACHINE',
      'HOSTNAME',
      'STATUS',
      'AVAILABILITY',
      'ROLE',
      'MANAGER STATUS',
      'ENGINE VERSION',
    ]
    swarms.forEach((swarm, index) => {
      if (swarms.length > 1)
        this.log(`${index > 0 ? '\n' : ''}Swarm ${short(swarm.clusterId)} (through ${swarm.manager}):`)
      const rows = swarm.nodes.map((n) => [
        short(n.id),
        n.machine || '-',
        n.hostname,
        cap(n.status),
        cap(n.availability),
        n.role,
        n.managerStatus,
        n.engineVersion,
      ])
      this.log(renderTable(header, rows))
    })
  }
}

function cap(value: string): string {
  return value.charAt(0).toUpperCase() + value.slice(1)
}
