/** The agent's health: a JSON endpoint on a unix socket (or loopback port) and the `berth_agent` measurement. */
import {rmSync} from 'node:fs'
import http from 'node:http'
import {point, type Point} from './lineprotocol.js'
import {BERTH_AGENT} from './schema.js'

export interface Health {
  version: string
  host: string
  startedAt: string
  /** ok: writing; error: InfluxDB or Docker fails (see lastError); starting: nothing written yet. */
  status: 'ok' | 'error' | 'starting'
  influxUrl: string
  pointsWritten: number
  pointsSpooled: number
  pointsDropped: number
  pointsRejected: number
  /** Points line protocol cannot carry as they are: never sent. */
  pointsInvalid: number
  /** Log lines longer than the cap, written cut. */
  linesTruncated: number
  /** Container labels (of the containers known now) that could not be tags. */
  labelsDropped: number
  writeErrors: number
  spoolBytes: number
  spoolBatches: number
  lagMs: number
  lastWriteAt: string | null
  lastError: string
  lastErrorAt: string | null
  collectMs: number
  containers: number
  logStreams: number
  /** Log streams not read now because the writer is behind. */
  logStreamsPaused: number
  eventsConnected: boolean
  rssBytes: number
  cpuPercent: number
}

export function healthPoint(health: Health, time: bigint): Point {
  return point(
    BERTH_AGENT,
    {host: health.host, version: health.version},
    {
      points_written: health.pointsWritten,
      points_spooled: health.pointsSpooled,
      points_dropped: health.pointsDropped,
      points_rejected: health.pointsRejected,
      points_invalid: health.pointsInvalid,
      lines_truncated: health.linesTruncated,
      labels_dropped: health.labelsDropped,
      spool_bytes: health.spoolBytes,
      spool_batches: health.spoolBatches,
      lag_ms: health.lagMs,
      write_errors: health.writeErrors,
      last_error: health.lastError,
      collect_ms: {float: health.collectMs},
      containers: health.containers,
      log_streams: health.logStreams,
      log_streams_paused: health.logStreamsPaused,
      rss_bytes: health.rssBytes,
      cpu_percent: {float: health.cpuPercent},
    },
    time,
  )
}

export function serveHealth(address: string, current: () => Health): http.Server {
  const server = http.createServer((req, res) => {
    if (req.url !== '/health') {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, {'Content-Type': 'application/json'}).end(JSON.stringify(current()))
  })
  const tcp = /^([\d.]+|localhost):(\d+)$/.exec(address)
  if (tcp) server.listen(Number(tcp[2]), tcp[1])
  else {
    rmSync(address, {force: true}) // a socket left by a killed agent
    server.listen(address)
  }
  return server
}

/** `agent health`: asks a running agent (used by `berth agent status` through the engine's exec). */
export function fetchHealth(address: string, timeoutMs = 5000): Promise<Health> {
  const tcp = /^([\d.]+|localhost):(\d+)$/.exec(address)
  return new Promise((resolve, reject) => {
    const req = http.get(
      {
        ...(tcp ? {host: tcp[1], port: Number(tcp[2])} : {socketPath: address}),
        path: '/health',
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Health)
          } catch (err) {
            reject(err)
          }
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error('the agent did not answer')))
    req.on('error', reject)
  })
}
