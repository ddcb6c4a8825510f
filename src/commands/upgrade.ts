import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {runWithProgress, throwIfFailed} from '../cli/progress.js'
import {oneLine} from '../core/errors.js'
import {startIfStopped} from '../core/ops/power.js'
import {upgradeEngine} from '../core/ops/upgrade.js'
import {validateMachineName} from '../core/names.js'

export default class Upgrade extends BaseCommand<typeof Upgrade> {
  static override summary = "Upgrade machines' Docker engine with the distribution's packages, over SSH."
  static override description =
    'Only upgrades what is installed (`apt-get install --only-upgrade docker.io`), then checks the engine over mutual TLS.'
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s)', default: 'default'})}
  static override flags = {
    quiet: Flags.boolean({char: 'q', summary: 'No progress output.'}),
    json: Flags.boolean({summary: 'Print the versions per machine as JSON.'}),
  }

  async run(): Promise<void> {
    const names = [...new Set(this.words.length > 0 ? this.words : [this.args.name])]
    for (const name of names) {
      validateMachineName(name)
      await this.store.load(name)
    }
    const outcomes = await runWithProgress(
      names.map((name) => ({
        title: `Upgrading ${name}`,
        run: async (reporter) => {
          await startIfStopped(this.store, name, reporter)
          return upgradeEngine(this.store, name, reporter)
        },
      })),
      {quiet: this.flags.quiet || this.flags.json},
    )
    if (this.flags.json) {
      this.printJson(
        outcomes.map((o, i) =>
          o.ok ? {ok: true, ...o.value} : {name: names[i], ok: false, error: oneLine(o.error)},
        ),
      )
    } else {
      for (const o of outcomes) {
        if (o.ok)
          this.log(
            `${o.value.name}\t${o.value.before} -> ${o.value.after}${o.value.upgraded ? '' : ' (already the newest)'}`,
          )
      }
    }
    throwIfFailed(outcomes)
  }
}
