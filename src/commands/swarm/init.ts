import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {withMachine} from '../../core/machine/machine.js'
import {initSwarm} from '../../core/swarm/swarm.js'

export default class SwarmInit extends BaseCommand<typeof SwarmInit> {
  static override summary = 'Start a swarm-mode cluster with a machine as its first manager.'
  static override description =
    "A machine that already manages a swarm is left as it is. The advertise address defaults to the machine's IP (the address berth and the other machines reach it at)."
  static override examples = [
    '<%= config.bin %> swarm init m1',
    '<%= config.bin %> swarm init m1 --advertise-addr 10.0.0.5',
  ]
  static override args = {
    name: Args.string({description: 'machine to become the first manager', required: true}),
  }
  static override flags = {
    'advertise-addr': Flags.string({
      summary:
        "Address (IP, IP:PORT or interface) the other nodes reach this manager at; default: the machine's IP.",
    }),
    force: Flags.boolean({summary: 'If the machine is in another swarm, leave it first.'}),
    json: Flags.boolean({summary: 'Print the outcome as JSON.'}),
  }

  async run(): Promise<void> {
    const name = this.args.name
    await this.store.load(name)
    await withMachine(this.store, name, 'berth swarm init', async (machine) => {
      const outcome = await initSwarm(
        machine,
        {advertiseAddr: this.flags['advertise-addr'], force: this.flags.force},
        {
          step: (m) => {
            if (!this.flags.json) this.note(m)
          },
        },
      )
      if (this.flags.json) this.printJson(outcome)
      else this.log(outcome.message)
    })
  }
}
