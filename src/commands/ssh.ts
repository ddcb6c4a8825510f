import {Args} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {BerthError, ExitCode} from '../core/errors.js'
import {Machine} from '../core/machine/machine.js'

export default class Ssh extends BaseCommand<typeof Ssh> {
  static override summary = 'Log into a machine or run a command on it over SSH (host key verified).'
  static override description =
    'Everything after the machine name is the remote command, flags included, as with docker-machine; a `--` after the name is accepted too.'
  static override examples = [
    '<%= config.bin %> ssh dev',
    '<%= config.bin %> ssh dev df -h /',
    '<%= config.bin %> ssh dev docker swarm join-token worker -q',
  ]
  static override strict = false
  static override args = {
    name: Args.string({description: 'machine name', default: 'default'}),
    command: Args.string({description: 'command to run'}),
  }

  async run(): Promise<void> {
    const [name = 'default', ...command] = this.words
    const machine = await Machine.open(this.store, name)
    // docker-machine refuses before connecting (commands/ssh.go, errStateInvalidForSSH) rather than waiting on a dead host.
    const state = await machine.driver.getState()
    if (state !== 'Running')
      throw new BerthError(`Cannot run SSH command: Host "${machine.name}" is not running`, ExitCode.failure)
    const session = await machine.ssh(15_000)
    try {
      if (command.length === 0) {
        if (!process.stdin.isTTY)
          throw new BerthError(
            'an interactive session needs a terminal; pass a command to run',
            ExitCode.usage,
          )
        process.exitCode = await session.shell()
        return
      }
      const result = await session.execRaw(command.join(' '), {
        onStdout: (chunk) => process.stdout.write(chunk),
        onStderr: (chunk) => process.stderr.write(chunk),
        // Piped input goes to the remote command (`berth ssh m 'cat > f' < file`).
        stdin: process.stdin.isTTY ? undefined : process.stdin,
      })
      process.exitCode = result.code
    } finally {
      session.close()
    }
  }
}
