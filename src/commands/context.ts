import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {machineContext} from '../core/ops/context.js'
import {validateMachineName} from '../core/names.js'

export default class Context extends BaseCommand<typeof Context> {
  static override summary =
    'Create or update a docker context for a machine, so `docker --context NAME` works without env vars.'
  static override description =
    'The context is named after the machine and made with the docker CLI (DOCKER_CONFIG is honoured); `rm` removes it.'
  static override examples = ['<%= config.bin %> context dev && docker --context dev ps']
  static override args = {name: Args.string({description: 'machine name', required: true})}
  static override flags = {
    force: Flags.boolean({char: 'f', summary: 'Overwrite a context of that name that berth did not make.'}),
    json: Flags.boolean({summary: 'Print the context as JSON.'}),
  }

  async run(): Promise<void> {
    validateMachineName(this.args.name)
    const outcome = await machineContext(this.store, this.args.name, this.flags.force)
    if (this.flags.json) this.printJson(outcome)
    else
      this.note(
        `Docker context ${outcome.name} ${outcome.action} for ${outcome.host}: docker --context ${outcome.name} ps`,
      )
  }
}
