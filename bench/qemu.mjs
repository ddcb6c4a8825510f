// The qemu driver: a machine's disk as a qcow2 overlay on the cached image against a full copy of
// the image (what a driver without backing files does), alternated, ROUNDS each; then, with
// BOOT=1, one real `berth create -d qemu` from the lab image (TCG here) with the time to the
// driver's SSH login (host key from the console) and to a verified engine from the record.
// Needs the lab image: `bash test/lab/vm-image.sh build docker` (as root).
import {execFileSync} from 'node:child_process'
import {createServer} from 'node:http'
import {createReadStream, statSync} from 'node:fs'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {berth, median, removeStore, tempStore} from './lib.mjs'

const CACHE = process.env.BERTH_LAB_VM_CACHE ?? '/var/cache/berth-lab/vm'
const IMAGE = 'berth-lab-bookworm-docker-amd64.qcow2'
const ROUNDS = Number(process.env.ROUNDS ?? 5)
const image = join(CACHE, IMAGE)

const timed = (work) => {
  const started = performance.now()
  work()
  return performance.now() - started
}

const dir = await mkdtemp(join(tmpdir(), 'berth-bench-qemu-'))
const overlay = []
const copy = []
try {
  for (let i = 0; i < ROUNDS; i++) {
    overlay.push(
      timed(() =>
        execFileSync('qemu-img', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '-F',
          'qcow2',
          '-b',
          image,
          join(dir, `o${i}.qcow2`),
          '20000M',
        ]),
      ),
    )
    // A full copy as a driver that clones the image must make it (VirtualBox's clonemedium does the same work).
    copy.push(
      timed(() => execFileSync('qemu-img', ['convert', '-O', 'qcow2', image, join(dir, `c${i}.qcow2`)])),
    )
    await rm(join(dir, `c${i}.qcow2`))
  }
} finally {
  await rm(dir, {recursive: true, force: true})
}
const ms = (v) => `${v.toFixed(1)} ms`
console.log(`image ${IMAGE}: ${(statSync(image).size / 1048576).toFixed(0)} MB compressed qcow2`)
console.log(
  `overlay (qemu-img create -b): median ${ms(median(overlay))} (min ${ms(Math.min(...overlay))}, max ${ms(Math.max(...overlay))})`,
)
console.log(
  `full copy (qemu-img convert):  median ${ms(median(copy))} (min ${ms(Math.min(...copy))}, max ${ms(Math.max(...copy))})`,
)
console.log(`ratio copy / overlay: ${(median(copy) / median(overlay)).toFixed(0)}x`)

if (process.env.BOOT === '1') {
  const server = createServer((req, res) => {
    const file =
      req.url === '/SHA256SUMS' ? join(CACHE, 'SHA256SUMS') : req.url === `/${IMAGE}` ? image : undefined
    if (!file) return void res.writeHead(404).end()
    res.writeHead(200, {'content-length': statSync(file).size})
    createReadStream(file).pipe(res)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const store = await tempStore()
  try {
    const url = `http://127.0.0.1:${server.address().port}/${IMAGE}`
    const created = await berth(store, [
      'create',
      '-d',
      'qemu',
      '--qemu-image-url',
      url,
      '--qemu-memory',
      '1024',
      '--qemu-disk-size',
      '4096',
      '--qemu-boot-timeout',
      '900',
      'bench',
    ])
    if (created.code !== 0) throw new Error(`create failed: ${created.stderr}`)
    const record = JSON.parse(await readFile(join(store, 'machines/bench/config.json'), 'utf8'))
    const t = record.Berth.Timings
    const load = (await readFile('/proc/loadavg', 'utf8')).split(' ')[0]
    console.log(
      `create (${record.Driver.Accelerator}): ${created.seconds.toFixed(0)} s in all; SSH login with the console's host key at ${t.driver} s (includes the image download from loopback), ` +
        `engine verified at ${(t.driver + t.ssh + (t.engineInstall ?? 0) + t.tls + t.verify).toFixed(0)} s; phases ${JSON.stringify(t)}; load average ${load}`,
    )
    await berth(store, ['rm', '-f', '-y', 'bench'])
  } finally {
    server.close()
    await removeStore(store)
  }
}
