import {Errors, type Hook} from '@oclif/core'
import BerthHelp from '../../cli/help.js'
import {dockerMachineUnknownCommand} from '../../cli/dm-help.js'

/**
 * Under the docker-machine name, what codegangsta/cli does with a word that is no command: `help [COMMAND]`
 * shows help, anything else is docker-machine's one line on stderr and exit 1 (cmd/docker-machine/machine.go:
 * cmdNotFound). Under berth's name oclif's own error stands.
 */
const hook: Hook<'command_not_found'> = async function ({id, argv}) {
  if (process.env.BERTH_COMPAT !== 'docker-machine') throw new Errors.CLIError(`command ${id} not found`)
  // oclif joins the words before the first flag with ':' (`help ls` arrives as id `help:ls`).
  const [first, ...rest] = [...id.split(':'), ...(argv ?? [])]
  const help = new BerthHelp(this.config)
  const asksHelp = first === 'help' || first === 'h'
  // codegangsta/cli's help command (alias h): the app's help, or one command's (help.go: helpCommand).
  if (asksHelp && rest.length === 0) return help.showHelp([])
  const asked = asksHelp ? rest[0]! : first!
  if (asksHelp && this.config.findCommand(asked)) return help.showHelp([asked])
  process.stderr.write(dockerMachineUnknownCommand(asked))
  process.exitCode = 1
}

export default hook
