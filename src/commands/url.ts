import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {machineArg} from '../cli/args.js'
import {readCommandOutput} from '../cli/read.js'

export default class Url extends BaseCommand<typeof Url> {
  static override summary = "Print a machine's engine URL."
  static override args = {name: machineArg}
  static override flags = {json: Flags.boolean({summary: 'Print as JSON.'})}

  async run(): Promise<void> {
    const request = {command: 'url', name: this.args.name, json: this.flags.json} as const
    process.stdout.write(await readCommandOutput(request, this.store, this.compat))
  }
}
