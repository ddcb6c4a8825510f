import {registerBuiltinDrivers} from '../../drivers/builtin.js'
import {trustMigrationPending} from '../core/certs/trust-layout.js'
import {Machine} from '../core/machine/machine.js'
import {runningEngineUrl} from '../core/ops/url.js'
import {defaultStorePath, Store} from '../core/store/store.js'
import {renderTemplate} from '../core/template.js'

/**
 * The read commands autoscalers call around every job (GitLab Runner: `status`, `inspect`, `url`, `ip`, `ls -q`),
 * answered without loading oclif, whose start-up alone costs more than the whole answer. Only their plain forms are
 * taken here; anything else (help, other flags, a plugin's driver) and every failure goes to the full CLI, which
 * then renders the same output or the one error line. test/unit/fast-path.test.ts holds the two paths to the
 * same bytes.
 */
interface ReadRequest {
  command: 'status' | 'ip' | 'url' | 'inspect' | 'ls'
  name: string
  json: boolean
  format?: string
}

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

const asJson = (value: unknown) => JSON.stringify(value, null, 2) + '\n'

/** What the command prints on standard output; throws where the command would fail. */
export async function readCommandOutput(
  request: ReadRequest,
  store: Store,
  compat: boolean,
): Promise<string> {
  if (request.command === 'ls') return (await store.names()).map((name) => name + '\n').join('')
  const record = await store.load(request.name)
  switch (request.command) {
    case 'inspect':
      // docker-machine's own rendering under its name (see src/commands/inspect.ts).
      if (request.format !== undefined)
        return renderTemplate(request.format, record, {missingKey: compat ? 'zero' : 'error'}) + '\n'
      return compat ? JSON.stringify(record, null, 4) + '\n' : asJson(record)
    case 'url': {
      const url = await runningEngineUrl(store, record)
      return request.json ? asJson({name: record.Name, url}) : url + '\n'
    }
    case 'ip':
    case 'status': {
      const machine = await Machine.bind(store, record)
      if (request.command === 'ip') {
        const ip = await machine.driver.getIP()
        return request.json ? asJson({name: machine.name, ip}) : ip + '\n'
      }
      const state = await machine.driver.getState()
      return request.json ? asJson({name: machine.name, state}) : state + '\n'
    }
  }
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
