import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {machineArg} from '../cli/args.js'
import {engineUrl} from '../core/engine/url.js'

export default class Url extends BaseCommand<typeof Url> {
  static override summary = "Print a machine's engine URL."
  static override args = {name: machineArg}
  static override flags = {json: Flags.boolean({summary: 'Print as JSON.'})}

  async run(): Promise<void> {
    // From the record alone: works for machines whose driver berth does not have.
    const record = await this.store.load(this.args.name)
    const url = engineUrl(record)
    if (this.flags.json) this.printJson({name: record.Name, url})
    else this.log(url)
  }
}
