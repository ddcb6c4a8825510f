import {homedir} from 'node:os'
import {join} from 'node:path'
import {tabwrite} from '../core/tabwriter.js'

/**
 * docker-machine's help pages, for berth running under that name: its app help template and command help
 * template (cmd/docker-machine/machine.go: AppHelpTemplate, CommandHelpTemplate), its command list and words
 * (commands/commands.go: Commands), its flags rendered as codegangsta/cli renders them (vendor/.../flag.go:
 * String), all written through Go's tabwriter as codegangsta/cli's printHelp does (0, 8, 1, '\t', 0).
 */

/** The docker-machine release whose commands, store and output berth reproduces. */
export const DOCKER_MACHINE_VERSION = '0.16.2'

/** docker-machine's app.Version (version.FullVersion(): "VERSION, build COMMIT"); the build says what really runs. */
export function dockerMachineFullVersion(berthVersion: string): string {
  return `${DOCKER_MACHINE_VERSION}, build berth-${berthVersion}`
}

/** commands/commands.go: Commands (Name, Usage, Description), then codegangsta/cli's own help command. */
export const DOCKER_MACHINE_COMMANDS: ReadonlyArray<{name: string; usage: string; description?: string}> = [
  {name: 'active', usage: 'Print which machine is active'},
  {
    name: 'config',
    usage: 'Print the connection config for machine',
    description: 'Argument is a machine name.',
  },
  {
    name: 'create',
    usage: 'Create a machine',
    // os.Args[0] in docker-machine; the name a user types.
    description:
      "Run 'docker-machine create --driver name --help' to include the create flags for that driver in the help text.",
  },
  {
    name: 'env',
    usage: 'Display the commands to set up the environment for the Docker client',
    description: 'Argument is a machine name.',
  },
  {name: 'inspect', usage: 'Inspect information about a machine', description: 'Argument is a machine name.'},
  {
    name: 'ip',
    usage: 'Get the IP address of a machine',
    description: 'Argument(s) are one or more machine names.',
  },
  {name: 'kill', usage: 'Kill a machine', description: 'Argument(s) are one or more machine names.'},
  {name: 'ls', usage: 'List machines'},
  {name: 'provision', usage: 'Re-provision existing machines'},
  {
    name: 'regenerate-certs',
    usage: 'Regenerate TLS Certificates for a machine',
    description: 'Argument(s) are one or more machine names.',
  },
  {name: 'restart', usage: 'Restart a machine', description: 'Argument(s) are one or more machine names.'},
  {name: 'rm', usage: 'Remove a machine', description: 'Argument(s) are one or more machine names.'},
  {
    name: 'ssh',
    usage: 'Log into or run a command on a machine with SSH.',
    description: 'Arguments are [machine-name] [command]',
  },
  {
    name: 'scp',
    usage: 'Copy files between machines',
    description: 'Arguments are [[user@]machine:][path] [[user@]machine:][path].',
  },
  {
    name: 'mount',
    usage: 'Mount or unmount a directory from a machine with SSHFS.',
    description: 'Arguments are [machine:][path] [mountpoint]',
  },
  {name: 'start', usage: 'Start a machine', description: 'Argument(s) are one or more machine names.'},
  {name: 'status', usage: 'Get the status of a machine', description: 'Argument is a machine name.'},
  {name: 'stop', usage: 'Stop a machine', description: 'Argument(s) are one or more machine names.'},
  {
    name: 'upgrade',
    usage: 'Upgrade a machine to the latest version of Docker',
    description: 'Argument(s) are one or more machine names.',
  },
  {name: 'url', usage: 'Get the URL of a machine', description: 'Argument is a machine name.'},
  {name: 'version', usage: 'Show the Docker Machine version or a machine docker version'},
  {name: 'help', usage: 'Shows a list of commands or help for one command'},
]

/** A flag as codegangsta/cli describes it: its names ("driver, d"), kind, default, usage and variable. */
export interface GoFlag {
  name: string
  kind: 'bool' | 'string' | 'int' | 'stringSlice'
  value?: string | number
  usage: string
  envVar?: string
}

const prefixed = (name: string) => (name.length === 1 ? '-' : '--') + name

/** vendor/github.com/codegangsta/cli/flag.go: BoolFlag/StringFlag/IntFlag/StringSliceFlag String, withEnvHint. */
export function goFlagString(flag: GoFlag): string {
  const names = flag.name.split(',').map((n) => prefixed(n.trim()))
  const first = names[0]!
  let text: string
  switch (flag.kind) {
    case 'bool':
      text = `${names.join(', ')}\t${flag.usage}`
      break
    case 'int':
      text = `${names.join(', ')} "${flag.value ?? 0}"\t${flag.usage}`
      break
    case 'stringSlice':
      text = `${names.join(', ')} [${first} option ${first} option]\t${flag.usage}`
      break
    default:
      text =
        flag.value !== undefined && String(flag.value).length > 0
          ? `${names.join(', ')} "${flag.value}"\t${flag.usage}`
          : `${names.join(', ')} \t${flag.usage}`
  }
  return flag.envVar ? `${text} [$${flag.envVar}]` : text
}

