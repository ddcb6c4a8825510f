import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {machineArg} from '../cli/args.js'
import {Machine} from '../core/machine/machine.js'

export default class Status extends BaseCommand<typeof Status> {
  static override summary = "Print a machine's state (Running, Stopped, NotFound, ...)."
  static override args = {name: machineArg}
  static override flags = {json: Flags.boolean({summary: 'Print as JSON.'})}

  async run(): Promise<void> {
    const machine = await Machine.open(this.store, this.args.name)
    const state = await machine.driver.getState()
    if (this.flags.json) this.printJson({name: machine.name, state})
    else this.log(state)
  }
}
