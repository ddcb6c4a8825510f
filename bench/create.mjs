// `create` on the container driver: time per phase for one machine, then one machine against
// four in parallel in the same run (goal: four in under 1.5x the time of one).
import {berth, median, must, removeStore, tempStore} from './lib.mjs'

const rounds = Number(process.env.ROUNDS ?? 2)
const store = await tempStore()
const single = []
const parallel = []
const phases = []
try {
  // The host image is built once per engine; do it outside the timed runs.
  must(await berth(store, ['create', '-q', 'warmup']), 'warm-up create')
  must(await berth(store, ['rm', '-y', 'warmup']), 'warm-up rm')
  for (let round = 0; round < rounds; round++) {
    const one = must(await berth(store, ['create', '--json', '-q', `one-${round}`]), 'create of one')
    single.push(one.seconds)
    phases.push(JSON.parse(one.stdout)[0].timings)
    must(await berth(store, ['rm', '-y', `one-${round}`]), 'rm')
    const names = [0, 1, 2, 3].map((i) => `four-${round}-${i}`)
    const four = must(await berth(store, ['create', '--json', '-q', ...names]), 'create of four')
    parallel.push(four.seconds)
    must(await berth(store, ['rm', '-y', ...names]), 'rm')
  }
  const phaseMedians = Object.fromEntries(Object.keys(phases[0]).map((key) => [key, median(phases.map((p) => p[key]))]))
  console.log(JSON.stringify({rounds, oneMachineSeconds: single, fourMachinesSeconds: parallel,
    ratioFourToOne: median(parallel) / median(single), phaseSecondsMedian: phaseMedians}, null, 2))
} finally {
  await berth(store, ['rm', '-f', ...(await berth(store, ['ls', '-q'])).stdout.split('\n').filter(Boolean)])
  await removeStore(store)
}
