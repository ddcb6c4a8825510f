// What loading the AWS SDK only when an EC2 machine needs it saves on every other command:
// `berth ls -q` on an empty store as built (the amazonec2 driver imports the SDK lazily) against
// the same command with the three SDK packages preloaded (as an eager import would), alternated.
import {spawn} from 'node:child_process'
import {join} from 'node:path'
import {median, REPO, removeStore, tempStore} from './lib.mjs'

const runs = Number(process.env.RUNS ?? 8)
const preload = ['@aws-sdk/client-ec2', '@aws-sdk/client-ssm', '@aws-sdk/credential-providers'].map(
  (p) => `--import=${p}`,
)

/** Wall seconds and peak RSS (KiB, from GNU time) of one `berth ls -q`. */
function measure(store, nodeFlags) {
  const started = performance.now()
  return new Promise((done, fail) => {
    const child = spawn(
      '/usr/bin/time',
      ['-f', '%M', process.execPath, ...nodeFlags, join(REPO, 'bin/run.js'), 'ls', '-q'],
      {
        cwd: REPO,
        env: {...process.env, BERTH_STORAGE_PATH: store},
      },
    )
    let stderr = ''
    child.stderr.on('data', (c) => (stderr += c))
    child.on('error', fail)
    child.on('close', (code) => {
      if (code !== 0) return fail(new Error(`berth ls exited ${code}: ${stderr}`))
      done({seconds: (performance.now() - started) / 1000, rssKiB: Number(stderr.trim().split('\n').pop())})
    })
  })
}

const store = await tempStore()
const lazy = []
const eager = []
try {
  await measure(store, []) // warm the file cache
  for (let i = 0; i < runs; i++) {
    lazy.push(await measure(store, []))
    eager.push(await measure(store, preload))
  }
} finally {
  await removeStore(store)
}
const summary = (samples) => ({
  seconds: median(samples.map((s) => s.seconds)),
  rssMiB: median(samples.map((s) => s.rssKiB)) / 1024,
})
const result = {runs, lazy: summary(lazy), eager: summary(eager)}
result.timeRatio = result.eager.seconds / result.lazy.seconds
result.memoryRatio = result.eager.rssMiB / result.lazy.rssMiB
console.log(JSON.stringify(result, null, 2))