/** cmd/docker-machine/machine.go: main's app.Flags, then the help and version flags codegangsta/cli adds. */
function appFlags(env: NodeJS.ProcessEnv): GoFlag[] {
  const storage = env.MACHINE_STORAGE_PATH || join(env.HOME || homedir(), '.docker', 'machine') // mcndirs.GetBaseDir
  return [
    {name: 'debug, D', kind: 'bool', usage: 'Enable debug mode'},
    {
      name: 'storage-path, s',
      kind: 'string',
      value: storage,
      usage: 'Configures storage path',
      envVar: 'MACHINE_STORAGE_PATH',
    },
    {
      name: 'tls-ca-cert',
      kind: 'string',
      usage: 'CA to verify remotes against',
      envVar: 'MACHINE_TLS_CA_CERT',
    },
    {
      name: 'tls-ca-key',
      kind: 'string',
      usage: 'Private key to generate certificates',
      envVar: 'MACHINE_TLS_CA_KEY',
    },
    {
      name: 'tls-client-cert',
      kind: 'string',
      usage: 'Client cert to use for TLS',
      envVar: 'MACHINE_TLS_CLIENT_CERT',
    },
    {
      name: 'tls-client-key',
      kind: 'string',
      usage: 'Private key used in client TLS auth',
      envVar: 'MACHINE_TLS_CLIENT_KEY',
    },
    {
      name: 'github-api-token',
      kind: 'string',
      usage: 'Token to use for requests to the Github API',
      envVar: 'MACHINE_GITHUB_API_TOKEN',
    },
    {
      name: 'native-ssh',
      kind: 'bool',
      usage: 'Use the native (Go-based) SSH implementation.',
      envVar: 'MACHINE_NATIVE_SSH',
    },
    {
      name: 'bugsnag-api-token',
      kind: 'string',
      usage: 'BugSnag API token for crash reporting',
      envVar: 'MACHINE_BUGSNAG_API_TOKEN',
    },
    {name: 'help, h', kind: 'bool', usage: 'show help'},
    {name: 'version, v', kind: 'bool', usage: 'print the version'},
  ]
}

const helpTabs = (text: string) => tabwrite(text, {minwidth: 0, tabwidth: 8, padding: 1, padchar: '\t'})

/** `docker-machine`, `docker-machine --help`, `docker-machine help`: machine.go's AppHelpTemplate. */
export function dockerMachineAppHelp(version: string, env: NodeJS.ProcessEnv = process.env): string {
  const flags = appFlags(env)
    .map((flag) => goFlagString(flag) + '\n  ')
    .join('')
  const commands = DOCKER_MACHINE_COMMANDS.map((c) => `${c.name}\t${c.usage}\n  `).join('')
  return helpTabs(
    'Usage: docker-machine [OPTIONS] COMMAND [arg...]\n\n' +
      'Create and manage machines running Docker.\n\n' +
      `Version: ${version}\n\n` +
      'Author:\n  Docker Machine Contributors - <https://github.com/docker/machine>\n' +
      `\nOptions:\n  ${flags}` +
      `\nCommands:\n  ${commands}` +
      "\nRun 'docker-machine COMMAND --help' for more information on a command.\n",
  )
}

/** `docker-machine COMMAND --help`: machine.go's CommandHelpTemplate. */
export function dockerMachineCommandHelp(
  name: string,
  usage: string,
  description: string | undefined,
  flags: GoFlag[],
): string {
  const lines = flags.map((flag) => `\n   ${goFlagString(flag)}`).join('')
  return helpTabs(
    `Usage: docker-machine ${name}${flags.length > 0 ? ' [OPTIONS]' : ''} [arg...]\n\n${usage}` +
      (description ? `\n\nDescription:\n   ${description}` : '') +
      (flags.length > 0 ? `\n\nOptions:\n   ${lines}` : '') +
      '\n',
  )
}

/** create's flags are sorted by their rendered text (commands/create.go: addDriverFlagsToCommand, flag_sort.go). */
export function sortedAsCreate(flags: GoFlag[]): GoFlag[] {
  return [...flags].sort((a, b) => {
    const x = goFlagString(a)
    const y = goFlagString(b)
    return x < y ? -1 : x > y ? 1 : 0
  })
}

/** cmd/docker-machine/machine.go: cmdNotFound (log.Errorf, then exit 1). */
export function dockerMachineUnknownCommand(command: string): string {
  return `docker-machine: '${command}' is not a docker-machine command. See 'docker-machine --help'.\n`
}
