import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {machineArg} from '../cli/args.js'
import {
  detectShell,
  DockerMachineShell,
  dockerMachineNoProxy,
  dockerMachineShell,
  EnvVars,
  renderDockerMachineEnv,
  renderDockerMachineUnset,
  renderEnv,
  renderUnset,
  SHELLS,
  UNKNOWN_SHELL_NOTE,
  withNoProxy,
} from '../core/env/env.js'
import {BerthError, ExitCode} from '../core/errors.js'
import {isProvisioned} from '../core/machine/machine.js'
import type {MachineRecord} from '../core/store/record.js'
import {runningEngineUrl} from '../core/ops/url.js'

const VARIABLES = ['DOCKER_TLS_VERIFY', 'DOCKER_HOST', 'DOCKER_CERT_PATH', 'DOCKER_MACHINE_NAME']

export default class Env extends BaseCommand<typeof Env> {
  static override summary = 'Print the commands that point a Docker client at a machine.'
  static override examples = [
    'eval "$(<%= config.bin %> env dev)"',
    '<%= config.bin %> env --shell fish dev | source',
  ]
  static override args = {name: machineArg}
  static override flags = {
    shell: Flags.string({summary: `Shell to print for: ${SHELLS.join(', ')} (default: from $SHELL).`}),
    unset: Flags.boolean({char: 'u', summary: 'Print the commands that undo the settings.'}),
    'no-proxy': Flags.boolean({summary: "Add the machine's IP to NO_PROXY."}),
    json: Flags.boolean({summary: 'Print the variables as JSON.'}),
  }

  async run(): Promise<void> {
    const {flags} = this
    if (this.compat && !flags.json) return this.runAsDockerMachine()
    const shell = detectShell(flags.shell)
    const self = `${this.programName} env${flags.shell ? ` --shell ${flags.shell}` : ''}`
    if (flags.unset) {
      const names = flags['no-proxy'] ? [...VARIABLES, 'NO_PROXY'] : VARIABLES
      if (flags.json) this.printJson(Object.fromEntries(names.map((n) => [n, null])))
      else process.stdout.write(renderUnset(shell, names, `${self} --unset`))
      return
    }
    const {record, vars} = await this.variables()
    if (flags['no-proxy']) {
      const current = process.env.NO_PROXY ?? process.env.no_proxy
      vars.push(['NO_PROXY', withNoProxy(current, record.Driver.IPAddress)])
    }
    if (flags.json) this.printJson(Object.fromEntries(vars))
    else process.stdout.write(renderEnv(shell, vars, `${self} ${this.args.name}`))
  }

  /** The four variables for the named machine, which must be provisioned and running. */
  private async variables(): Promise<{record: MachineRecord; vars: EnvVars}> {
    const record = await this.store.load(this.args.name)
    if (!isProvisioned(record)) {
      throw new BerthError(
        `machine "${record.Name}" is not provisioned yet`,
        1,
        `run \`${this.programName} provision ${record.Name}\``,
      )
    }
    const vars: EnvVars = [
      ['DOCKER_TLS_VERIFY', '1'],
      ['DOCKER_HOST', await runningEngineUrl(this.store, record)],
      ['DOCKER_CERT_PATH', record.HostOptions.AuthOptions.StorePath],
      ['DOCKER_MACHINE_NAME', record.Name],
    ]
    return {record, vars}
  }

  /** docker-machine's bytes (commands/env.go: cmdEnv), its checks in its order: machine first, then shell. */
  private async runAsDockerMachine(): Promise<void> {
    const {flags} = this
    const typed = ['docker-machine', ...process.argv.slice(2)] // os.Args, which its usage hint repeats
    if (flags.unset && this.words.length > 0) {
      const message = 'Error: Expected no machine name when the -u flag is present' // commands/env.go: errImproperUnsetEnvArgs
      throw new BerthError(message, ExitCode.usage, undefined, message)
    }
    if (flags.unset) {
      const shell = this.dockerMachineShell()
      const names = [...VARIABLES, ...(flags['no-proxy'] ? [dockerMachineNoProxy(process.env, '')[0]] : [])]
      process.stdout.write(renderDockerMachineUnset(shell, names, typed))
      return
    }
    const {record, vars} = await this.variables()
    const shell = this.dockerMachineShell()
    // commands/env.go: shellCfgSet sets COMPOSE_CONVERT_WINDOWS_PATHS on Windows, then the proxy variable.
    if (process.platform === 'win32') vars.push(['COMPOSE_CONVERT_WINDOWS_PATHS', 'true'])
    if (flags['no-proxy']) vars.push(dockerMachineNoProxy(process.env, record.Driver.IPAddress))
    process.stdout.write(renderDockerMachineEnv(shell, vars, typed))
  }

  private dockerMachineShell(): DockerMachineShell {
    try {
      return dockerMachineShell(this.flags.shell, process.env)
    } catch (err) {
      process.stdout.write(UNKNOWN_SHELL_NOTE)
      throw err
    }
  }
}
