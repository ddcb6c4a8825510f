import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {machineArg} from '../cli/args.js'
import {parseLabels, updateLabels} from '../core/ops/labels.js'

export default class UpdateLabels extends BaseCommand<typeof UpdateLabels> {
  static override summary = "Set labels on a machine and its provider's tags."
  static override args = {name: machineArg}
  static override flags = {
    label: Flags.string({
      summary: 'KEY=VALUE (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
      required: true,
    }),
    json: Flags.boolean({summary: 'Print the resulting labels as JSON.'}),
  }

  async run(): Promise<void> {
    const labels = await updateLabels(this.store, this.args.name, parseLabels(this.flags.label))
    if (this.flags.json) this.printJson({name: this.args.name, labels})
  }
}
