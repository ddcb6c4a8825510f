/* global fetch, URLSearchParams */
// The agent on a dense host: the lab's own engine with N idle containers (CONTAINERS, 200 by default;
// 200 and 1000 for BENCHMARKS.md) and CHATTY containers logging 10 lines/s each (100 by default),
// the agent installed the way `berth agent install` does it (installOnEngine, same containers,
// limits and API filter), writing to the lab's InfluxDB. Measured in one run, each beside its peer:
// - dockerd's, containerd's and the shims' own CPU (and dockerd's RSS) over a minute with no
//   agent, then over a minute with the agent following every container's logs;
// - the agent's collection cycle (its health endpoint) against the Docker stats API for the same
//   containers, called the Telegraf way (the list, then one stats call per container, all in
//   parallel; stream=false and one-shot), with the engine's CPU spent per cycle;
// - the agent's CPU (% of one core) and RSS at a 10 s interval (from /proc), and its filter's CPU;
// - event to queryable (p50/p99 of EVENTS creates);
// - the chatty containers: engine CPU without and with the agent, agent CPU, lines/s queryable.
// Every container it makes carries the label io.berth.bench=<run> and is removed at the end, also
// on failure or Ctrl-C (`node bench/agent.mjs clean` removes what a killed run left).
import {randomBytes} from 'node:crypto'
import {spawn} from 'node:child_process'
import {readFileSync, readdirSync} from 'node:fs'
import http from 'node:http'
import {loadavg} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'
import Docker from 'dockerode'
import {median, REPO} from './lib.mjs'

