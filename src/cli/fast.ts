import {registerBuiltinDrivers} from '../../drivers/builtin.js'
import {trustMigrationPending} from '../core/certs/trust-layout.js'
import {defaultStorePath, Store} from '../core/store/store.js'
import {readCommandOutput, type ReadRequest} from './read.js'

/**
 * The read commands autoscalers call around every job (GitLab Runner: `status`, `inspect`, `url`, `ip`, `ls -q`),
 * answered without loading oclif, whose start-up alone costs more than the whole answer. Only their plain forms are
 * taken here; anything else (help, other flags, a plugin's driver) and every failure goes to the full CLI, which
 * then renders the same output or the one error line. test/unit/fast-path.test.ts holds the two paths to the
 * same bytes.
 */
const MACHINE_COMMANDS = new Set(['status', 'ip', 'url', 'inspect'])

/** The request when `argv` is a plain read command, else undefined. */
export function parseReadCommand(argv: string[]): ReadRequest | undefined {
  const [command, ...rest] = argv
  if (command === 'ls')
    return rest.length === 1 && (rest[0] === '-q' || rest[0] === '--quiet')
      ? {command, name: '', json: false}
      : undefined
  if (!command || !MACHINE_COMMANDS.has(command)) return undefined
  const names: string[] = []
  let json = false
  let format: string | undefined
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i]!
    if (word === '--json') json = true
    else if (
      command === 'inspect' &&
      (word === '-f' || word === '--format') &&
      i + 1 < rest.length &&
      format === undefined
    )
      format = rest[++i]
    else if (command === 'inspect' && word.startsWith('--format=') && format === undefined)
      format = word.slice('--format='.length)
    else if (word.startsWith('-')) return undefined
    else names.push(word)
  }
  if (names.length > 1 || format === '') return undefined
  return {command: command as ReadRequest['command'], name: names[0] ?? 'default', json, format}
}

/** Answers a plain read command and returns true, or returns false for the full CLI to take it. */
export async function tryReadCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<boolean> {
  const request = parseReadCommand(argv)
  if (!request || env.BERTH_NO_FAST_PATH) return false
  try {
    const store = new Store(defaultStorePath(env))
    // A store of an earlier berth is migrated, with its one line, by the full CLI.
    if (await trustMigrationPending(store)) return false
    registerBuiltinDrivers()
    const output = await readCommandOutput(request, store, env.BERTH_COMPAT === 'docker-machine')
    process.stdout.write(output)
    return true
  } catch {
    return false
  }
}
