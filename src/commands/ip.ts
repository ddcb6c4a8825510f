import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {machineArg} from '../cli/args.js'
import {Machine} from '../core/machine/machine.js'

export default class Ip extends BaseCommand<typeof Ip> {
  static override summary = "Print a machine's IP address."
  static override args = {name: machineArg}
  static override flags = {json: Flags.boolean({summary: 'Print as JSON.'})}

  async run(): Promise<void> {
    const machine = await Machine.open(this.store, this.args.name)
    const ip = await machine.driver.getIP()
    if (this.flags.json) this.printJson({name: machine.name, ip})
    else this.log(ip)
  }
}
