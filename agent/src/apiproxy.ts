/**
 * The Docker API filter in front of the engine's socket: `node agent.mjs proxy`, run as its own
 * container next to the agent. The agent parses what containers write (logs, labels, names) and
 * reaches the engine only through this filter's socket, which answers the few reads the agent
 * makes and refuses everything else with 403, so code that a hostile container might subvert
 * cannot create, start, exec or change anything: the engine's socket alone is root on the host.
 *
 * Each allowed request is made anew to the engine (method, a path that matched, the query, no
 * body, no headers of the caller), so nothing the caller adds reaches the engine; answers stream
 * back as they come (events, followed logs). An inspect answer is cut down to the fields the agent
 * reads: another container's environment (often holding secrets) never reaches it.
 */
import {chmodSync, rmSync} from 'node:fs'
import http from 'node:http'

/** GET (and HEAD) paths the agent uses, with an optional /vX.Y prefix. Ids and names: Docker's characters only. */
const ALLOWED =
  /^(?:\/v\d{1,2}\.\d{1,3})?\/(?:_ping|version|info|events|containers\/json|containers\/[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\/(json|logs))$/
/** Inspect answers are small; a larger one is refused rather than held. */
const MAX_INSPECT_BYTES = 4 << 20

export interface ProxyOptions {
  /** The filter's own socket (the agent's BERTH_AGENT_DOCKER_SOCKET). */
  listen: string
  /** The engine's socket. */
  upstream: string
}

/** Whether the filter lets a request through; the path is the raw request target. */
export function allowed(
  method: string,
  target: string,
): {ok: true; path: string; query: string; inspect: boolean} | {ok: false; reason: string} {
  if (method !== 'GET' && method !== 'HEAD')
    return {ok: false, reason: `${method} is not allowed: this socket is read-only`}
  const q = target.indexOf('?')
  const path = q >= 0 ? target.slice(0, q) : target
  const query = q >= 0 ? target.slice(q) : ''
  const match = ALLOWED.exec(path)
  if (!match) return {ok: false, reason: `${path.slice(0, 200)} is not one of the endpoints the agent reads`}
  // A query is passed on, but only as plain URL text (no fragments, no raw controls).
  if (!/^[\x21-\x7e]*$/.test(query) || query.includes('#'))
    return {ok: false, reason: 'the query string has characters a URL cannot'}
  return {ok: true, path, query, inspect: match[1] === 'json'}
}

/** The parts of an inspect answer the agent reads (docker.ts ContainerDetails). */
export function redactInspect(body: Buffer): Buffer {
  const d = JSON.parse(body.toString('utf8')) as Record<string, Record<string, unknown> | undefined> & {
    Id: string
    Name: string
    RestartCount: number
  }
  const config = d.Config ?? {}
  const state = d.State ?? {}
  return Buffer.from(
    JSON.stringify({
      Id: d.Id,
      Name: d.Name,
      RestartCount: d.RestartCount,
      Config: {Image: config.Image, Tty: config.Tty, Labels: config.Labels},
      HostConfig: {NetworkMode: d.HostConfig?.NetworkMode},
      State: {
        Status: state.Status,
        Running: state.Running,
        Pid: state.Pid,
        ExitCode: state.ExitCode,
        OOMKilled: state.OOMKilled,
        StartedAt: state.StartedAt,
        FinishedAt: state.FinishedAt,
      },
    }),
  )
}

function refuse(res: http.ServerResponse, status: number, message: string): void {
  res
    .writeHead(status, {'Content-Type': 'application/json'})
    .end(JSON.stringify({message: `berth agent API filter: ${message}`}))
}

export function serveProxy(options: ProxyOptions): http.Server {
  const server = http.createServer((req, res) => {
    const verdict = allowed(req.method ?? '', req.url ?? '')
    if (!verdict.ok) return refuse(res, 403, verdict.reason)
    if (req.headers['content-length'] && req.headers['content-length'] !== '0')
      return refuse(res, 400, 'a read carries no body')
    if (req.headers['transfer-encoding']) return refuse(res, 400, 'a read carries no body')
    const upstream = http.request(
      {
        socketPath: options.upstream,
        method: req.method,
        path: verdict.path + verdict.query,
        headers: {Host: 'docker'},
      },
      (answer) => {
        if (!verdict.inspect || (answer.statusCode ?? 500) >= 300) {
          res.writeHead(answer.statusCode ?? 502, pick(answer.headers))
          answer.pipe(res)
          return
        }
        const chunks: Buffer[] = []
        let size = 0
        answer.on('data', (c: Buffer) => {
          size += c.length
          if (size > MAX_INSPECT_BYTES) answer.destroy(new Error('inspect answer too large'))
          else chunks.push(c)
        })
        answer.on('end', () => {
          try {
            const body = redactInspect(Buffer.concat(chunks))
            res
              .writeHead(200, {'Content-Type': 'application/json', 'Content-Length': String(body.length)})
              .end(body)
          } catch {
            refuse(res, 502, 'the engine answered an inspect with something else than JSON')
          }
        })
        answer.on('error', () => res.destroy())
      },
    )
    upstream.on('error', (err: NodeJS.ErrnoException) =>
      res.headersSent
        ? res.destroy()
        : refuse(res, 502, `the engine at ${options.upstream}: ${err.code ?? err.message}`),
    )
    // The agent closed its end (a stopped log stream): close the engine's too.
    res.on('close', () => upstream.destroy())
    upstream.end()
  })
  // Upgrades (attach, exec) are refused: without an 'upgrade' listener Node closes such connections,
  // and CONNECT the same way.
  server.on('upgrade', (_req, socket: NodeJS.WritableStream & {destroy(): void}) => socket.destroy())
  server.on('connect', (_req, socket: NodeJS.WritableStream & {destroy(): void}) => socket.destroy())
  rmSync(options.listen, {force: true}) // a socket left by a killed filter
  server.listen(options.listen, () => chmodSync(options.listen, 0o660)) // the agent reaches it through its group
  return server
}

/** The engine's headers the agent can use; nothing hop-by-hop. */
function pick(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of [
    'content-type',
    'content-length',
    'api-version',
    'docker-experimental',
    'ostype',
    'server',
  ]) {
    const value = headers[name]
    if (typeof value === 'string') out[name] = value
  }
  return out
}
