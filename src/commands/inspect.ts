import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {machineArg} from '../cli/args.js'
import {readCommandOutput} from '../cli/read.js'

export default class Inspect extends BaseCommand<typeof Inspect> {
  static override summary = "Print a machine's record as JSON, or fields of it with -f."
  static override args = {name: machineArg}
  static override flags = {
    format: Flags.string({
      char: 'f',
      summary: 'Go template, e.g. {{.Driver.IPAddress}} or {{json .HostOptions}}.',
    }),
    json: Flags.boolean({summary: 'Print as JSON (the default).'}),
  }

  async run(): Promise<void> {
    const request = {
      command: 'inspect',
      name: this.args.name,
      json: this.flags.json,
      format: this.flags.format || undefined,
    } as const
    process.stdout.write(await readCommandOutput(request, this.store, this.compat))
  }
}
