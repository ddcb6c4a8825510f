import {request} from 'node:http'
import type Docker from 'dockerode'

/** The local engine's address for node:http: a unix socket or plain tcp, as `--container-engine` takes it. */
function endpoint(engine: string): {socketPath: string} | {host: string; port: number} {
  if (engine.startsWith('unix://')) return {socketPath: engine.slice('unix://'.length)}
  const match = /^tcp:\/\/([^:/]+):(\d+)\/?$/.exec(engine)
  if (!match)
    throw new Error(`--container-engine ${JSON.stringify(engine)}: expected unix:///path or tcp://host:port`)
  return {host: match[1]!, port: Number(match[2])}
}

/** Inspect answers are a few KiB; anything far larger is not the engine talking. */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024

/**
 * `GET /containers/NAME/json` on the local engine, undefined when there is no such container. The read path of
 * every container machine (`status`, `ip`, `ls`) goes through here: loading dockerode, with its gRPC and protobuf
 * modules, costs several times what the whole answer does.
 */
export function getContainerJson(
  engine: string,
  name: string,
): Promise<Docker.ContainerInspectInfo | undefined> {
  return new Promise((resolve, reject) => {
    const req = request(
      {...endpoint(engine), method: 'GET', path: `/containers/${encodeURIComponent(name)}/json`},
      (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > MAX_ANSWER_BYTES)
            req.destroy(
              new Error(`the engine at ${engine} sent more than ${MAX_ANSWER_BYTES} bytes for one container`),
            )
          else chunks.push(chunk)
        })
        res.on('error', reject)
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          if (res.statusCode === 404) return resolve(undefined)
          try {
            const body = JSON.parse(text) as unknown
            if (res.statusCode === 200 && body && typeof body === 'object')
              return resolve(body as Docker.ContainerInspectInfo)
            const message = (body as {message?: unknown} | null)?.message
            reject(
              new Error(
                `(HTTP code ${res.statusCode}) ${typeof message === 'string' ? message : 'unexpected answer'}`,
              ),
            )
          } catch {
            reject(new Error(`the engine at ${engine} answered HTTP ${res.statusCode} with no JSON`))
          }
        })
      },
    )
    req.on('error', reject)
    req.end()
  })
}
