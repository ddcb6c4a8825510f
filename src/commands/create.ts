import {Args, Flags} from '@oclif/core'
import type {Interfaces} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {dockerMachineHelpFor} from '../cli/help.js'
import {runWithProgress, throwIfFailed} from '../cli/progress.js'
import type {OptionValues} from '../core/drivers/contract.js'
import {driverDescriptor, driverDescriptors} from '../core/drivers/registry.js'
import {registerBuiltinDrivers} from '../../drivers/builtin.js'
import {BerthError, ExitCode, oneLine} from '../core/errors.js'
import {createMachine, CreateRequest, refuseSharedIdentity, validateCreate} from '../core/ops/create.js'
import {engineUrl} from '../core/engine/engine.js'
import {emptyEngineOptions} from '../core/store/record.js'

/** Every driver's options become `create` flags; only the chosen driver's may be used. */
function driverFlags() {
  // Registered here too: `oclif manifest` loads this class without running the init hook.
  registerBuiltinDrivers()
  const flags: Interfaces.FlagInput = {}
  for (const plugin of driverDescriptors()) {
    for (const option of plugin.options) {
      const summary = `${option.description}${option.default !== undefined ? ` (default: ${option.default})` : ''}`
      const common = {summary, env: option.env, helpGroup: plugin.name.toUpperCase() + ' DRIVER'}
      flags[option.name] =
        option.type === 'boolean'
          ? Flags.boolean(common)
          : option.type === 'integer'
            ? Flags.integer(common)
            : option.multiple
              ? Flags.string({...common, multiple: true, multipleNonGreedy: true})
              : Flags.string(common)
    }
  }
  return flags
}

