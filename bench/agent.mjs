/* global fetch, URLSearchParams */
// The agent on one lab machine with N idle containers (CONTAINERS, 50 by default; 200 and 1000 for
// BENCHMARKS.md) and optionally CHATTY containers that log all the time (10 lines/s each):
// - dockerd's (and containerd's) own CPU with the containers and no agent, then with the agent
//   following every container's logs, over the same length of time;
// - one stats collection cycle: the agent's own (container list + cgroupfs + /proc, from its health
//   endpoint) against the Docker stats API for the same containers in the same run, called the
//   Telegraf way (list, then one stats call per container, all in parallel; one-shot and not), from
//   a helper container holding the engine's socket (the agent has none: it reads through its filter);
// - the agent's CPU% (of one core) and RSS at a 10 s interval, and its API filter's CPU;
// - event-to-queryable latency (p50/p99), and (LOG_LINES) log lines per second per core of agent CPU.
import {randomBytes} from 'node:crypto'
import {spawn} from 'node:child_process'
import {berth, median, must, removeStore, tempStore, LAB_ENGINE} from './lib.mjs'

const containers = Number(process.env.CONTAINERS ?? 50)
const chatty = Number(process.env.CHATTY ?? 0)
const logLines = Number(process.env.LOG_LINES ?? 200_000)
const events = Number(process.env.EVENTS ?? 40)
const INFLUX = 'http://127.0.0.1:8086'
const store = await tempStore()
const machine = `bench-agent-${randomBytes(3).toString('hex')}`
const db = `bench_agent_${randomBytes(3).toString('hex')}`

function sh(command, args, input) {
  return new Promise((done, fail) => {
    const child = spawn(command, args, {env: dockerEnv})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c) => (stdout += c))
    child.stderr.on('data', (c) => (stderr += c))
    child.on('error', fail)
    child.on('close', (code) =>
      code === 0
        ? done(stdout)
        : fail(new Error(`${command} ${args.slice(0, 3).join(' ')}: ${stderr.trim()}`)),
    )
    child.stdin.end(input)
  })
}
const docker = (...args) => sh('docker', args)
const influx = async (q) =>
  (
    await (
      await fetch(`${INFLUX}/query?${new URLSearchParams({db, q, epoch: 'ns'})}`, {
        method: q.startsWith('SELECT') ? 'GET' : 'POST',
      })
    ).json()
  ).results[0]
const health = async () =>
  JSON.parse(await docker('exec', 'berth-agent', '/usr/local/bin/node', '/agent/agent.mjs', 'health'))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const percentile = (values, p) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]
