/**
 * A small client for QEMU's Machine Protocol (QMP): JSON objects, one per line, over the socket
 * QEMU listens on (`-qmp unix:PATH,server=on,wait=off`). QEMU greets with `{"QMP": ...}`, accepts
 * nothing but `qmp_capabilities` until it is sent, then answers each `{"execute": ...}` with
 * `{"return": ...}` or `{"error": {"class", "desc"}}`, interleaved with `{"event": ...}` lines.
 * Answers come in order, so a FIFO of pending commands matches them up.
 */
import {connect, Socket} from 'node:net'
import {BerthError, oneLine} from '../../src/core/drivers/kit.js'

export class QmpError extends BerthError {}

/** QEMU's answer lines get no bigger than this; a peer sending more is not QEMU. */
const MAX_LINE = 1 << 20

interface Pending {
  command: string
  resolve(value: unknown): void
  reject(err: Error): void
}

export class QmpClient {
  private buffer = ''
  private readonly pending: Pending[] = []
  private greeted?: (version: unknown) => void
  private failure?: Error
  /** Events QEMU sent (SHUTDOWN, POWERDOWN, ...), newest last. */
  readonly events: string[] = []

  private constructor(private readonly socket: Socket) {}

  /** Connects, waits for the greeting and leaves capabilities negotiation mode. */
  static async connect(path: string, timeoutMs = 5000): Promise<QmpClient> {
    const socket = connect(path)
    const client = new QmpClient(socket)
    socket.setEncoding('utf8')
    const timer = setTimeout(
      () => client.fail(new QmpError(`QMP at ${path} did not greet within ${timeoutMs / 1000}s`)),
      timeoutMs,
    )
    try {
      await new Promise<void>((resolve, reject) => {
        client.greeted = () => resolve()
        // Kept for the whole session: a socket error after the greeting fails the pending commands instead of the process.
        socket.on('error', (err) => client.fail(new QmpError(`cannot reach QMP at ${path}: ${oneLine(err)}`)))
        socket.on('data', (chunk: string) => client.receive(chunk))
        socket.on('close', () => client.fail(new QmpError('QEMU closed the QMP connection')))
        client.onFailure = reject
      })
      await client.execute('qmp_capabilities')
      return client
    } catch (err) {
      socket.destroy()
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  private onFailure?: (err: Error) => void

  private fail(err: Error): void {
    this.failure ??= err
    this.onFailure?.(err)
    for (const p of this.pending.splice(0)) p.reject(err)
    this.socket.destroy()
  }

  private receive(chunk: string): void {
    this.buffer += chunk
    if (this.buffer.length > MAX_LINE && !this.buffer.includes('\n')) {
      this.fail(new QmpError('QMP peer sent an over-long line'))
      return
    }
    let newline: number
    while ((newline = this.buffer.indexOf('\n')) !== -1) {
      const line = this.buffer.slice(0, newline).trim()
      this.buffer = this.buffer.slice(newline + 1)
      if (line) this.handle(line)
    }
  }

  private handle(line: string): void {
    let message: Record<string, unknown>
    try {
      message = JSON.parse(line) as Record<string, unknown>
    } catch {
      this.fail(new QmpError(`QMP peer sent something that is not JSON: ${oneLine(line.slice(0, 80))}`))
      return
    }
    if (message === null || typeof message !== 'object') return
    if ('QMP' in message) {
      this.greeted?.(message.QMP)
      this.greeted = undefined
      return
    }
    if (typeof message.event === 'string') {
      this.events.push(message.event)
      return
    }
    const pending = this.pending.shift()
    if (!pending) return
    if ('error' in message) {
      const error = message.error as {class?: unknown; desc?: unknown} | undefined
      pending.reject(
        new QmpError(
          `QEMU refused ${pending.command}: ${oneLine(String(error?.desc ?? error?.class ?? 'unknown error'))}`,
        ),
      )
    } else pending.resolve(message.return)
  }

  /** Runs one QMP command and returns its `return` value. */
  execute(command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new QmpError(`QEMU did not answer ${command} within ${timeoutMs / 1000}s`)),
        timeoutMs,
      )
      this.pending.push({
        command,
        resolve: (value) => {
          clearTimeout(timer)
          resolve(value)
        },
        reject: (err) => {
          clearTimeout(timer)
          reject(err)
        },
      })
      this.socket.write(
        JSON.stringify(args ? {execute: command, arguments: args} : {execute: command}) + '\n',
      )
    })
  }

  /** `query-status`'s run state: running, paused, shutdown, inmigrate, ... */
  async status(): Promise<string> {
    const result = (await this.execute('query-status')) as {status?: unknown} | undefined
    if (typeof result?.status !== 'string') throw new QmpError('QEMU answered query-status without a status')
    return result.status
  }

  close(): void {
    this.onFailure = undefined
    this.socket.destroy()
  }
}

/** Opens a QMP session for one call and closes it afterwards. */
export async function withQmp<T>(
  path: string,
  use: (qmp: QmpClient) => Promise<T>,
  timeoutMs?: number,
): Promise<T> {
  const qmp = await QmpClient.connect(path, timeoutMs)
  try {
    return await use(qmp)
  } finally {
    qmp.close()
  }
}