export default class Create extends BaseCommand<typeof Create> {
  static override summary = 'Create machines: a host with a Docker engine secured by mutual TLS.'
  static override description =
    "Several names create several machines in parallel. `create -d DRIVER --help` lists that driver's flags only."
  static override examples = [
    '<%= config.bin %> create -d container dev',
    '<%= config.bin %> create -d generic --generic-ip-address 10.0.0.5 --generic-ssh-key ~/.ssh/id_ed25519 box',
  ]
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s)'})}
  static override flags = {
    driver: Flags.string({
      char: 'd',
      summary: 'Driver that makes the machine.',
      env: 'MACHINE_DRIVER',
      default: 'container',
    }),
    'engine-install-url': Flags.string({
      summary: 'Script that installs the engine ("none" skips the install); default: distribution packages.',
    }),
    'engine-opt': Flags.string({
      summary: 'dockerd flag, NAME=VALUE (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
    }),
    'engine-env': Flags.string({
      summary: 'dockerd environment variable, NAME=VALUE (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
    }),
    'engine-label': Flags.string({
      summary: 'Engine label, KEY=VALUE (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
    }),
    'engine-insecure-registry': Flags.string({
      summary: 'Insecure registry to allow (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
    }),
    'engine-registry-mirror': Flags.string({
      summary: 'Registry mirror (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
    }),
    'engine-storage-driver': Flags.string({summary: 'Engine storage driver.'}),
    'tls-san': Flags.string({
      summary: 'Extra name or IP in the server certificate (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
    }),
    'ssh-timeout': Flags.integer({summary: 'Seconds to wait for SSH.', default: 300, min: 1}),
    'swarm-init': Flags.boolean({
      summary: 'Start a swarm-mode cluster with the new machine as its first manager.',
      helpGroup: 'SWARM',
      exclusive: ['swarm-join'],
    }),
    'swarm-join': Flags.string({
      summary: 'Join the swarm that this machine manages, once provisioned.',
      helpGroup: 'SWARM',
    }),
    'swarm-manager': Flags.boolean({
      summary: 'With --swarm-join: join as a manager.',
      helpGroup: 'SWARM',
      exclusive: ['swarm-worker'],
    }),
    'swarm-worker': Flags.boolean({
      summary: 'With --swarm-join: join as a worker (the default).',
      helpGroup: 'SWARM',
      exclusive: ['swarm-manager'],
    }),
    context: Flags.boolean({
      summary: 'Also create a docker context named after each machine (`docker --context NAME`).',
    }),
    quiet: Flags.boolean({char: 'q', summary: 'No progress output.'}),
    json: Flags.boolean({summary: 'Print the created machines as JSON.'}),
    ...driverFlags(),
  }

  async run(): Promise<void> {
    const {flags} = this
    if (this.words.length === 0) return this.noName()
    const names = this.words
    // docker-machine takes one name (commands/create.go: cmdCreateInner); Go prints the rest as %v of a slice.
    if (this.compat && names.length > 1) {
      const message = `Invalid command line. Found extra arguments [${names.slice(1).join(' ')}]`
      throw new BerthError(message, ExitCode.usage, undefined, message)
    }
    if (new Set(names).size !== names.length)
      throw new BerthError('a machine name is given twice', ExitCode.usage)
    const plugin = driverDescriptor(flags.driver)
    const allFlags = flags as unknown as Record<string, unknown>
    for (const other of driverDescriptors()) {
      if (other === plugin) continue
      for (const option of other.options) {
        if (allFlags[option.name] !== undefined && !process.env[option.env ?? '\0']) {
          throw new BerthError(
            `--${option.name} belongs to the ${other.name} driver, not ${plugin.name}`,
            ExitCode.usage,
          )
        }
      }
    }
    const driverOptions: OptionValues = {}
    for (const option of plugin.options)
      driverOptions[option.name] = allFlags[option.name] as OptionValues[string]
    refuseSharedIdentity(plugin, driverOptions, names)
    const engine = {
      ...emptyEngineOptions(),
      ArbitraryFlags: flags['engine-opt'] ?? [],
      Env: flags['engine-env'] ?? [],
      Labels: flags['engine-label'] ?? [],
      InsecureRegistry: flags['engine-insecure-registry'] ?? [],
      RegistryMirror: flags['engine-registry-mirror'] ?? [],
      StorageDriver: flags['engine-storage-driver'] ?? '',
      InstallURL: flags['engine-install-url'] ?? '',
    }
    const wantsSwarm =
      flags['swarm-init'] ||
      flags['swarm-join'] !== undefined ||
      flags['swarm-manager'] ||
      flags['swarm-worker']
    if (flags['swarm-init'] && names.length > 1)
      throw new BerthError(
        '--swarm-init starts a swarm on one machine; join the others with --swarm-join',
        ExitCode.usage,
      )
    const swarm = wantsSwarm
      ? {
          init: flags['swarm-init'],
          join: flags['swarm-join'],
          role: flags['swarm-init'] || flags['swarm-manager'] ? ('manager' as const) : ('worker' as const),
        }
      : undefined
    const requests: CreateRequest[] = names.map((name) => ({
      name,
      driver: plugin.name,
      driverOptions,
      engine,
      tlsSans: flags['tls-san'] ?? [],
      sshTimeoutMs: flags['ssh-timeout'] * 1000,
      swarm,
      context: flags.context,
    }))
    // Validate every name and option before any machine is touched.
    const validated = []
    for (const request of requests) validated.push(await validateCreate(this.store, request))

    const outcomes = await runWithProgress(
      validated.map((v) => ({
        title: v.request.name,
        run: (reporter) => createMachine(this.store, v, reporter),
      })),
      {quiet: flags.quiet},
    )
    if (flags.json) {
      this.printJson(
        outcomes.map((o) =>
          o.ok
            ? {
                name: o.title,
                ok: true,
                url: engineUrl(o.value.record),
                dockerVersion: o.value.version.Version,
                timings: o.value.record.Berth.Timings,
              }
            : {name: o.title, ok: false, error: oneLine(o.error)},
        ),
      )
    } else if (!flags.quiet) {
      for (const o of outcomes) {
        if (o.ok)
          this.note(
            `${o.title} is up: Docker ${o.value.version.Version} at ${engineUrl(o.value.record)}. Point your client at it: eval "$(${this.programName} env ${o.title})"`,
          )
      }
    }
    throwIfFailed(outcomes)
  }

  /** docker-machine shows create's help for the chosen driver, then fails (commands/create.go: cmdCreateInner). */
  private async noName(): Promise<never> {
    if (!this.compat)
      throw new BerthError('no machine name given', ExitCode.usage, 'see `berth create --help`')
    process.stdout.write(dockerMachineHelpFor(this.config.findCommand('create')!, this.flags.driver))
    const message = 'Error: No machine name specified' // commands/create.go: errNoMachineName
    throw new BerthError(message, ExitCode.failure, undefined, message)
  }
}
