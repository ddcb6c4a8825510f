/**
 * One HTTP(S) request, for servers whose certificate comes from a private CA (a machine's own, as
 * `monitor up`'s InfluxDB and Grafana have): Node's fetch cannot be given a CA, node:https can.
 */
import {readFile} from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import {rootCertificates} from 'node:tls'
import {BerthError, ExitCode, oneLine} from './errors.js'

export interface HttpRequestOptions {
  method?: string
  headers?: Record<string, string>
  body?: string
  /** PEM of a CA trusted besides the system's, for an https URL. */
  ca?: string
  timeoutMs?: number
}

export interface HttpResponse {
  status: number
  text: string
}

/** Resolves with the status and body; rejects on a network or TLS error (its code, such as ECONNREFUSED, as message when it has one). */
export function httpRequest(url: string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  const target = new URL(url)
  const client = target.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const request = client.request(
      target,
      {
        method: options.method ?? 'GET',
        headers: {
          ...options.headers,
          ...(options.body !== undefined ? {'Content-Length': String(Buffer.byteLength(options.body))} : {}),
        },
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
        ...(target.protocol === 'https:' && options.ca ? {ca: [...rootCertificates, options.ca]} : {}),
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () =>
          resolve({status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8')}),
        )
        response.on('error', reject)
      },
    )
    request.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.name === 'AbortError'
          ? new Error(`no answer within ${options.timeoutMs ?? 30_000} ms`)
          : err.code
            ? new Error(err.code)
            : err,
      ),
    )
    request.end(options.body)
  })
}

/** A CA certificate file (PEM) to trust for an https server; not a secret, but a missing one is a usage error. */
export async function readCaFile(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    throw new BerthError(
      `cannot read the CA file ${path} (${flag}): ${(err as NodeJS.ErrnoException).code ?? oneLine(err)}`,
      ExitCode.usage,
    )
  }
}

/** The refusal to send a secret over plain http: `flag` names the URL, `caFlag` the way to trust a private CA. */
export function insecureRefusal(flag: string, secret: string, caFlag: string): BerthError {
  return new BerthError(
    `${flag} is plain http: the ${secret} would cross the network in clear, readable and replayable by anyone on the path`,
    ExitCode.usage,
    `use https (${caFlag} for a private CA), or --allow-insecure to send it anyway`,
  )
}

/** `--allow-insecure`'s help, shared by the commands that send a secret. */
export const ALLOW_INSECURE_SUMMARY =
  'Send the password or token over plain http (refused without this flag): anyone on the network path can read it and use it.'
