import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {confirm} from '../cli/confirm.js'
import {runWithProgress, throwIfFailed} from '../cli/progress.js'
import {BerthError, ExitCode, MachineNotFoundError, oneLine} from '../core/errors.js'
import {removeMachine} from '../core/ops/remove.js'
import {validateMachineName} from '../core/names.js'

export default class Rm extends BaseCommand<typeof Rm> {
  static override summary = 'Remove machines and everything their drivers made.'
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s)', required: true})}
  static override flags = {
    force: Flags.boolean({
      char: 'f',
      summary: 'Remove from the store even if the driver fails or the record is broken.',
    }),
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
      else {
        const missing = new MachineNotFoundError(name)
        // docker-machine: `Error removing host "x": ` and the load error (commands/rm.go).
        throw new BerthError(
          missing.message,
          missing.exitCode,
          missing.hint,
          `Error removing host "${name}": ${missing.dockerMachineMessage}`,
        )
      }
    }
    if (!this.flags.yes && !this.flags.force) {
      // Asked and read from standard input even when it is a pipe: `echo n | rm x` keeps x (docker-machine's commands/rm.go).
      if (this.compat) {
        this.log(`About to remove ${names.join(', ')}`)
        this.log('WARNING: This action will delete both local reference and remote instance.')
        if (!(await confirm('Are you sure? (y/n): ', process.stdout))) return // docker-machine: a no exits 0
      } else if (!(await confirm(`About to remove ${names.join(', ')}. Are you sure? (y/n): `))) {
        throw new BerthError('aborted', ExitCode.failure)
      }
    }
    const outcomes = await runWithProgress(
      names.map((name) => ({
        title: `Removing ${name}`,
        run: (reporter) => removeMachine(this.store, name, this.flags.force, reporter),
      })),
      {quiet: this.flags.json},
    )
    if (this.flags.json)
      this.printJson(
        outcomes.map((o, i) => ({name: names[i], ok: o.ok, error: o.ok ? undefined : oneLine(o.error)})),
      )
    else outcomes.forEach((o, i) => o.ok && this.log(`Successfully removed ${names[i]}`))
    throwIfFailed(outcomes)
  }
}
