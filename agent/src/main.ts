/**
 * berth's monitoring agent: Docker events, cgroupfs stats and container logs from this host into
 * InfluxDB. `node agent.js` runs it; `node agent.js health` prints a running agent's health.
 */
import {lchownSync, lstatSync, mkdirSync, readdirSync} from 'node:fs'
import {join} from 'node:path'
import {performance} from 'node:perf_hooks'
import {serveProxy} from './apiproxy.js'
import {ConfigError, loadConfig, type AgentConfig} from './config.js'
import {ContainerRegistry} from './containers.js'
import {DiskCollector} from './disk.js'
import {DockerClient, type EngineInfo} from './docker.js'
import {EventsCollector} from './events.js'
import {fetchHealth, healthPoint, serveHealth, type Health} from './health.js'
import {influxApi} from './influx.js'
import {labelMatcher} from './labels.js'
import {nowNs} from './lineprotocol.js'
import {CheckpointStore, LogCollector} from './logcollector.js'
import {Spool} from './spool.js'
import {StatsCollector} from './stats.js'
import {InfluxWriter} from './writer.js'
import {redactUrl} from './url.js'

declare const AGENT_VERSION: string
export const VERSION = typeof AGENT_VERSION === 'string' ? AGENT_VERSION : '0.0.0-dev'

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${message}\n`)
}

async function engineInfo(docker: DockerClient): Promise<EngineInfo> {
  for (let delayMs = 500; ; delayMs = Math.min(10_000, delayMs * 2)) {
    try {
      return await docker.json<EngineInfo>('/info')
    } catch (err) {
      log(`waiting for the Docker engine at ${docker.socketPath}: ${(err as Error).message}`)
      await new Promise((r) => setTimeout(r, delayMs))
    }
  }
}

async function run(config: AgentConfig): Promise<void> {
  mkdirSync(config.stateDir, {recursive: true, mode: 0o700})
  const docker = new DockerClient(config.dockerSocket)
  let engine = await engineInfo(docker)
  const host = config.host || engine.Name
  const spool = new Spool(join(config.stateDir, 'spool'), config.spoolMaxBytes)
  const writer = new InfluxWriter(config.influx, spool, config.writer)
  writer.start()
  const registry = new ContainerRegistry(docker, labelMatcher(config.labels))
  const checkpoints = new CheckpointStore(join(config.stateDir, 'log-checkpoints.json'))
  const logs = new LogCollector(docker, writer, registry, checkpoints, host, config.maxLineBytes)
  const events = new EventsCollector(docker, writer, host, join(config.stateDir, 'events.json'), {
    onContainerEvent(id, action) {
      if (action === 'destroy') registry.forget(id)
      else registry.invalidate(id)
      if (config.logs) logs.onContainerEvent(id, action)
    },
  })
  void events.run()
  const stats = new StatsCollector({cgroupRoot: config.cgroupRoot, procRoot: config.procRoot}, host)
  const disk = new DiskCollector(
    {procRoot: config.procRoot, hostRoot: config.hostRoot, ignoreFs: config.diskIgnoreFs},
    host,
  )
  const startedAt = new Date().toISOString()
  let collectMs = 0
  let containers = 0
  let dockerError = ''
  let lastCpu = process.cpuUsage()
  let lastWall = performance.now()
  let cpuPercent = 0

  const health = (): Health => {
    const w = writer.stats
    const lastError = w.lastError || events.lastError || dockerError
    return {
      version: VERSION,
      host,
      startedAt,
      influxUrl: redactUrl(config.influx.url),
      status: lastError ? 'error' : w.pointsWritten > 0 ? 'ok' : 'starting',
      pointsWritten: w.pointsWritten,
      pointsSpooled: w.pointsSpooled,
      pointsDropped: w.pointsDropped,
      pointsRejected: w.pointsRejected,
      pointsInvalid: w.pointsInvalid,
      linesTruncated: logs.linesTruncated,
      labelsDropped: registry.labelsDropped + stats.labelCollisions,
      writeErrors: w.writeErrors,
      spoolBytes: spool.bytes,
      spoolBatches: spool.size,
      lagMs: writer.lagMs(),
      lastWriteAt: w.lastWriteAt ?? null,
      lastError,
      lastErrorAt: w.lastErrorAt ?? null,
      collectMs,
      containers,
      logStreams: logs.streams,
      logStreamsPaused: logs.streamsPaused,
      eventsConnected: events.connected,
      rssBytes: process.memoryUsage.rss(),
      cpuPercent,
    }
  }

  const cycle = async () => {
    try {
      const started = performance.now()
      const [info, list] = await Promise.all([
        docker.json<EngineInfo>('/info'),
        registry.forCycle(events.connected ? events.connections : undefined),
      ])
      engine = info
      const time = nowNs()
      stats.emit(engine, list, time, (points) => writer.write(points))
      writer.write(disk.collect(time))
      collectMs = performance.now() - started
      containers = list.length
      dockerError = ''
      if (config.logs) logs.sync(list)
    } catch (err) {
      dockerError = `stats: ${(err as Error).message}`
    }
    const cpu = process.cpuUsage()
    const wall = performance.now()
    cpuPercent = ((cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000 / (wall - lastWall)) * 100
    lastCpu = cpu
    lastWall = wall
    writer.write([healthPoint(health(), nowNs())])
  }
  const server = serveHealth(config.health, health)
  await cycle()
  const timer = setInterval(() => void cycle(), config.intervalMs)
  log(
    `berth agent ${VERSION} on ${host}: writing to ${redactUrl(config.influx.url)} (${influxApi(config.influx) === 'v2' ? `bucket ${config.influx.bucket}` : `database ${config.influx.database}`}), cgroup v${stats.version}`,
  )

  const shutdown = async (signal: string) => {
    log(`${signal}: stopping`)
    clearInterval(timer)
    server.close()
    logs.stop()
    events.stop()
    await writer.stop() // spools what InfluxDB does not take now; checkpoints follow
    checkpoints.flush()
    events.flush()
    docker.close()
    process.exit(0)
  }
  process.once('SIGTERM', () => void shutdown('SIGTERM'))
  process.once('SIGINT', () => void shutdown('SIGINT'))
}

/** `proxy`: the Docker API filter (apiproxy.ts), a process of its own that runs nothing else. */
function runProxy(env: NodeJS.ProcessEnv): void {
  const options = {
    listen: env.BERTH_AGENT_PROXY_LISTEN ?? '/run/berth-api/docker.sock',
    upstream: env.BERTH_AGENT_PROXY_UPSTREAM ?? '/var/run/docker.sock',
  }
  const server = serveProxy(options)
  server.on('error', (err) => {
    log(`berth agent API filter: ${err.message}`)
    process.exit(1)
  })
  log(
    `berth agent API filter ${VERSION}: ${options.listen} -> ${options.upstream} (GET events, containers, logs, info, version only)`,
  )
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    process.once(signal, () => server.close(() => process.exit(0)).closeAllConnections())
}

/**
 * `prepare-state UID:GID`: gives the state folder to the agent's user (a volume written by an
 * older, root agent); the one-off container may read every folder and change owners, nothing else.
 */
function prepareState(dir: string, owner: string): void {
  const match = /^(\d+):(\d+)$/.exec(owner)
  if (!match) throw new ConfigError(`prepare-state takes UID:GID, not "${owner}"`)
  const [uid, gid] = [Number(match[1]), Number(match[2])]
  const walk = (path: string): void => {
    const stat = lstatSync(path)
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(`${path}/${name}`)
    if (stat.uid !== uid || stat.gid !== gid) lchownSync(path, uid, gid)
  }
  try {
    walk(dir)
  } catch (err) {
    throw new ConfigError(`prepare-state: ${(err as Error).message}`)
  }
}

async function main(argv: string[]): Promise<void> {
  const command = argv[0] ?? 'run'
  if (command === 'version') {
    process.stdout.write(VERSION + '\n')
    return
  }
  if (command === 'proxy') return runProxy(process.env)
  if (command === 'prepare-state')
    return prepareState(process.env.BERTH_AGENT_STATE_DIR ?? '/var/lib/berth-agent', argv[1] ?? '')
  const config = loadConfig()
  if (command === 'health') {
    const health = await fetchHealth(config.health).catch((err: NodeJS.ErrnoException) => {
      throw new ConfigError(`no agent answers at ${config.health}: ${err.code ?? err.message}`)
    })
    process.stdout.write(JSON.stringify(health) + '\n')
    return
  }
  if (command !== 'run')
    throw new ConfigError(`unknown command "${command}" (run, health, version, proxy, prepare-state)`)
  await run(config)
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(
    `berth agent: ${err instanceof ConfigError ? err.message : (err.stack ?? err.message)}\n`,
  )
  process.exit(err instanceof ConfigError ? 2 : 1)
})
