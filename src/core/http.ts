/**
 * One HTTP(S) request, for servers whose certificate comes from a private CA (a machine's own, as
 * `monitor up`'s InfluxDB and Grafana have): Node's fetch cannot be given a CA, node:https can.
 */
import http from 'node:http'
import https from 'node:https'
import {rootCertificates} from 'node:tls'

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
        timeout: options.timeoutMs ?? 30_000,
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
    request.on('timeout', () =>
      request.destroy(new Error(`no answer within ${options.timeoutMs ?? 30_000} ms`)),
    )
    request.on('error', (err: NodeJS.ErrnoException) => reject(err.code ? new Error(err.code) : err))
    request.end(options.body)
  })
}
