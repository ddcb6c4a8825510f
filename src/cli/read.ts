import {Machine} from '../core/machine/machine.js'
import {runningEngineUrl} from '../core/ops/url.js'
import type {Store} from '../core/store/store.js'
import {renderTemplate} from '../core/template.js'

/**
 * The read commands GitLab Runner and other autoscalers call around every job, as one function that both the
 * commands (src/commands/{status,ip,url,inspect}.ts) and the fast path (fast.ts) print, so the two cannot drift.
 * Loads neither oclif nor any driver library.
 */
export interface ReadRequest {
  command: 'status' | 'ip' | 'url' | 'inspect' | 'ls'
  name: string
  json: boolean
  format?: string
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
      // docker-machine executes on the record decoded into a map, so a missing key prints "<no value>"; it indents
      // with four spaces (commands/inspect.go: json.MarshalIndent(host, "", "    ")).
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
