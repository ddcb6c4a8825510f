import {Command, Help, Interfaces} from '@oclif/core'
import {
  DOCKER_MACHINE_COMMANDS,
  dockerMachineAppHelp,
  dockerMachineCommandHelp,
  dockerMachineFullVersion,
  GoFlag,
  sortedAsCreate,
} from './dm-help.js'

/** The driver named by `-d NAME`, `--driver NAME` or `--driver=NAME`, if any. */
export function driverInArgv(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '-d' || arg === '--driver') return argv[i + 1]
    const joined = /^(?:-d|--driver)=(.+)$/.exec(arg)
    if (joined) return joined[1]
  }
  return undefined
}

const driverGroup = (driver: string) => `${driver.toUpperCase()} DRIVER`

/** A command's flags as codegangsta/cli would list them: berth's real flags, in docker-machine's layout. */
export function goFlagsOf(command: Command.Loadable, driver?: string): GoFlag[] {
  const flags: GoFlag[] = []
  for (const [name, flag] of Object.entries(command.flags ?? {})) {
    if (flag.hidden || flag.helpGroup === 'GLOBAL') continue // docker-machine's globals are the app's
    if (flag.helpGroup?.endsWith(' DRIVER') && flag.helpGroup !== (driver && driverGroup(driver))) continue
    const names = flag.char ? `${name}, ${flag.char}` : name
    const base = {name: names, usage: flag.summary ?? flag.description ?? '', envVar: flag.env}
    if (flag.type === 'boolean') flags.push({...base, kind: 'bool'})
    else if (flag.multiple) flags.push({...base, kind: 'stringSlice'})
    else if (typeof flag.default === 'number') flags.push({...base, kind: 'int', value: flag.default})
    else
      flags.push({
        ...base,
        kind: 'string',
        value: typeof flag.default === 'string' ? flag.default : undefined,
      })
  }
  return command.id === 'create' ? sortedAsCreate(flags) : flags
}

/** Under the docker-machine name: its help pages (src/cli/dm-help.ts), byte for byte where the words are its own. */
export function dockerMachineHelpFor(command: Command.Loadable, driver: string | undefined): string {
  const known = DOCKER_MACHINE_COMMANDS.find((c) => c.name === command.id)
  const usage = known?.usage ?? command.summary ?? ''
  return dockerMachineCommandHelp(
    command.id.replaceAll(':', ' '),
    usage,
    known ? known.description : command.description,
    goFlagsOf(command, driver),
  )
}

/** The create driver a help page describes: the one named, else MACHINE_DRIVER, else create's default. */
export function createDriver(argv: string[], command: Command.Loadable): string | undefined {
  const fallback = command.flags?.driver?.default
  return (
    driverInArgv(argv) ?? process.env.MACHINE_DRIVER ?? (typeof fallback === 'string' ? fallback : undefined)
  )
}

export default class BerthHelp extends Help {
  private argv: string[] = []

  private get compat(): boolean {
    return process.env.BERTH_COMPAT === 'docker-machine'
  }

  /**
   * oclif decides that a topic has children when another topic's name merely contains `NAME:`, so
   * `rm` was listed as a topic (`swarm:demote` contains `rm:`). A topic here is one that some
   * command id really starts with.
   */
  protected override get sortedTopics(): Interfaces.Topic[] {
    return super.sortedTopics.filter((topic) =>
      this.config.commands.some((command) => command.id.startsWith(`${topic.name}:`)),
    )
  }

  override async showHelp(argv: string[]): Promise<void> {
    this.argv = argv
    return super.showHelp(argv)
  }

  protected override async showRootHelp(): Promise<void> {
    if (!this.compat) return super.showRootHelp()
    process.stdout.write(dockerMachineAppHelp(dockerMachineFullVersion(this.config.version)))
  }

  /** `create -d NAME --help` lists that driver's flags only, as docker-machine did, not all of them. */
  override async showCommandHelp(command: Command.Loadable): Promise<void> {
    if (this.compat) {
      const driver = command.id === 'create' ? createDriver(this.argv, command) : undefined
      process.stdout.write(dockerMachineHelpFor(command, driver))
      return
    }
    const driver = command.id === 'create' ? driverInArgv(this.argv) : undefined
    const group = driver && driverGroup(driver)
    const flags = Object.entries(command.flags ?? {})
    if (!group || !flags.some(([, flag]) => flag.helpGroup === group)) return super.showCommandHelp(command)
    const kept = flags.filter(([, flag]) => !flag.helpGroup?.endsWith(' DRIVER') || flag.helpGroup === group)
    return super.showCommandHelp({...command, flags: Object.fromEntries(kept)})
  }
}
