import {Command, Help, Interfaces} from '@oclif/core'

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

export default class BerthHelp extends Help {
  private driver: string | undefined

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
    this.driver = driverInArgv(argv)
    return super.showHelp(argv)
  }

  /** `create -d NAME --help` lists that driver's flags only, as docker-machine did, not all of them. */
  override async showCommandHelp(command: Command.Loadable): Promise<void> {
    const group = this.driver && `${this.driver.toUpperCase()} DRIVER`
    const flags = Object.entries(command.flags ?? {})
    if (!group || !flags.some(([, flag]) => flag.helpGroup === group)) return super.showCommandHelp(command)
    const kept = flags.filter(([, flag]) => !flag.helpGroup?.endsWith(' DRIVER') || flag.helpGroup === group)
    return super.showCommandHelp({...command, flags: Object.fromEntries(kept)})
  }
}
