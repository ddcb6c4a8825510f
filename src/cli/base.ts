import {Command, Flags, Interfaces} from '@oclif/core'
import {BerthError, ExitCode, oneLine} from '../core/errors.js'
import {defaultStorePath, Store} from '../core/store/store.js'
import {migrateStoreTrust} from '../core/certs/trust.js'
import {ensureContext} from '../core/context/context.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof BaseCommand)['baseFlags'] & T['flags']
>
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/** Global flags, the store and error rendering, shared by every command. */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override baseFlags = {
    'storage-path': Flags.string({
      char: 's',
      summary: 'Machine store folder (default ~/.berth).',
      env: 'BERTH_STORAGE_PATH',
      helpGroup: 'GLOBAL',
    }),
    debug: Flags.boolean({char: 'D', summary: 'Show stack traces on errors.', helpGroup: 'GLOBAL'}),
  }

  protected flags!: BaseFlags<T>
  protected args!: BaseArgs<T>
  /** Positional words as given (for commands taking several names). */
  protected words!: string[]
  protected store!: Store

  public override async init(): Promise<void> {
    await super.init()
    const {args, flags, raw} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as unknown as typeof BaseCommand).baseFlags,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as BaseFlags<T>
    this.args = args as BaseArgs<T>
    // As typed: an argument's default (`default`) is not a word the user gave.
    this.words = raw.flatMap((token) => (token.type === 'arg' ? [token.input] : []))
    this.store = new Store(this.flags['storage-path'] ?? defaultStorePath())
    const migrated = await migrateStoreTrust(this.store, (record) => ensureContext(record))
    if (migrated) this.note(`${this.programName}: ${migrated}`)
  }

  /** Invoked as `docker-machine`: its words, bytes and exit codes. */
  protected get compat(): boolean {
    return process.env.BERTH_COMPAT === 'docker-machine'
  }

  /** The name the user called: `docker-machine` when berth stands in for it. */
  protected get programName(): string {
    return this.compat ? 'docker-machine' : this.config.bin
  }

  /** Progress and notices go to stderr so stdout carries only data. */
  protected note(message: string): void {
    process.stderr.write(message + '\n')
  }

  protected printJson(value: unknown): void {
    process.stdout.write(JSON.stringify(value, null, 2) + '\n')
  }

  /** One line on stderr (with a hint when there is one) and the error's exit code; stack only with --debug. */
  protected override async catch(err: Error & {oclif?: {exit?: number}}): Promise<void> {
    this.parsed = true // a failed parse is reported here; oclif need not warn about it
    if (err.oclif?.exit === 0) return
    let code: number = ExitCode.failure
    let hint: string | undefined
    let line = oneLine(err)
    if (err instanceof BerthError) {
      code = err.exitCode
      hint = err.hint
    } else if (err.oclif?.exit !== undefined) {
      code = ExitCode.usage // oclif's own parse errors: unknown flag, missing or extra argument
      hint = `see \`${this.programName} ${this.id?.replace(/:/g, ' ')} --help\``
      line = oclifErrorLine(err)
    }
    // docker-machine exits 1 on every failure but a failed pre-create check (3); its callers rely on that.
    if (this.compat && !(code === ExitCode.preCreateCheck && this.id === 'create')) code = ExitCode.failure
    // docker-machine prints its error as is (log.Error(err) in commands/commands.go: runCommand).
    if (this.compat && err instanceof BerthError && err.dockerMachineMessage)
      process.stderr.write(`${err.dockerMachineMessage}\n`)
    else process.stderr.write(`Error: ${line}${hint ? ` (${hint})` : ''}\n`)
    if ((this.flags?.debug || process.argv.includes('--debug')) && err.stack)
      process.stderr.write(err.stack + '\n')
    process.exitCode = code
  }
}

/** oclif puts a flag's problem on the line after "Parsing --flag": together they make the one line. */
function oclifErrorLine(err: Error): string {
  const [first, second] = err.message
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean)
  const flag = /^Parsing (--?\S+)$/.exec(first ?? '')?.[1]
  return flag && second ? `${flag}: ${second}` : oneLine(err)
}
