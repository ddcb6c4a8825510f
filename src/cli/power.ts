import {Args, Command, Flags} from '@oclif/core'
import {oneLine} from '../core/errors.js'
import {powerAction, PowerAction} from '../core/ops/power.js'
import {BaseCommand} from './base.js'
import {runWithProgress, throwIfFailed} from './progress.js'

/** start, stop, restart and kill: the same shape, one driver call per machine, in parallel. */
export abstract class PowerCommand<T extends typeof Command> extends BaseCommand<T> {
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s)', default: 'default'})}
  static override flags = {
    quiet: Flags.boolean({char: 'q', summary: 'No progress output.'}),
    json: Flags.boolean({summary: "Print each machine's resulting state as JSON."}),
  }

  protected abstract readonly action: PowerAction

  async run(): Promise<void> {
    const flags = this.flags as {quiet?: boolean; json?: boolean}
    const names = [...new Set(this.words.length > 0 ? this.words : ['default'])]
    for (const name of names) await this.store.load(name)
    const outcomes = await runWithProgress(
      names.map((name) => ({
        title: `${this.action} ${name}`,
        run: (reporter) => powerAction(this.store, name, this.action, reporter, this.compat),
      })),
      // Under the docker-machine name a failure is its one line on stderr, nothing else (scripts match on it).
      {quiet: flags.quiet || flags.json || this.compat},
    )
    if (flags.json) {
      this.printJson(
        outcomes.map((o, i) =>
          o.ok
            ? {name: names[i], ok: true, state: o.value}
            : {name: names[i], ok: false, error: oneLine(o.error)},
        ),
      )
    }
    throwIfFailed(outcomes)
  }
}
