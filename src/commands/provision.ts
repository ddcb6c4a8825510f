import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {runWithProgress, throwIfFailed} from '../cli/progress.js'
import {oneLine} from '../core/errors.js'
import {reprovisionMachine} from '../core/ops/provision.js'

export default class Provision extends BaseCommand<typeof Provision> {
  static override summary =
    'Provision machines again: engine install if missing, certificates, dockerd configuration.'
  static override description = 'Also finishes a create that was interrupted.'
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s)', default: 'default'})}
  static override flags = {
    'ssh-timeout': Flags.integer({summary: 'Seconds to wait for SSH.', default: 300, min: 1}),
    quiet: Flags.boolean({char: 'q', summary: 'No progress output.'}),
    json: Flags.boolean({summary: 'Print the outcome per machine as JSON.'}),
  }

  async run(): Promise<void> {
    const names = [...new Set(this.words.length > 0 ? this.words : [this.args.name])]
    for (const name of names) await this.store.load(name)
    const outcomes = await runWithProgress(
      names.map((name) => ({
        title: name,
        run: (reporter) => reprovisionMachine(this.store, name, reporter, this.flags['ssh-timeout'] * 1000),
      })),
      {quiet: this.flags.quiet || this.flags.json},
    )
    if (this.flags.json) {
      this.printJson(
        outcomes.map((o) =>
          o.ok
            ? {name: o.title, ok: true, dockerVersion: o.value.Version}
            : {name: o.title, ok: false, error: oneLine(o.error)},
        ),
      )
    }
    throwIfFailed(outcomes)
  }
}
