import {Args, Flags} from '@oclif/core'
import {createInterface} from 'node:readline/promises'
import {BaseCommand} from '../cli/base.js'
import {runWithProgress, throwIfFailed} from '../cli/progress.js'
import {BerthError, ExitCode, oneLine} from '../core/errors.js'
import {removeMachine} from '../core/ops/remove.js'
import {validateMachineName} from '../core/names.js'

export default class Rm extends BaseCommand<typeof Rm> {
  static override summary = 'Remove machines and everything their drivers made.'
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s)', required: true})}
  static override flags = {
    force: Flags.boolean({char: 'f', summary: 'Remove from the store even if the driver fails or the record is broken.'}),
    yes: Flags.boolean({char: 'y', summary: 'Do not ask for confirmation.'}),
    json: Flags.boolean({summary: 'Print the outcome per machine as JSON.'}),
  }

  async run(): Promise<void> {
    const given = [...new Set(this.words.length > 0 ? this.words : [this.args.name])]
    const names: string[] = []
    for (const name of given) {
      validateMachineName(name)
      if (await this.store.exists(name)) names.push(name)
      // With --force a name that is already gone is no reason to keep the others.
      else if (this.flags.force) this.note(`${name} does not exist; nothing to remove`)
      else throw new BerthError(`machine "${name}" does not exist`, ExitCode.notFound)
    }
    if (!this.flags.yes && !this.flags.force && process.stdin.isTTY) {
      const rl = createInterface({input: process.stdin, output: process.stderr})
      const answer = await rl.question(`About to remove ${names.join(', ')}. Are you sure? (y/n): `)
      rl.close()
      if (!/^y(es)?$/i.test(answer.trim())) throw new BerthError('aborted', ExitCode.failure)
    }
    const outcomes = await runWithProgress(
      names.map((name) => ({title: `Removing ${name}`, run: (reporter) => removeMachine(this.store, name, this.flags.force, reporter)})),
      {quiet: this.flags.json},
    )
    if (this.flags.json) this.printJson(outcomes.map((o, i) => ({name: names[i], ok: o.ok, error: o.ok ? undefined : oneLine(o.error)})))
    else outcomes.forEach((o, i) => o.ok && this.log(`Successfully removed ${names[i]}`))
    throwIfFailed(outcomes)
  }
}
