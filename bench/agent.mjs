/* global fetch, URLSearchParams */
// The agent on one lab machine with N idle containers (N=50 by default, CONTAINERS=200 for more):
// - one stats collection cycle: the agent's own (container list + cgroupfs + /proc, from its health
//   endpoint) against the Docker stats API for the same containers in the same run, called the
//   Telegraf way (list, then one stats call per container, all in parallel; one-shot and not),
//   both from inside the agent's container over the same unix socket;
// - the agent's CPU% (of one core) and RSS at a 10 s interval;
// - event-to-queryable latency (p50/p99) and log lines per second into InfluxDB per core of agent CPU.
import {randomBytes} from 'node:crypto'
import {spawn} from 'node:child_process'
import {berth, median, must, removeStore, tempStore, LAB_ENGINE} from './lib.mjs'

const containers = Number(process.env.CONTAINERS ?? 50)
const logLines = Number(process.env.LOG_LINES ?? 200_000)
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
    child.on('close', (code) => (code === 0 ? done(stdout) : fail(new Error(`${command} ${args.slice(0, 3).join(' ')}: ${stderr.trim()}`))))
    child.stdin.end(input)
  })
}
const docker = (...args) => sh('docker', args)
const influx = async (q) => (await (await fetch(`${INFLUX}/query?${new URLSearchParams({db, q, epoch: 'ns'})}`, {method: q.startsWith('SELECT') ? 'GET' : 'POST'})).json()).results[0]
const health = async () => JSON.parse(await docker('exec', 'berth-agent', '/usr/local/bin/node', '/agent/agent.mjs', 'health'))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const percentile = (values, p) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]

// Run inside the agent container: R cycles of list + per-container stats in parallel.
const statsApiCycle = (query, rounds) => `
const http = require('http')
const get = (path) => new Promise((resolve, reject) => http.get({socketPath: '/var/run/docker.sock', path}, (res) => {
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
    const child = spawn('sh', ['-c', 'd=$(mktemp -d) && mkdir -p $d/bin && cp /bin/busybox $d/bin/ && ln -s busybox $d/bin/sh && tar -C $d -c . && rm -rf $d'])
    const chunks = []
    child.stdout.on('data', (c) => chunks.push(c))
    child.on('error', fail)
    child.on('close', () => done(Buffer.concat(chunks)))
  })
  await sh('docker', ['import', '-', 'bb:1'], busybox)
  for (let i = 0; i < containers; i++) await docker('run', '-d', '--name', `idle-${i}`, 'bb:1', 'sleep', '86400')
  await influx(`CREATE DATABASE ${db}`)
  const gateway = JSON.parse(await sh('docker', ['-H', LAB_ENGINE, 'network', 'inspect', 'bridge'])).at(0).IPAM.Config[0]
  const influxHost = gateway.Gateway ?? gateway.Subnet.replace(/\.0\/\d+$/, '.1')
  must(await berth(store, ['agent', 'install', '-q', machine, '--influx-url', `http://${influxHost}:8086`, '--database', db, '--interval', '10']), 'agent install')

  // Agent at a 10 s interval: collection time, CPU and RSS over six cycles (the first is warm-up).
  const samples = []
  for (let i = 0; i < 7; i++) {
    await sleep(10_000)
    samples.push(await health())
  }
  const steady = samples.slice(1)
  const cgroupCycleMs = steady.map((h) => h.collectMs)
  const agentCpuPercent = steady.map((h) => h.cpuPercent)
  const agentRssMB = steady.map((h) => h.rssBytes / 1024 / 1024)
  const oneShotMs = JSON.parse(await docker('exec', 'berth-agent', '/usr/local/bin/node', '-e', statsApiCycle('stream=false&one-shot=true', 5)))
  const streamFalseMs = JSON.parse(await docker('exec', 'berth-agent', '/usr/local/bin/node', '-e', statsApiCycle('stream=false', 3)))

  // Event latency: containers created one by one; each create event's time until InfluxDB has it.
  const latencies = []
  for (let i = 0; i < 20; i++) {
    const name = `ev-${i}`
    await docker('create', '--name', name, 'bb:1', 'true')
    for (;;) {
      const found = await influx(`SELECT actor_id FROM berth_event WHERE actor = '${name}' AND action = 'create'`)
      const row = found.series?.[0]?.values[0]
      if (row) {
        latencies.push(Date.now() - row[0] / 1e6)
        break
      }
      await sleep(50)
    }
  }

  // Log throughput: one container writes LOG_LINES lines at once; agent CPU from its cgroup.
  const agentPid = (await docker('inspect', '-f', '{{.State.Pid}}', 'berth-agent')).trim()
  const cpuTicks = async () => {
    const stat = await docker('exec', 'berth-agent', 'cat', `/host/proc/${agentPid}/stat`)
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12]) // utime + stime, in 1/100 s
  }
  const ticksBefore = await cpuTicks()
  const started = Date.now()
  await docker('run', '-d', '--name', 'flood', 'bb:1', 'seq', '1', String(logLines))
  for (;;) {
    const count = (await influx(`SELECT count(message) FROM docker_log WHERE container_name = 'flood'`)).series?.[0]?.values[0][1] ?? 0
    if (count >= logLines) break
    await sleep(200)
  }
  const seconds = (Date.now() - started) / 1000
  const agentCpuSeconds = ((await cpuTicks()) - ticksBefore) / 100

  console.log(JSON.stringify({
    containers,
    cgroupCycleMs: median(cgroupCycleMs),
    statsApiOneShotParallelMs: median(oneShotMs),
    statsApiStreamFalseParallelMs: median(streamFalseMs),
    ratioOneShotToCgroup: median(oneShotMs) / median(cgroupCycleMs),
    ratioStreamFalseToCgroup: median(streamFalseMs) / median(cgroupCycleMs),
    agentCpuPercentAt10s: median(agentCpuPercent),
    agentRssMB: Math.max(...agentRssMB),
    eventLatencyMs: {p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99)},
    logLines,
    logSecondsToQueryable: seconds,
    logLinesPerSecond: logLines / seconds,
    agentCpuSecondsForLogs: agentCpuSeconds,
    logLinesPerCpuSecond: logLines / agentCpuSeconds,
    raw: {cgroupCycleMs, oneShotMs, streamFalseMs, agentCpuPercent, latencies},
  }, null, 2))
} finally {
  await berth(store, ['rm', '-y', machine])
  await fetch(`${INFLUX}/query?${new URLSearchParams({q: `DROP DATABASE ${db}`})}`, {method: 'POST'})
  await removeStore(store)
}