const log = (message) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`)

/** Runs `make(i)` for i < n, `width` at a time. */
async function pool(n, width, make) {
  let next = 0
  await Promise.all(
    Array.from({length: width}, async () => {
      while (next < n) await make(next++)
    }),
  )
}

/** CPU seconds (utime + stime) of the machine's processes named, read through its shell. */
async function cpuSeconds(names) {
  const out = must(
    await berth(store, [
      'ssh',
      machine,
      `for p in $(pidof ${names.join(' ')}); do cat /proc/$p/stat; echo; done`,
    ]),
    'ssh',
  ).stdout
  let ticks = 0
  for (const stat of out.split('\n').filter(Boolean)) {
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    ticks += Number(fields[11]) + Number(fields[12])
  }
  return ticks / 100
}

/** CPU seconds of one container's main process, from the agent's view of the host's /proc. */
async function containerCpuSeconds(name) {
  const pid = (await docker('inspect', '-f', '{{.State.Pid}}', name)).trim()
  const stat = await docker(
    'exec',
    'berth-agent',
    '/usr/local/bin/node',
    '-e',
    `process.stdout.write(require('fs').readFileSync('/host/proc/${pid}/stat', 'utf8'))`,
  )
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** dockerd + containerd CPU (% of one core) over `ms`, while `during` runs. */
async function engineCpu(ms, during = sleep(ms)) {
  const before = await cpuSeconds(['dockerd', 'containerd'])
  const started = Date.now()
  await during
  return (((await cpuSeconds(['dockerd', 'containerd'])) - before) / ((Date.now() - started) / 1000)) * 100
}

// Run in a helper container with the engine's socket: R cycles of list + per-container stats in parallel.
const statsApiCycle = (query, rounds) => `
const http = require('http')
const agent = new http.Agent({maxSockets: 256})
const get = (path) => new Promise((resolve, reject) => http.get({socketPath: '/var/run/docker.sock', path, agent}, (res) => {
  let body = ''; res.on('data', (c) => (body += c)); res.on('end', () => resolve(JSON.parse(body)))
}).on('error', reject))
;(async () => {
  const times = []
  for (let i = 0; i < ${rounds}; i++) {
    const started = performance.now()
    const list = await get('/containers/json')
    await Promise.all(list.map((c) => get('/containers/' + c.Id + '/stats?${query}')))
    times.push(performance.now() - started)
  }
  console.log(JSON.stringify(times))
})()`

let dockerEnv = process.env
try {
  must(await berth(store, ['create', '-q', machine]), 'create')
  const env = must(await berth(store, ['env', '--shell', 'bash', machine]), 'env').stdout
  dockerEnv = {...process.env}
  for (const [, key, value] of env.matchAll(/export (\w+)="([^"]*)"/g)) dockerEnv[key] = value
  const busybox = await new Promise((done, fail) => {
    const child = spawn('sh', [
      '-c',
      'd=$(mktemp -d) && mkdir -p $d/bin && cp /bin/busybox $d/bin/ && ln -s busybox $d/bin/sh && tar -C $d -c . && rm -rf $d',
    ])
    const chunks = []
    child.stdout.on('data', (c) => chunks.push(c))
    child.on('error', fail)
    child.on('close', () => done(Buffer.concat(chunks)))
  })
  await sh('docker', ['import', '-', 'bb:1'], busybox)
  const createStarted = Date.now()
  // No network: the idle containers cost dockerd and the kernel less to make; the agent reads them the same way.
  await pool(containers, 4, (i) =>
    docker(
      'run',
      '-d',
      '--network',
      'none',
      '--log-opt',
      'max-size=1m',
      '--name',
      `idle-${i}`,
      'bb:1',
      'sh',
      '-c',
      'sleep 86400',
    ),
  )
  log(`${containers} idle containers in ${((Date.now() - createStarted) / 1000).toFixed(0)} s`)
  await influx(`CREATE DATABASE ${db}`)
  const gateway = JSON.parse(await sh('docker', ['-H', LAB_ENGINE, 'network', 'inspect', 'bridge'])).at(0)
    .IPAM.Config[0]
  const influxHost = gateway.Gateway ?? gateway.Subnet.replace(/\.0\/\d+$/, '.1')

  // The engine with the containers and no agent, then with the agent following every container's logs.
  await sleep(10_000)
  const engineNoAgent = await engineCpu(60_000)
  log(`dockerd+containerd without the agent: ${engineNoAgent.toFixed(2)} %`)
  must(
    await berth(store, [
      'agent',
      'install',
      '-q',
      machine,
      '--influx-url',
      `http://${influxHost}:8086`,
      '--database',
      db,
      '--interval',
      '10',
    ]),
    'agent install',
  )
  await sleep(15_000) // the first cycles and every log stream opened
  const image = (await docker('inspect', '-f', '{{.Image}}', 'berth-agent')).trim()

  // Agent at a 10 s interval: collection time, CPU and RSS over six cycles after a warm-up; the engine's CPU over the same minute.
  const samples = []
  const filterBefore = await containerCpuSeconds('berth-agent-api')
  const windowStarted = Date.now()
  const engineWithAgent = await engineCpu(
    60_000,
    (async () => {
      for (let i = 0; i < 7; i++) {
        await sleep(10_000)
        samples.push(await health())
      }
    })(),
  )
  const filterCpuPercent =
    (((await containerCpuSeconds('berth-agent-api')) - filterBefore) /
      ((Date.now() - windowStarted) / 1000)) *
    100
  const steady = samples.slice(1)
  log(
    `agent: ${JSON.stringify(steady.map((h) => [h.collectMs.toFixed(0), h.cpuPercent.toFixed(2), (h.rssBytes / 1e6).toFixed(0), h.logStreams]))}`,
  )
  const cgroupCycleMs = steady.map((h) => h.collectMs)
  const agentCpuPercent = steady.map((h) => h.cpuPercent)
  const agentRssMB = steady.map((h) => h.rssBytes / 1024 / 1024)
  const helper = (script) =>
    docker(
      'run',
      '--rm',
      '--network',
      'none',
      '-v',
      '/var/run/docker.sock:/var/run/docker.sock',
      '--entrypoint',
      '/usr/local/bin/node',
      image,
      '-e',
      script,
    )
  const oneShotMs = JSON.parse(await helper(statsApiCycle('stream=false&one-shot=true', 3)))
  const streamFalseMs = JSON.parse(await helper(statsApiCycle('stream=false', 2)))
  log(
    `stats API: one-shot ${oneShotMs.map((t) => t.toFixed(0))}, stream=false ${streamFalseMs.map((t) => t.toFixed(0))}`,
  )

  // Event latency: containers created one by one; each create event's time until InfluxDB has it.
  const latencies = []
  for (let i = 0; i < events; i++) {
    const name = `ev-${i}`
    await docker('create', '--network', 'none', '--name', name, 'bb:1', 'sh', '-c', 'true')
    for (;;) {
      const found = await influx(
        `SELECT actor_id FROM berth_event WHERE actor = '${name}' AND action = 'create'`,
      )
      const row = found.series?.[0]?.values[0]
      if (row) {
        latencies.push(Date.now() - row[0] / 1e6)
        break
      }
      await sleep(50)
    }
  }

  // Chatty containers: 10 lines/s each, all the time; the agent's, the filter's and the engine's CPU over a minute of it.
  let chattyResult
  if (chatty > 0) {
    await pool(chatty, 4, (i) =>
      docker(
        'run',
        '-d',
        '--network',
        'none',
        '--log-opt',
        'max-size=10m',
        '--name',
        `chatty-${i}`,
        'bb:1',
        'sh',
        '-c',
        'i=0; while :; do i=$((i+1)); echo "chatty line $i of a container that logs all the time"; usleep 100000; done',
      ),
    )
    await sleep(15_000)
    const [agentBefore, filterBefore2] = [
      await containerCpuSeconds('berth-agent'),
      await containerCpuSeconds('berth-agent-api'),
    ]
    const linesBefore =
      (await influx(`SELECT count(message) FROM docker_log WHERE container_name =~ /^chatty-/`)).series?.[0]
        ?.values[0][1] ?? 0
    const started = Date.now()
    const engine = await engineCpu(60_000)
    const seconds = (Date.now() - started) / 1000
    const linesAfter =
      (await influx(`SELECT count(message) FROM docker_log WHERE container_name =~ /^chatty-/`)).series?.[0]
        ?.values[0][1] ?? 0
    chattyResult = {
      containers: chatty,
      engineCpuPercent: engine,
      agentCpuPercent: (((await containerCpuSeconds('berth-agent')) - agentBefore) / seconds) * 100,
      filterCpuPercent: (((await containerCpuSeconds('berth-agent-api')) - filterBefore2) / seconds) * 100,
      linesPerSecondQueryable: (linesAfter - linesBefore) / seconds,
      lagMs: (await health()).lagMs,
    }
    log(`chatty: ${JSON.stringify(chattyResult)}`)
    await pool(chatty, 4, (i) => docker('rm', '-f', `chatty-${i}`))
  }

  // Log throughput: one container writes LOG_LINES lines at once; agent CPU from its /proc stat.
  let flood
  if (logLines > 0) {
    const before = await containerCpuSeconds('berth-agent')
    const started = Date.now()
    await docker('run', '-d', '--network', 'none', '--name', 'flood', 'bb:1', 'sh', '-c', `seq 1 ${logLines}`)
    for (;;) {
      const count =
        (await influx(`SELECT count(message) FROM docker_log WHERE container_name = 'flood'`)).series?.[0]
          ?.values[0][1] ?? 0
      if (count >= logLines) break
      await sleep(200)
    }
    const seconds = (Date.now() - started) / 1000
    const cpu = (await containerCpuSeconds('berth-agent')) - before
    flood = {
      logLines,
      logSecondsToQueryable: seconds,
      logLinesPerSecond: logLines / seconds,
      agentCpuSecondsForLogs: cpu,
      logLinesPerCpuSecond: logLines / cpu,
    }
  }

  console.log(
    JSON.stringify(
      {
        containers,
        engineCpuPercentNoAgent: engineNoAgent,
        engineCpuPercentWithAgent: engineWithAgent,
        filterCpuPercent,
        cgroupCycleMs: median(cgroupCycleMs),
        statsApiOneShotParallelMs: median(oneShotMs),
        statsApiStreamFalseParallelMs: median(streamFalseMs),
        ratioOneShotToCgroup: median(oneShotMs) / median(cgroupCycleMs),
        ratioStreamFalseToCgroup: median(streamFalseMs) / median(cgroupCycleMs),
        agentCpuPercentAt10s: median(agentCpuPercent),
        agentRssMB: Math.max(...agentRssMB),
        logStreams: steady.at(-1).logStreams,
        eventLatencyMs: {p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99)},
        chatty: chattyResult,
        flood,
        raw: {cgroupCycleMs, oneShotMs, streamFalseMs, agentCpuPercent, agentRssMB, latencies},
      },
      null,
      2,
    ),
  )
} finally {
  await berth(store, ['rm', '-y', machine])
  await fetch(`${INFLUX}/query?${new URLSearchParams({q: `DROP DATABASE ${db}`})}`, {method: 'POST'})
  await removeStore(store)
}
