// `create` on the container driver: time per phase for one machine, then one machine against
// four in parallel in the same run (goal: four in under 1.5x the time of one).
import {execFile} from 'node:child_process'
import {readFile} from 'node:fs/promises'
import {cpus} from 'node:os'
import {berth, LAB_ENGINE, median, must, removeStore, tempStore} from './lib.mjs'

/** CPU seconds a machine's system container (with the engine nested in it) has used, from cgroupfs. */
async function machineCpuSeconds(name) {
  const id = await new Promise((done) =>
    execFile('docker', ['-H', LAB_ENGINE, 'inspect', '-f', '{{.Id}}', `berth-${name}`], (err, out) => done(err ? '' : out.trim())))
  for (const [path, parse] of [
    [`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, (t) => Number(t) / 1e9],
    [`/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`, (t) => Number(/usage_usec (\d+)/.exec(t)?.[1]) / 1e6],
  ]) {
    const text = await readFile(path, 'utf8').catch(() => undefined)
    if (text !== undefined) return parse(text)
  }
  return NaN
}

const rounds = Number(process.env.ROUNDS ?? 2)
const store = await tempStore()
const single = []
const parallel = []
const phases = []
const machineCpu = []
try {
  // The host image is built once per engine; do it outside the timed runs.
  must(await berth(store, ['create', '-q', 'warmup']), 'warm-up create')
  must(await berth(store, ['rm', '-y', 'warmup']), 'warm-up rm')
  for (let round = 0; round < rounds; round++) {
    const one = must(await berth(store, ['create', '--json', '-q', `one-${round}`]), 'create of one')
    single.push(one.seconds)
    phases.push(JSON.parse(one.stdout)[0].timings)
    machineCpu.push(await machineCpuSeconds(`one-${round}`))
    must(await berth(store, ['rm', '-y', `one-${round}`]), 'rm')
    const names = [0, 1, 2, 3].map((i) => `four-${round}-${i}`)
    const four = must(await berth(store, ['create', '--json', '-q', ...names]), 'create of four')
    parallel.push(four.seconds)
    for (const name of names) machineCpu.push(await machineCpuSeconds(name))
    must(await berth(store, ['rm', '-y', ...names]), 'rm')
  }
  const phaseMedians = Object.fromEntries(Object.keys(phases[0]).map((key) => [key, median(phases.map((p) => p[key]))]))
  console.log(JSON.stringify({rounds, oneMachineSeconds: single, fourMachinesSeconds: parallel,
    ratioFourToOne: median(parallel) / median(single), phaseSecondsMedian: phaseMedians,
    // What four machines cost the CPUs at the least: their containers' CPU time spread over every core.
    machineCpuSecondsMedian: median(machineCpu), cores: cpus().length,
    fourMachinesCpuFloorSeconds: (4 * median(machineCpu)) / cpus().length}, null, 2))
} finally {
  await berth(store, ['rm', '-f', ...(await berth(store, ['ls', '-q'])).stdout.split('\n').filter(Boolean)])
  await removeStore(store)
}
