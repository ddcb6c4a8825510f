// `create` on the container driver: time per phase for one machine, then one machine against
// four in parallel in the same run (goal: four in under 1.5x the time of one). Twice: on the
// plain host image, where each machine installs the engine from Debian's packages, and on a copy
// of it with the engine already installed (as on a cloud image that ships Docker), where what is
// left is berth's own work: boot, SSH, TLS, the engine's restart with it, the check.
import {execFile} from 'node:child_process'
import {readFile} from 'node:fs/promises'
import {cpus} from 'node:os'
import {DEFAULT_HOST_IMAGE as HOST_IMAGE} from '../dist/drivers/container/host-image.js'
import {berth, LAB_ENGINE, median, must, removeStore, tempStore} from './lib.mjs'

/** CPU seconds a machine's system container (with the engine nested in it) has used, from cgroupfs. */
async function machineCpuSeconds(name) {
  const id = await new Promise((done) =>
    execFile('docker', ['-H', LAB_ENGINE, 'inspect', '-f', '{{.Id}}', `berth-${name}`], (err, out) =>
      done(err ? '' : out.trim()),
    ),
  )
  for (const [path, parse] of [
    [`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, (t) => Number(t) / 1e9],
    [
      `/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`,
      (t) => Number(/usage_usec (\d+)/.exec(t)?.[1]) / 1e6,
    ],
  ]) {
    const text = await readFile(path, 'utf8').catch(() => undefined)
    if (text !== undefined) return parse(text)
  }
  return NaN
}

const rounds = Number(process.env.ROUNDS ?? 2)
const ENGINE_IMAGE = 'berth/host:bench-engine'

function labDocker(args) {
  return new Promise((done, fail) =>
    execFile('docker', ['-H', LAB_ENGINE, ...args], {maxBuffer: 1 << 24}, (err, out, stderr) =>
      err ? fail(new Error(`docker ${args[0]}: ${stderr.trim()}`)) : done(out.trim()),
    ),
  )
}

/** The host image plus Debian's docker.io, with no machine's state in it (no host keys, no engine data). */
async function buildEngineImage() {
  const name = `bench-engine-${process.pid}`
  await labDocker([
    'run',
    '-d',
    '--name',
    name,
    '--cap-add=ALL',
    '--cap-drop=SYS_RESOURCE',
    '--security-opt',
    'seccomp=unconfined',
    '--security-opt',
    'apparmor=unconfined',
    '--security-opt',
    'systempaths=unconfined',
    '--cgroupns=host',
    '-v',
    '/sys/fs/cgroup:/sys/fs/cgroup:rw',
    '--tmpfs',
    '/run',
    '--tmpfs',
    '/run/lock',
    '--tmpfs',
    '/var/lib/docker',
    HOST_IMAGE,
    '/sbin/init',
  ])
  try {
    await labDocker([
      'exec',
      name,
      'sh',
      '-c',
      'export DEBIAN_FRONTEND=noninteractive && apt-get -q update >/dev/null && apt-get -q -y --no-install-recommends install docker.io >/dev/null && systemctl stop docker.socket docker.service containerd.service && rm -f /etc/ssh/ssh_host_*',
    ])
    await labDocker(['stop', name])
    await labDocker(['commit', '-c', 'CMD ["/sbin/init"]', name, ENGINE_IMAGE])
  } finally {
    await labDocker(['rm', '-f', name]).catch(() => {})
  }
}

/** One round after another: one machine, then four at once; the times, the phases and each machine's CPU. */
async function measure(store, image) {
  const single = []
  const parallel = []
  const phases = []
  const machineCpu = []
  const tag = image === HOST_IMAGE ? 'i' : 'e'
  const imageFlag = ['--container-image', image]
  for (let round = 0; round < rounds; round++) {
    const one = must(
      await berth(store, ['create', '--json', '-q', ...imageFlag, `${tag}one-${round}`]),
      'create of one',
    )
    single.push(one.seconds)
    phases.push(JSON.parse(one.stdout)[0].timings)
    machineCpu.push(await machineCpuSeconds(`${tag}one-${round}`))
    must(await berth(store, ['rm', '-y', `${tag}one-${round}`]), 'rm')
    const names = [0, 1, 2, 3].map((i) => `${tag}four-${round}-${i}`)
    const four = must(
      await berth(store, ['create', '--json', '-q', ...imageFlag, ...names]),
      'create of four',
    )
    parallel.push(four.seconds)
    for (const name of names) machineCpu.push(await machineCpuSeconds(name))
    must(await berth(store, ['rm', '-y', ...names]), 'rm')
  }
  return {
    oneMachineSeconds: single,
    fourMachinesSeconds: parallel,
    ratioFourToOne: median(parallel) / median(single),
    phaseSecondsMedian: Object.fromEntries(
      Object.keys(phases[0]).map((key) => [key, median(phases.map((p) => p[key]))]),
    ),
    // What four machines cost the CPUs at the least: their containers' CPU time spread over every core.
    machineCpuSecondsMedian: median(machineCpu),
    fourMachinesCpuFloorSeconds: (4 * median(machineCpu)) / cpus().length,
  }
}

const store = await tempStore()
try {
  // The host image is built once per engine; do it, and the engine image, outside the timed runs.
  must(await berth(store, ['create', '-q', 'warmup']), 'warm-up create')
  must(await berth(store, ['rm', '-y', 'warmup']), 'warm-up rm')
  await buildEngineImage()
  console.log(
    JSON.stringify(
      {
        rounds,
        cores: cpus().length,
        engineInstalledByBerth: await measure(store, HOST_IMAGE),
        engineAlreadyInImage: await measure(store, ENGINE_IMAGE),
      },
      null,
      2,
    ),
  )
} finally {
  await berth(store, ['rm', '-f', ...(await berth(store, ['ls', '-q'])).stdout.split('\n').filter(Boolean)])
  await labDocker(['rmi', ENGINE_IMAGE]).catch(() => {})
  await removeStore(store)
}
