import {Args, Command, Flags} from '@oclif/core'
import {BerthError, ExitCode, oneLine} from '../core/errors.js'
import {powerAction, PowerAction} from '../core/ops/power.js'
import {BaseCommand} from './base.js'
import {Outcome, runWithProgress, throwIfFailed} from './progress.js'

/** libmachine/host/host.go: Start, Stop, Kill, Restart log "<Verb> "x"..." and, but for Restart, "Machine "x" was <done>.". */
const DOCKER_MACHINE_WORDS: Record<PowerAction, {verb: string; done?: string}> = {
  start: {verb: 'Starting', done: 'started'},
  stop: {verb: 'Stopping', done: 'stopped'},
  kill: {verb: 'Killing', done: 'killed'},
  restart: {verb: 'Restarting'},
}

/** commands/start.go: cmdStart and commands/restart.go: cmdRestart, once every machine succeeded. */
const DOCKER_MACHINE_AFTER: Partial<Record<PowerAction, string>> = {
  start:
    'Started machines may have new IP addresses. You may need to re-run the `docker-machine env` command.',
  restart:
    'Restarted machines may have new IP addresses. You may need to re-run the `docker-machine env` command.',
}

/** docker-machine's lines for a power action (all on stdout, as its log.Info writes there). */
export function dockerMachinePowerLines(action: PowerAction, name: string): {before: string; after?: string} {
  const words = DOCKER_MACHINE_WORDS[action]
  return {before: `${words.verb} "${name}"...`, after: words.done && `Machine "${name}" was ${words.done}.`}
}

/** commands/commands.go: consolidateErrs, each machine's error on its own line. */
export function dockerMachineFailure(outcomes: Outcome<unknown>[]): BerthError | undefined {
  const errors = outcomes.flatMap((o) => (o.ok ? [] : [o.error]))
  if (errors.length === 0) return undefined
  const message = errors
    .map((err) => (err instanceof BerthError && err.dockerMachineMessage) || oneLine(err))
    .join('\n')
  return new BerthError(oneLine(errors[0]), ExitCode.failure, undefined, message)
}

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
    // Under the docker-machine name its own lines on stdout, and its errors (scripts match on both).
    const dockerMachine = this.compat && !flags.quiet && !flags.json
    const outcomes = await runWithProgress(
      names.map((name) => ({
        title: `${this.action} ${name}`,
        run: async (reporter) => {
          const lines = dockerMachinePowerLines(this.action, name)
          if (dockerMachine) this.log(lines.before)
          const state = await powerAction(this.store, name, this.action, reporter, this.compat)
          if (dockerMachine && lines.after) this.log(lines.after)
          return state
        },
      })),
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
    if (this.compat) {
      const failure = dockerMachineFailure(outcomes)
      if (failure) throw failure
      const after = DOCKER_MACHINE_AFTER[this.action]
      if (dockerMachine && after) this.log(after)
      return
    }
    throwIfFailed(outcomes)
  }
}
