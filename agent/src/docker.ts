/** A small Docker Engine API client over the unix socket (node:http only, so the bundle stays dependency-free). */
import http from 'node:http'

export class DockerApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

export interface StreamHandle {
  /** Settles when the stream ends (resolves) or breaks (rejects). */
  done: Promise<void>
  close(): void
  /** Stops reading: the socket's buffers fill and the engine waits to send more. */
  pause(): void
  resume(): void
}

export class DockerClient {
  /** Keep-alive: a stats cycle makes several calls, and a new connection per call costs more than the call. */
  private readonly agent = new http.Agent({keepAlive: true, maxSockets: 16})

  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 15_000,
  ) {}

  async json<T>(path: string, method = 'GET'): Promise<T> {
    const body = await this.raw(path, method)
    return (body.length ? JSON.parse(body.toString('utf8')) : undefined) as T
  }

  raw(path: string, method = 'GET'): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {socketPath: this.socketPath, path, method, agent: this.agent, timeout: this.timeoutMs},
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('error', reject)
          res.on('end', () => {
            const body = Buffer.concat(chunks)
            if ((res.statusCode ?? 500) >= 400)
              reject(
                new DockerApiError(
                  res.statusCode ?? 500,
                  `${method} ${path}: ${res.statusCode} ${dockerMessage(body)}`,
                ),
              )
            else resolve(body)
          })
        },
      )
      req.on('timeout', () =>
        req.destroy(new Error(`${method} ${path}: no answer in ${this.timeoutMs / 1000}s`)),
      )
      req.on('error', reject)
      req.end()
    })
  }

  /** A long-lived GET (events, logs): chunks go to `onData` as they arrive. */
  stream(path: string, onData: (chunk: Buffer) => void): StreamHandle {
    let req: http.ClientRequest | undefined
    let response: http.IncomingMessage | undefined
    let closed = false
    const done = new Promise<void>((resolve, reject) => {
      // No agent: a follow stream holds its connection for hours and must not starve the pool.
      req = http.request({socketPath: this.socketPath, path, method: 'GET'}, (res) => {
        if ((res.statusCode ?? 500) >= 400) {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () =>
            reject(
              new DockerApiError(
                res.statusCode ?? 500,
                `GET ${path}: ${res.statusCode} ${dockerMessage(Buffer.concat(chunks))}`,
              ),
            ),
          )
          return
        }
        response = res
        res.on('data', onData)
        res.on('end', () => resolve())
        res.on('error', (err) => (closed ? resolve() : reject(err)))
        res.on('aborted', () => (closed ? resolve() : reject(new Error(`GET ${path}: connection lost`))))
      })
      req.on('error', (err) => (closed ? resolve() : reject(err)))
      req.end()
    })
    return {
      done,
      close: () => {
        closed = true
        req?.destroy()
      },
      pause: () => response?.pause(),
      resume: () => response?.resume(),
    }
  }

  close(): void {
    this.agent.destroy()
  }
}

function dockerMessage(body: Buffer): string {
  try {
    return (JSON.parse(body.toString('utf8')) as {message?: string}).message ?? ''
  } catch {
    return body.toString('utf8').slice(0, 200).trim()
  }
}

/** The parts of /containers/json the agent reads. */
export interface ContainerSummary {
  Id: string
  Names: string[]
  Image: string
  State: string
  Labels: Record<string, string> | null
  HostConfig?: {NetworkMode?: string}
}

/** The parts of /containers/{id}/json the agent reads. */
export interface ContainerDetails {
  Id: string
  Name: string
  RestartCount: number
  Config: {Image: string; Tty: boolean; Labels: Record<string, string> | null}
  HostConfig: {NetworkMode?: string}
  State: {
    Status: string
    Running: boolean
    Pid: number
    ExitCode: number
    OOMKilled: boolean
    StartedAt: string
    FinishedAt: string
  }
}

export interface EngineInfo {
  Name: string
  ServerVersion: string
  NCPU: number
  MemTotal: number
  NFd: number
  Images: number
  Containers: number
  ContainersRunning: number
  ContainersStopped: number
  ContainersPaused: number
  CgroupDriver?: string
  CgroupVersion?: string
}
