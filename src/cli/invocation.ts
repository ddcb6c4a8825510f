import {homedir} from 'node:os'
import {basename, join} from 'node:path'

/** docker-machine's global flags that take a value; accepted before the command name. */
const VALUE_FLAGS = new Map<string, string | undefined>([
  ['--storage-path', 'storage'],
  ['-s', 'storage'],
  ['--bugsnag-api-token', undefined],
  ['--tls-ca-cert', undefined],
  ['--tls-ca-key', undefined],
  ['--tls-client-cert', undefined],
  ['--tls-client-key', undefined],
  ['--github-api-token', undefined],
])
const SWITCHES = new Map<string, string | undefined>([
  ['--debug', 'debug'],
  ['-D', 'debug'],
  ['--native-ssh', undefined],
])

export interface Invocation {
  /** argv for oclif: the command and what follows it, plus the globals oclif understands. */
  argv: string[]
  /** Environment the commands read (BERTH_STORAGE_PATH). */
  env: Record<string, string>
  /** Invoked as `docker-machine`: its store location and exit codes. */
  compat: boolean
}

/**
 * oclif only parses flags after the command id, but docker-machine's callers (GitLab Runner
 * first of all) put global flags before it: `docker-machine --bugsnag-api-token=X -s DIR create ...`.
 * Those are taken off here; the ones berth has a use for become environment settings.
 */
export function prepareInvocation(argv: string[], programPath: string, env: NodeJS.ProcessEnv): Invocation {
  const compat = basename(programPath).replace(/\.(js|cmd|exe)$/, '') === 'docker-machine'
  const out: Record<string, string> = {}
  let debug = false
  let i = 0
  while (i < argv.length) {
    const word = argv[i]!
    const [name, inline] =
      word.startsWith('--') && word.includes('=')
        ? [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)]
        : [word, undefined]
    if (VALUE_FLAGS.has(name)) {
      const value = inline ?? argv[i + 1]
      if (VALUE_FLAGS.get(name) === 'storage' && value !== undefined) out.BERTH_STORAGE_PATH = value
      i += inline === undefined ? 2 : 1
      continue
    }
    if (SWITCHES.has(word)) {
      if (SWITCHES.get(word) === 'debug') debug = true
      i++
      continue
    }
    break
  }
  let rest = rawCommandLine(argv.slice(i))
  // docker-machine's -v/--version is its `version` command's line (cmd/docker-machine/machine.go: app.Version).
  if (compat && (rest[0] === '-v' || rest[0] === '--version')) rest = ['version', ...rest.slice(1)]
  if (compat && !out.BERTH_STORAGE_PATH)
    out.BERTH_STORAGE_PATH = env.MACHINE_STORAGE_PATH || join(homedir(), '.docker', 'machine')
  if (compat) out.BERTH_COMPAT = 'docker-machine'
  return {argv: debug && rest.length > 0 ? [...rest, '--debug'] : rest, env: out, compat}
}

/** Flags of berth's own that may sit between `ssh` and the machine name, and whether they take a value. */
const SSH_LEADING_FLAGS = new Map([
  ['-s', true],
  ['--storage-path', true],
  ['-D', false],
  ['--debug', false],
])

/**
 * docker-machine's `ssh` skips flag parsing: everything after the machine name is the remote command,
 * flags included (`ssh node-1 docker swarm init --advertise-addr 10.0.0.2`, `ssh n1 df -h`). oclif
 * would read those flags as its own (and `-h` as a help request), so the command is fenced off with
 * `--` here; a `--` the user wrote is kept as the fence. `ssh -h` alone is still help.
 */
export function rawCommandLine(argv: string[]): string[] {
  if (argv[0] !== 'ssh') return argv
  let i = 1
  while (i < argv.length && argv[i]!.startsWith('-') && argv[i] !== '--') {
    const takesValue = SSH_LEADING_FLAGS.get(argv[i]!)
    if (takesValue === undefined) return argv // -h, --help or an unknown flag: oclif answers
    i += takesValue ? 2 : 1
  }
  const command = argv.slice(i + 1)
  if (i >= argv.length || command.length === 0 || command[0] === '--') return argv
  return [...argv.slice(0, i + 1), '--', ...command]
}