const SOCKET = (process.env.DOCKER_HOST ?? 'unix:///run/berth-lab/docker.sock').replace(/^unix:\/\//, '')
const DOCKERD_PIDFILE = process.env.DOCKERD_PIDFILE ?? '/run/berth-lab/dockerd.pid'
const containers = Number(process.env.CONTAINERS ?? 200)
const chatty = Number(process.env.CHATTY ?? 100)
const events = Number(process.env.EVENTS ?? 60)
const windowMs = Number(process.env.WINDOW_S ?? 60) * 1000
const INFLUX = process.env.INFLUX ?? 'http://127.0.0.1:8086'
const LABEL = 'io.berth.bench'
const run = `agent-${randomBytes(3).toString('hex')}`
const db = `bench_agent_${randomBytes(3).toString('hex')}`
const IMAGE = 'berth-bench/busybox:1'
const AGENT = 'berth-agent'
const FILTER = 'berth-agent-api'
const AGENT_VOLUMES = ['berth-agent-state', 'berth-agent-api', 'berth-agent-secrets']

const docker = new Docker({socketPath: SOCKET})
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const log = (message) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`)
const percentile = (values, p) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')
const round = (x, digits = 2) => Number(x.toFixed(digits))

/** GET on the engine's socket with a fresh agent per call site (stats calls need many sockets at once). */
function engineGet(path, agent) {
  return new Promise((resolve, reject) =>
    http
      .get({socketPath: SOCKET, path, agent}, (res) => {
        let body = ''
        res.on('data', (c) => (body += c))
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(JSON.parse(body))
            : reject(new Error(`${path}: ${res.statusCode}`)),
        )
      })
      .on('error', reject),
  )
}

async function influx(q) {
  const res = await fetch(`${INFLUX}/query?${new URLSearchParams({db, q, epoch: 'ns'})}`, {
    method: q.startsWith('SELECT') ? 'GET' : 'POST',
  })
  return (await res.json()).results[0]
}

/** Runs `make(i)` for i < n, `width` at a time. */
async function pool(n, width, make) {
  let next = 0
  await Promise.all(
    Array.from({length: width}, async () => {
      while (next < n) await make(next++)
    }),
  )
}

// ---- processes on this host, read from /proc (the lab engine runs here) ----
function stat(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return {ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / 100}
}
const rssMB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024
const cmdline = (pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')

/** The lab engine's processes: dockerd, its containerd, and the shims that containerd's socket serves. */
function engineProcesses() {
  const dockerd = Number(readFileSync(DOCKERD_PIDFILE, 'utf8').trim())
  let containerd
  const shims = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const command = cmdline(entry)
      if (command.startsWith('containerd ') && stat(entry).ppid === dockerd) containerd = Number(entry)
      else if (command.startsWith('/usr/bin/containerd-shim') || command.startsWith('containerd-shim'))
        shims.push({pid: Number(entry), command})
    } catch {
      // gone meanwhile
    }
  }
  // dockerd's containerd takes a config file beside its socket; the shims name that socket.
  const config = containerd && /--config (\S+)\/containerd\.toml/.exec(cmdline(containerd))?.[1]
  const socket = config && `-address ${config}/containerd.sock`
  return {
    dockerd,
    containerd,
    shims: shims.filter((s) => socket && s.command.includes(socket)).map((s) => s.pid),
  }
}

function cpuOf(pids) {
  let total = 0
  for (const pid of pids)
    try {
      total += stat(pid).cpu
    } catch {
      // exited: its time is gone from both readings' sums only if it ran before; rare for these
    }
  return total
}

/** CPU seconds of dockerd, containerd and the shims (re-read: shims come and go). */
function engineCpu() {
  const p = engineProcesses()
  return {dockerd: cpuOf([p.dockerd]), containerd: cpuOf([p.containerd]), shims: cpuOf(p.shims)}
}

/** Engine CPU (% of one core) over `ms` while `during` runs, and the load average around it. */
async function engineWindow(ms, during) {
  const before = engineCpu()
  const loadBefore = load()
  const started = Date.now()
  const result = await (during ?? sleep(ms))
  const seconds = (Date.now() - started) / 1000
  const after = engineCpu()
  const pct = (key) => round(((after[key] - before[key]) / seconds) * 100)
  return {
    dockerdPercent: pct('dockerd'),
    containerdPercent: pct('containerd'),
    shimsPercent: pct('shims'),
    cpuSeconds: round(
      after.dockerd + after.containerd + after.shims - before.dockerd - before.containerd - before.shims,
    ),
    seconds: round(seconds, 1),
    load: `${loadBefore} -> ${load()}`,
    result,
  }
}

/** Waits (up to `maxMs`) for the 1-minute load average to drop under `below`; says what it found. */
async function quiet(below = 3, maxMs = Number(process.env.QUIET_WAIT_S ?? 60) * 1000) {
  const until = Date.now() + maxMs
  while (loadavg()[0] > below && Date.now() < until) await sleep(5000)
  return load()
}

// ---- containers ----
async function busyboxImage() {
  try {
    await docker.getImage(IMAGE).inspect()
    return
  } catch {
    // built below
  }
  const tar = await new Promise((done, fail) => {
    const child = spawn('sh', [
      '-c',
      'd=$(mktemp -d) && mkdir -p $d/bin && cp /bin/busybox $d/bin/ && ln -s busybox $d/bin/sh && tar -C $d -c . && rm -rf $d',
    ])
    const chunks = []
    child.stdout.on('data', (c) => chunks.push(c))
    child.on('error', fail)
    child.on('close', (code) => (code === 0 ? done(Buffer.concat(chunks)) : fail(new Error('busybox tar'))))
  })
  const [repo, tag] = IMAGE.split(':')
  const stream = await docker.importImage(new PassThrough().end(tar), {repo, tag})
  await new Promise((done, fail) => docker.modem.followProgress(stream, (err) => (err ? fail(err) : done())))
}

async function startContainer(name, cmd, maxSize = '1m') {
  const container = await docker.createContainer({
    name,
    Image: IMAGE,
    Cmd: cmd,
    Labels: {[LABEL]: run},
    HostConfig: {NetworkMode: 'none', LogConfig: {Type: 'json-file', Config: {'max-size': maxSize}}},
  })
  await container.start()
  return container
}

const CHATTY_SCRIPT =
  'i=0; while :; do for j in 0 1 2 3 4 5 6 7 8 9; do i=$((i+1)); echo "chatty line $i of a container that logs all the time"; done; sleep 1; done'

/** Removes every container of this run (or of every run: `clean`), 16 at a time. */
async function removeBenchContainers(value) {
  const list = await docker.listContainers({
    all: true,
    filters: {label: [value ? `${LABEL}=${value}` : LABEL]},
  })
  await pool(list.length, 16, (i) =>
    docker
      .getContainer(list[i].Id)
      .remove({force: true})
      .catch(() => undefined),
  )
  return list.length
}

async function removeAgent() {
  for (const name of [AGENT, FILTER])
    await docker
      .getContainer(name)
      .remove({force: true})
      .catch(() => undefined)
  for (const volume of AGENT_VOLUMES)
    await docker
      .getVolume(volume)
      .remove()
      .catch(() => undefined)
}

// ---- the agent ----
/** The agent's health from its socket on the state volume; retried while it (re)starts under load. */
async function agentHealth(stateSocket) {
  const get = () =>
    new Promise((resolve, reject) =>
      http
        .get({socketPath: stateSocket, path: '/health', timeout: 10_000}, (res) => {
          let body = ''
          res.on('data', (c) => (body += c))
          res.on('end', () => resolve(JSON.parse(body)))
        })
        .on('timeout', function () {
          this.destroy(new Error('the agent did not answer its health socket in 10 s'))
        })
        .on('error', reject),
    )
  for (let attempt = 1; ; attempt++)
    try {
      return await get()
    } catch (err) {
      if (attempt >= 12) throw err
      await sleep(1000)
    }
}

/** How the agent's container fared: restarts, OOM kills, its last log lines. */
async function agentFate() {
  const container = docker.getContainer(AGENT)
  const {RestartCount, State} = await container.inspect()
  const logs = (await container.logs({stdout: true, stderr: true, tail: 5})).toString('latin1')
  return {
    restarts: RestartCount,
    oomKilled: State.OOMKilled,
    status: State.Status,
    logs: logs.replace(/[^\x20-\x7e\n]/g, ''),
  }
}

const containerPid = async (name) => (await docker.getContainer(name).inspect()).State.Pid

/** A container's process and its CPU seconds now: a restart between two readings shows as another pid. */
async function processCpu(name) {
  const pid = await containerPid(name)
  try {
    return {pid, cpu: stat(pid).cpu, rssMB: rssMB(pid)}
  } catch {
    return {pid, cpu: NaN, rssMB: NaN} // exited meanwhile
  }
}
const cpuPercentBetween = (before, after, seconds) =>
  before.pid === after.pid
    ? round(((after.cpu - before.cpu) / seconds) * 100)
    : `restarted (pid ${after.pid})`

/** Runs R cycles of the Telegraf way (list, then every container's stats in parallel); engine CPU per cycle. */
async function statsApiCycles(query, rounds) {
  const cycles = []
  for (let i = 0; i < rounds; i++) {
    const agent = new http.Agent({keepAlive: false, maxSockets: Infinity})
    const window = await engineWindow(
      0,
      (async () => {
        const started = performance.now()
        const list = await engineGet('/containers/json', agent)
        await Promise.all(list.map((c) => engineGet(`/containers/${c.Id}/stats?${query}`, agent)))
        return {ms: performance.now() - started, containers: list.length}
      })(),
    )
    cycles.push({
      ms: round(window.result.ms, 0),
      containers: window.result.containers,
      engineCpuSeconds: window.cpuSeconds,
    })
    agent.destroy()
  }
  return cycles
}

async function main() {
  if (process.argv[2] === 'clean') {
    log(`removed ${await removeBenchContainers()} bench containers`)
    return
  }
  try {
    await docker.getContainer(AGENT).inspect()
    throw new Error(`${AGENT} already runs on ${SOCKET}: not this benchmark's to replace`)
  } catch (err) {
    if (err.statusCode !== 404) throw err
  }
  const {installOnEngine, prepareInflux} = await import(join(REPO, 'dist/src/core/agent/agent.js'))
  const {buildAgentImage} = await import(join(REPO, 'dist/src/core/agent/image.js'))
  const version = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version
  const results = {
    run,
    containers,
    chattyContainers: chatty,
    startedAt: new Date().toISOString(),
    loadAtStart: load(),
  }
  let installed = false
  const cleanup = async () => {
    if (installed) {
      log(`agent: ${JSON.stringify(await agentFate().catch((err) => err.message))}`)
      await removeAgent()
    }
    log(`removed ${await removeBenchContainers(run)} containers of ${run}`)
    await fetch(`${INFLUX}/query?${new URLSearchParams({q: `DROP DATABASE ${db}`})}`, {method: 'POST'}).catch(
      () => undefined,
    )
  }
  const interrupted = () => void cleanup().finally(() => process.exit(130))
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  try {
    await busyboxImage()
    const created = Date.now()
    for (let batch = 0; batch < containers; batch += 100) {
      await pool(Math.min(100, containers - batch), Number(process.env.CREATE_WIDTH ?? 4), (i) =>
        startContainer(`${run}-idle-${batch + i}`, ['/bin/busybox', 'sleep', '86400']),
      )
      log(`${Math.min(batch + 100, containers)} idle containers (load ${load()})`)
    }
    results.createSeconds = round((Date.now() - created) / 1000, 0)
    await influx(`CREATE DATABASE ${db}`)
    const dockerdRssNoAgent = rssMB(engineProcesses().dockerd)

    log(`quiet? ${await quiet()}`)
    const noAgent = await engineWindow(windowMs)
    log(`engine, no agent: ${JSON.stringify(noAgent)}`)

    const secrets = await prepareInflux({url: INFLUX, database: db}, {})
    installed = true
    const reporter = {step: (m) => log(m)}
    const status = await installOnEngine(
      docker,
      'bench',
      {influx: {url: INFLUX, database: db}, intervalSeconds: 10},
      secrets,
      () => buildAgentImage(process.env.BERTH_BENCH_CACHE ?? '/tmp/berth-bench-cache', version, reporter),
      version,
      reporter,
    )
    log(`agent ${status.state} ${status.health}`)
    const stateSocket = join(
      (await docker.getVolume('berth-agent-state').inspect()).Mountpoint,
      'health.sock',
    )
    // Every log stream open and the first cycles done before measuring.
    for (let i = 0; i < 60; i++) {
      const h = await agentHealth(stateSocket)
      if (h.logStreams >= containers && h.collectMs > 0) break
      await sleep(1000)
    }
    await sleep(15_000)

    // Agent at its 10 s interval, over windowMs: CPU and RSS from /proc, cycle time from its health.
    log(`quiet? ${await quiet()}`)
    const samples = []
    const [agentBefore, filterBefore] = [await processCpu(AGENT), await processCpu(FILTER)]
    const withAgent = await engineWindow(
      windowMs,
      (async () => {
        const until = Date.now() + windowMs
        while (Date.now() < until) {
          await sleep(10_000)
          const h = await agentHealth(stateSocket)
          samples.push({
            collectMs: h.collectMs,
            containers: h.containers,
            logStreams: h.logStreams,
            rssMB: (await processCpu(AGENT)).rssMB,
            cpuPercent: h.cpuPercent,
          })
        }
      })(),
    )
    const agentCpuPercent = cpuPercentBetween(agentBefore, await processCpu(AGENT), withAgent.seconds)
    const filterCpuPercent = cpuPercentBetween(filterBefore, await processCpu(FILTER), withAgent.seconds)
    const dockerdRssWithAgent = rssMB(engineProcesses().dockerd)
    log(`engine, with agent: ${JSON.stringify(withAgent)}`)
    log(`agent samples: ${JSON.stringify(samples)}`)

    // The stats API for the same containers, the Telegraf way.
    log(`quiet? ${await quiet()}`)
    const oneShot = await statsApiCycles('stream=false&one-shot=true', 3)
    log(`stats API one-shot: ${JSON.stringify(oneShot)}`)
    const streamFalse = await statsApiCycles('stream=false', 3)
    log(`stats API stream=false: ${JSON.stringify(streamFalse)}`)
    const afterStats = await agentHealth(stateSocket)

    // Event to queryable: a create every 250 ms, each polled for until InfluxDB has it.
    const latencies = []
    await Promise.all(
      Array.from({length: events}, async (_, i) => {
        await sleep(i * 250)
        const name = `${run}-ev-${i}`
        await docker.createContainer({
          name,
          Image: IMAGE,
          Cmd: ['true'],
          Labels: {[LABEL]: run},
          HostConfig: {NetworkMode: 'none'},
        })
        for (;;) {
          const row = (
            await influx(`SELECT actor_id FROM berth_event WHERE actor = '${name}' AND action = 'create'`)
          ).series?.[0]?.values[0]
          if (row) {
            latencies.push(Date.now() - row[0] / 1e6)
            return
          }
          await sleep(50)
        }
      }),
    )
    log(`event latency p50 ${percentile(latencies, 0.5)} p99 ${percentile(latencies, 0.99)}`)

    // Chatty containers with the agent, then the same with the agent stopped.
    let chattyResult
    if (chatty > 0) {
      await pool(chatty, 4, (i) =>
        startContainer(`${run}-chatty-${i}`, ['/bin/sh', '-c', CHATTY_SCRIPT], '10m'),
      )
      await sleep(15_000)
      log(`quiet? ${await quiet(4)}`)
      const count = async () =>
        (await influx(`SELECT count(message) FROM docker_log WHERE container_name =~ /^${run}-chatty-/`))
          .series?.[0]?.values[0][1] ?? 0
      const linesBefore = await count()
      const [agentBefore, filterBefore] = [await processCpu(AGENT), await processCpu(FILTER)]
      const engine = await engineWindow(windowMs)
      await sleep(2000) // the last flush
      const lines = (await count()) - linesBefore
      const agentAfter = await processCpu(AGENT)
      chattyResult = {
        engineWithAgent: engine,
        agentCpuPercent: cpuPercentBetween(agentBefore, agentAfter, engine.seconds),
        filterCpuPercent: cpuPercentBetween(filterBefore, await processCpu(FILTER), engine.seconds),
        agentRssMB: round(agentAfter.rssMB, 1),
        linesPerSecondQueryable: round(lines / engine.seconds, 0),
        health: await agentHealth(stateSocket),
      }
      await docker.getContainer(AGENT).stop({t: 5})
      await docker.getContainer(FILTER).stop({t: 5})
      await sleep(5000)
      log(`quiet? ${await quiet(4)}`)
      chattyResult.engineNoAgent = await engineWindow(windowMs)
      log(`chatty: ${JSON.stringify(chattyResult)}`)
    }

    const steady = samples.map((s) => s.collectMs)
    Object.assign(results, {
      engineNoAgent: noAgent,
      engineWithAgent: withAgent,
      dockerdRssMB: {noAgent: round(dockerdRssNoAgent, 1), withAgent: round(dockerdRssWithAgent, 1)},
      agent: {
        cpuPercentAt10s: agentCpuPercent,
        cpuPercentHealthMedian: round(median(samples.map((s) => s.cpuPercent))),
        rssMBMax: round(Math.max(...samples.map((s) => s.rssMB)), 1),
        filterCpuPercent,
        // Every sixth cycle reads idle containers in full (FULL_READ_EVERY): the maximum is such a cycle.
        cycleMsMedian: round(median(steady), 1),
        cycleMsMean: round(steady.reduce((a, b) => a + b, 0) / steady.length, 1),
        cycleMsMax: round(Math.max(...steady), 1),
        containersSeen: samples.at(-1).containers,
        logStreams: samples.at(-1).logStreams,
        afterStatsApi: {pointsRejected: afterStats.pointsRejected, pointsDropped: afterStats.pointsDropped},
      },
      statsApi: {oneShot, streamFalse},
      ratios: {
        oneShotToAgentCycle: round(median(oneShot.map((c) => c.ms)) / median(steady), 1),
        streamFalseToAgentCycle: round(median(streamFalse.map((c) => c.ms)) / median(steady), 1),
        streamFalseToAgentFullCycle: round(median(streamFalse.map((c) => c.ms)) / Math.max(...steady), 1),
        dockerdWithToWithoutAgent: round(withAgent.dockerdPercent / Math.max(noAgent.dockerdPercent, 0.01)),
      },
      eventLatencyMs: {
        count: latencies.length,
        p50: round(percentile(latencies, 0.5), 0),
        p99: round(percentile(latencies, 0.99), 0),
      },
      chatty: chattyResult,
      samples,
      agentFate: await agentFate(),
      loadAtEnd: load(),
    })
    console.log(JSON.stringify(results, null, 2))
  } finally {
    await cleanup()
  }
}

await main()
