// The read commands autoscalers call around every job (`status`, `ip`, `url`, `inspect -f`, `ls -q`) on a real
// container machine, under both names: wall time, CPU time and peak RSS of the whole process (/usr/bin/time),
// berth as built against the same build with its fast path turned off (BERTH_NO_FAST_PATH=1, the full oclif CLI)
// and, with BASELINE=DIR, against another built checkout (e.g. main before the change), alternated round by round,
// with `node -e 0` as the floor. Goal: under 100 ms median wall and CPU, under 60 MB RSS.
// Then `env`, `config` and `ls` (an engine call per machine), which always run the full CLI: what every other
// command pays to start (the modules it loads), against the baseline's full CLI.
//   node bench/read.mjs              ROUNDS=15  BASELINE=/path/to/other/checkout  BENCH_STORE=existing store
import {execFile} from 'node:child_process'
import {join} from 'node:path'
import {berth, median, must, removeStore, REPO, tempStore} from './lib.mjs'

const rounds = Number(process.env.ROUNDS ?? 15)
const baseline = process.env.BASELINE
const given = process.env.BENCH_STORE
const store = given ?? (await tempStore())
const name = process.env.BENCH_MACHINE ?? 'reader'

/** One run under /usr/bin/time: {wall, cpu} in ms, rss in MB; fails on a non-zero exit. */
function timed(argv, env) {
  return new Promise((done, fail) => {
    execFile(
      '/usr/bin/time',
      ['-f', '%e %U %S %M', ...argv],
      {env: {...process.env, ...env}},
      (err, _stdout, stderr) => {
        if (err) return fail(new Error(`${argv.join(' ')}: ${stderr.trim().split('\n').slice(-2).join(' ')}`))
        const [wall, user, sys, rss] = stderr.trim().split('\n').pop().split(' ').map(Number)
        done({wall: wall * 1000, cpu: (user + sys) * 1000, rss: rss / 1024})
      },
    )
  })
}

const READS = [
  ['status', name],
  ['ip', name],
  ['url', name],
  ['inspect', name, '-f', '{{.Driver.IPAddress}}'],
  ['ls', '-q'],
  ['env', name],
  ['config', name],
  ['ls'],
]
const env = {BERTH_STORAGE_PATH: store, MACHINE_STORAGE_PATH: store, DOCKER_HOST: ''}
const variants = [
  ['node -e 0', () => [process.execPath, '-e', '0'], {}],
  ['berth', (args) => [process.execPath, join(REPO, 'bin/run.js'), ...args], {}],
  ['docker-machine', (args) => [process.execPath, join(REPO, 'bin/docker-machine.js'), ...args], {}],
  [
    'berth, full CLI',
    (args) => [process.execPath, join(REPO, 'bin/run.js'), ...args],
    {BERTH_NO_FAST_PATH: '1'},
  ],
  ...(baseline
    ? [
        ['baseline', (args) => [process.execPath, join(baseline, 'bin/run.js'), ...args], {}],
        [
          'baseline, full CLI',
          (args) => [process.execPath, join(baseline, 'bin/run.js'), ...args],
          {BERTH_NO_FAST_PATH: '1'},
        ],
      ]
    : []),
]

try {
  if (!given) must(await berth(store, ['create', '-q', name]), 'create')
  const results = []
  for (const args of READS) {
    const samples = new Map(variants.map(([label]) => [label, []]))
    for (let round = 0; round < rounds + 1; round++) {
      for (const [label, argv, extra] of variants) {
        const sample = await timed(argv(args), {...env, ...extra})
        if (round > 0) samples.get(label).push(sample) // the first round warms the page cache
      }
    }
    for (const [label, list] of samples) {
      results.push({
        command: args.join(' '),
        variant: label,
        wallMs: median(list.map((s) => s.wall)),
        cpuMs: median(list.map((s) => s.cpu)),
        rssMB: median(list.map((s) => s.rss)),
      })
    }
  }
  console.log(JSON.stringify({rounds, results}, null, 2))
  for (const r of results)
    console.error(
      `${r.command.padEnd(36)} ${r.variant.padEnd(16)} wall ${r.wallMs.toFixed(0).padStart(5)} ms  cpu ${r.cpuMs.toFixed(0).padStart(5)} ms  rss ${r.rssMB.toFixed(1)} MB`,
    )
} finally {
  if (!given) {
    await berth(store, ['rm', '-y', name])
    await removeStore(store)
  }
}
