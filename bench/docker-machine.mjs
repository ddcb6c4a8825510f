// The docker-machine drop-in under autoscaler load: 10 machines created and removed in parallel
// (10 separate `docker-machine create` processes on one store, as GitLab Runner does) against the
// same 10 one after another, in the same run; and `config` on a dead machine: time to a non-zero
// exit against the per-call timeout (10 s).
import {spawn} from 'node:child_process'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {LAB_ENGINE, median, REPO} from './lib.mjs'

const count = Number(process.env.MACHINES ?? 10)
const store = await mkdtemp(join(tmpdir(), 'berth-bench-dm-'))

function machine(...args) {
  const env = {...process.env, MACHINE_STORAGE_PATH: store}
  for (const key of Object.keys(env))
    if (key.startsWith('DOCKER_') || key.startsWith('BERTH_')) delete env[key]
  const started = performance.now()
  return new Promise((done) => {
    const child = spawn(
      process.execPath,
      [join(REPO, 'bin/docker-machine.js'), '--bugsnag-api-token=x', ...args],
      {env, stdio: ['ignore', 'ignore', 'pipe']},
    )
    let stderr = ''
    child.stderr.on('data', (c) => (stderr += c))
    child.on('close', (code) => done({code, stderr, seconds: (performance.now() - started) / 1000}))
  })
}

async function lifecycle(name) {
  const created = await machine(
    'create',
    '--driver',
    'container',
    `--container-engine=${LAB_ENGINE}`,
    '-q',
    name,
  )
  if (created.code !== 0) throw new Error(`create ${name}: ${created.stderr.trim().split('\n').pop()}`)
  const removed = await machine('rm', '-y', name)
  if (removed.code !== 0) throw new Error(`rm ${name}: ${removed.stderr.trim()}`)
}

try {
  await lifecycle('warmup') // host image and CA exist before timing
  let t = performance.now()
  await Promise.all(Array.from({length: count}, (_, i) => lifecycle(`par-${i}`)))
  const parallelSeconds = (performance.now() - t) / 1000
  t = performance.now()
  for (let i = 0; i < count; i++) await lifecycle(`seq-${i}`)
  const sequentialSeconds = (performance.now() - t) / 1000

  const created = await machine(
    'create',
    '--driver',
    'container',
    `--container-engine=${LAB_ENGINE}`,
    '-q',
    'dead',
  )
  if (created.code !== 0) throw new Error(created.stderr)
  await machine('kill', 'dead')
  const deadConfig = []
  for (let i = 0; i < 5; i++) {
    const result = await machine('config', 'dead')
    if (result.code === 0) throw new Error('config succeeded on a dead machine')
    deadConfig.push(result.seconds)
  }
  await machine('rm', '-y', 'dead')
  console.log(
    JSON.stringify(
      {
        machines: count,
        parallelSeconds,
        sequentialSeconds,
        ratioSequentialToParallel: sequentialSeconds / parallelSeconds,
        deadConfigSeconds: deadConfig,
        deadConfigMedian: median(deadConfig),
        perCallTimeoutSeconds: 10,
      },
      null,
      2,
    ),
  )
} finally {
  await rm(store, {recursive: true, force: true})
}
