import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {machineArg} from '../cli/args.js'
import {readCommandOutput} from '../cli/read.js'

export default class Status extends BaseCommand<typeof Status> {
  static override summary = "Print a machine's state (Running, Stopped, NotFound, ...)."
  static override args = {name: machineArg}
  static override flags = {json: Flags.boolean({summary: 'Print as JSON.'})}

  async run(): Promise<void> {
    const request = {command: 'status', name: this.args.name, json: this.flags.json} as const
    process.stdout.write(await readCommandOutput(request, this.store, this.compat))
  }
}
