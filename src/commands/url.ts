import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {machineArg} from '../cli/args.js'
import {engineUrl} from '../core/engine/engine.js'
import {Machine} from '../core/machine/machine.js'

export default class Url extends BaseCommand<typeof Url> {
  static override summary = "Print a machine's engine URL."
  static override args = {name: machineArg}
  static override flags = {json: Flags.boolean({summary: 'Print as JSON.'})}

  async run(): Promise<void> {
    const machine = await Machine.open(this.store, this.args.name)
    const url = engineUrl(machine.record)
    if (this.flags.json) this.printJson({name: machine.name, url})
    else this.log(url)
  }
}
