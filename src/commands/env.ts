import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {machineArg} from '../cli/args.js'
import {detectShell, EnvVars, renderEnv, renderUnset, SHELLS, withNoProxy} from '../core/env/env.js'
import {BerthError, ExitCode} from '../core/errors.js'
import {isProvisioned} from '../core/machine/machine.js'
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
    shell: Flags.string({summary: 'Shell to print for (default: from $SHELL).', options: [...SHELLS]}),
    unset: Flags.boolean({char: 'u', summary: 'Print the commands that undo the settings.'}),
    'no-proxy': Flags.boolean({summary: "Add the machine's IP to NO_PROXY."}),
    json: Flags.boolean({summary: 'Print the variables as JSON.'}),
  }

  async run(): Promise<void> {
    const {flags} = this
    const shell = detectShell(flags.shell)
    const self = `${this.programName} env${flags.shell ? ` --shell ${flags.shell}` : ''}`
    if (flags.unset && this.compat && this.words.length > 0) {
      const message = 'Error: Expected no machine name when the -u flag is present' // commands/env.go: errImproperUnsetEnvArgs
      throw new BerthError(message, ExitCode.usage, undefined, message)
    }
    if (flags.unset) {
      const names = flags['no-proxy'] ? [...VARIABLES, 'NO_PROXY'] : VARIABLES
      if (flags.json) this.printJson(Object.fromEntries(names.map((n) => [n, null])))
      else process.stdout.write(renderUnset(shell, names, `${self} --unset`))
      return
    }
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
    if (flags['no-proxy']) {
      const current = process.env.NO_PROXY ?? process.env.no_proxy
      vars.push(['NO_PROXY', withNoProxy(current, record.Driver.IPAddress)])
    }
    if (flags.json) this.printJson(Object.fromEntries(vars))
    else process.stdout.write(renderEnv(shell, vars, `${self} ${record.Name}`))
  }
}
