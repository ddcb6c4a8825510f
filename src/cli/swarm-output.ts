import {Args, Command, Flags} from '@oclif/core'
import {oneLine} from '../core/errors.js'
import {Machine, Reporter, withMachine} from '../core/machine/machine.js'
import type {SwarmOutcome} from '../core/swarm/swarm.js'
import {BaseCommand} from './base.js'
import {runWithProgress, throwIfFailed} from './progress.js'

/**
 * join, promote, demote and leave: one swarm step per named machine, each under the machine's
 * lock, with progress, a message or a JSON row per machine, and one failure summary.
 */
export abstract class SwarmStepCommand<T extends typeof Command> extends BaseCommand<T> {
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s)', required: true})}
  static override flags = {
    quiet: Flags.boolean({char: 'q', summary: 'No progress output.'}),
    json: Flags.boolean({summary: 'Print the outcome per machine as JSON.'}),
  }

  /** Checks before anything changes; receives the machine names. */
  protected async validate(_names: string[]): Promise<void> {}

  protected abstract step(machine: Machine, reporter: Reporter): Promise<SwarmOutcome>

  /** Steps that change raft membership run one at a time. */
  protected concurrency = 8

  async run(): Promise<void> {
    const flags = this.flags as {quiet?: boolean; json?: boolean}
    const names = [...new Set(this.words.length > 0 ? this.words : [this.args.name as string])]
    for (const name of names) await this.store.load(name)
    await this.validate(names)
    const outcomes = await runWithProgress(
      names.map((name) => ({
        title: name,
        run: (reporter) =>
          withMachine(
            this.store,
            name,
            `berth swarm ${this.id?.split(':').pop() ?? ''}`,
            (machine) => this.step(machine, reporter),
            reporter,
          ),
      })),
      {quiet: flags.quiet || flags.json, concurrency: this.concurrency},
    )
    if (flags.json) {
      this.printJson(
        outcomes.map((o) =>
          o.ok ? {name: o.title, ok: true, ...o.value} : {name: o.title, ok: false, error: oneLine(o.error)},
        ),
      )
    } else {
      for (const o of outcomes) if (o.ok) this.log(o.value.message)
    }
    throwIfFailed(outcomes)
  }
}
