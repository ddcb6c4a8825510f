import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {machineArg} from '../cli/args.js'
import {renderTemplate} from '../core/template.js'

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
    const record = await this.store.load(this.args.name)
    // docker-machine executes on the record decoded into a map, so a missing key prints "<no value>" (commands/inspect.go).
    if (this.flags.format)
      this.log(renderTemplate(this.flags.format, record, {missingKey: this.compat ? 'zero' : 'error'}))
    // docker-machine indents with four spaces (commands/inspect.go: json.MarshalIndent(host, "", "    ")).
    else if (this.compat) process.stdout.write(JSON.stringify(record, null, 4) + '\n')
    else this.printJson(record)
  }
}
