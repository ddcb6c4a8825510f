/**
 * The qemu driver end to end on a real QEMU guest (TCG here: the lab's KVM runs no vCPU). The
 * image is the lab's Debian 12 cloud-style image with docker.io (test/lab/vm-image.sh), served
 * over loopback HTTP with its SHA256SUMS; the guest's real cloud-init reads berth's seed. TCG on
 * two shared cores is slow: the first machine is made once and carried through the lifecycle; a
 * second one, from the cached image, boots while the first idles and joins its swarm over the
 * private network (the only time two guests run).
 */
import {execFileSync} from 'node:child_process'
import {createReadStream, existsSync} from 'node:fs'
import {readdir, readFile, stat} from 'node:fs/promises'
import {createServer, Server} from 'node:http'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {addressForMac} from '../../drivers/virtualbox/index.js'
import {imageCacheDir} from '../../src/core/vm/image-cache.js'
import {Lab, ok, REPO, run} from '../lab/lab.js'

const VM_CACHE = process.env.BERTH_LAB_VM_CACHE ?? '/var/cache/berth-lab/vm'
const IMAGE = 'berth-lab-bookworm-docker-amd64.qcow2'
/** TCG on two cores shared with the other e2e files: a boot takes about a minute when idle, five under a load of 30. */
const BOOT_TIMEOUT = '900'
const BOOTS_TIMEOUT_MS = 40 * 60_000
/** The machines' private network (192.168/16: swarm's overlay networks take 10/8, the docker bridge 172.17/16). */
const PRIVATE_NET = '192.168.76.0/24'

let lab: Lab
let server: Server
let base: string
const downloads: Record<string, number> = {}
const timings: Record<string, number> = {}

/** QEMU processes whose command line names a file in this folder (machines/NAME/ is not machines/NAME-b/). */
function qemuProcessesIn(folder: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], {encoding: 'utf8'})
  return out
    .split('\n')
    .filter((l) => l.includes('qemu-system') && l.includes(`${folder}/`))
    .map((l) => Number(l.trim().split(/\s+/)[0]))
}

async function record(name: string) {
  return JSON.parse(await readFile(join(lab.storePath, 'machines', name, 'config.json'), 'utf8'))
}

/** berth create -d qemu with the lab image; `flags` override the test's defaults. */
function create(name: string, flags: Record<string, string> = {}, url = `${base}/good/${IMAGE}`) {
  const all = {
    'qemu-image-url': url,
    'qemu-private-network': PRIVATE_NET,
    'qemu-boot-timeout': BOOT_TIMEOUT,
    'qemu-disk-size': '4096',
    'qemu-memory': '1024',
    ...flags,
  }
  return lab.berth([
    'create',
    '-d',
    'qemu',
    ...Object.entries(all).flatMap(([flag, value]) => [`--${flag}`, value]),
    name,
  ])
}

/**
 * A command in the guest over `berth ssh`. Under TCG on a crowded machine an SSH handshake can
 * miss berth ssh's deadline (seen at a load average of 130 and more): that alone is tried again.
 */
async function guestRun(name: string, command: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const result = await lab.berth(['ssh', name, command])
    if (result.code === 0 || attempt === 4 || !/did not answer within/.test(result.stderr)) return ok(result)
  }
}

async function timed<T>(what: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now()
  try {
    return await work()
  } finally {
    timings[what] = Math.round(performance.now() - started) / 1000
  }
}

beforeAll(async () => {
  // Built once per machine and cached (about 2-9 minutes on a busy lab machine).
  await ok(run('bash', [join(REPO, 'test/lab/vm-image.sh'), 'build', 'docker'], {timeoutMs: 20 * 60_000}))
  lab = await Lab.create('berth-e2e-qemu-')
  const sums = await readFile(join(VM_CACHE, 'SHA256SUMS'), 'utf8')
  const line = sums.split('\n').find((l) => l.endsWith(` ${IMAGE}`))!
  // /good/ serves the true SHA256SUMS, /bad/ one whose digest for the same file is wrong.
  const badSums = line.replace(/^[0-9a-f]{64}/, (hex) => hex.replace(/^./, (c) => (c === '0' ? '1' : '0')))
  server = createServer((req, res) => {
    const [, dir, file] = (req.url ?? '').split('/')
    if (file === 'SHA256SUMS') return void res.end(dir === 'bad' ? badSums + '\n' : line + '\n')
    if (file !== IMAGE) return void res.writeHead(404).end()
    downloads[dir!] = (downloads[dir!] ?? 0) + 1
    void stat(join(VM_CACHE, IMAGE)).then((s) => {
      res.writeHead(200, {'content-length': s.size})
      createReadStream(join(VM_CACHE, IMAGE)).pipe(res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as {port: number}).port}`
}, 25 * 60_000)

afterAll(async () => {
  // Nothing may keep running: remove every machine left in the store, then check for processes.
  const left = await readdir(join(lab.storePath, 'machines')).catch(() => [])
  for (const name of left) await lab.berth(['rm', '-f', '-y', name])
  for (const pid of qemuProcessesIn(lab.storePath)) process.kill(pid, 'SIGKILL')
  server?.close()
  await lab.cleanup()
  console.log(`qemu e2e timings (s): ${JSON.stringify(timings)}`)
})

describe('qemu driver on a real guest (TCG)', () => {
  const name = `qemu-${Math.random().toString(16).slice(2, 8)}`
  const second = `${name}-b`

  it(
    'creates a VM from the image over HTTP: cloud-init applies the seed, the host key is pinned from the console, the docker CLI reaches the engine',
    async () => {
      const created = await timed('create', () => create(name))
      expect(created.code, created.stderr + created.stdout).toBe(0)
      const output = created.stdout + created.stderr
      expect(output).toMatch(/Using (tcg|kvm) acceleration/)
      if (output.includes('Using tcg'))
        expect(output).toMatch(/Warning: no hardware acceleration .*: using TCG emulation/)
      expect(downloads.good).toBe(1)

      const rec = await record(name)
      const dir = join(lab.storePath, 'machines', name)
      expect(rec.DriverName).toBe('qemu')
      expect(rec.Driver.Accelerator).toMatch(/^(tcg|kvm)$/)
      // The overlay sits on the cached, verified image and has the asked size.
      const info = JSON.parse(
        execFileSync('qemu-img', ['info', '--output=json', '-U', join(dir, 'disk.qcow2')], {
          encoding: 'utf8',
        }),
      )
      const cached = join(imageCacheDir(join(lab.storePath, 'cache'), `${base}/good/${IMAGE}`), IMAGE)
      expect(info['backing-filename']).toBe(cached)
      expect(info['virtual-size']).toBe(4096 * 1048576)
      expect(existsSync(join(dir, 'serial.log'))).toBe(true)

      // Inside the guest: what cloud-init did with the seed.
      const guest = (command: string) => guestRun(name, command)
      expect((await guest('hostname')).trim()).toBe(name)
      expect((await guest('id -un; id -gn; id -Gn')).trim().split('\n')).toEqual([
        'docker',
        'docker',
        expect.stringMatching(/\bsudo\b/),
      ])
      expect((await guest('cat ~/.ssh/authorized_keys')).trim()).toBe(
        (await readFile(join(dir, 'id_ed25519.pub'), 'utf8')).trim(),
      )
      expect(await guest('getent hosts $(hostname)')).toContain(name) // manage_etc_hosts
      expect((await guest('sudo -n true 2>&1; echo rc=$?')).trim()).toBe('rc=0') // no "unable to resolve host"
      // network-config matched both NICs by the MACs berth chose: slirp's DHCP gave the first its
      // address, the private one has the static address berth claimed (the first of the range).
      const addresses = await guest('ip -j addr show')
      expect(addressForMac(addresses, rec.Driver.MAC)).toBe('10.0.2.15')
      expect(rec.Driver.PrivateIPAddress).toBe('192.168.76.1')
      expect(addressForMac(addresses, rec.Driver.PrivateMAC)).toBe('192.168.76.1')
      const interfaces = await guest('cat /etc/network/interfaces.d/50-cloud-init')
      expect(interfaces).toMatch(/iface \S+ inet dhcp/)
      expect(interfaces).toMatch(/iface \S+ inet static\s+address 192\.168\.76\.1\/24/)
      // A mark in this machine's disk, which the second machine's fresh overlay must not have.
      await guest('touch ~/made-on-the-first-machine')
      // The pinned host key is the one the guest made, read from its console.
      const guestKey = (await guest('cat /etc/ssh/ssh_host_ed25519_key.pub'))
        .trim()
        .split(' ')
        .slice(0, 2)
        .join(' ')
      expect(rec.Berth.SSHHostKey).toBe(guestKey)
      expect(rec.Driver.SSHHostKey).toBe(guestKey)
      expect(await readFile(join(dir, 'serial.log'), 'utf8')).toContain(guestKey)
      // The root file system grew into the bigger overlay.
      expect(Number((await guest('df -m --output=size / | tail -1')).trim())).toBeGreaterThan(3000)

      // The engine through the forwarded port, as `berth env` sets it up.
      const env = await lab.dockerEnv(name)
      expect(env.DOCKER_HOST).toBe(`tcp://127.0.0.1:${rec.Driver.EnginePort}`)
      const version = await ok(run('docker', ['version', '--format', '{{.Server.Version}}'], {env}))
      expect(version.trim()).toMatch(/^\d+\.\d+/)
      expect(await ok(run('docker', ['info', '--format', '{{.Name}}'], {env}))).toContain(name)
      expect((await ok(lab.berth(['status', name]))).trim()).toBe('Running')
    },
    BOOTS_TIMEOUT_MS,
  )

  it(
    'stops through ACPI, starts and restarts the VM; status follows the process and QMP',
    async () => {
      const dir = join(lab.storePath, 'machines', name)
      await timed('stop', async () => ok(lab.berth(['stop', name])))
      expect((await ok(lab.berth(['status', name]))).trim()).toBe('Stopped')
      expect(qemuProcessesIn(dir)).toEqual([])
      await timed('start', async () => ok(lab.berth(['start', name])))
      expect((await ok(lab.berth(['status', name]))).trim()).toBe('Running')
      const env = await lab.dockerEnv(name)
      await ok(run('docker', ['version'], {env}))
      const bootId = async () => (await guestRun(name, 'cat /proc/sys/kernel/random/boot_id')).trim()
      const before = await bootId()
      await timed('restart', async () => ok(lab.berth(['restart', name])))
      expect(await bootId()).not.toBe(before)
      expect((await ok(lab.berth(['status', name]))).trim()).toBe('Running')
    },
    BOOTS_TIMEOUT_MS,
  )

  it(
    "creates a second machine from the cached image on a fresh overlay; it joins the first one's swarm over the private network",
    async () => {
      const dir = join(lab.storePath, 'machines', second)
      const cached = join(imageCacheDir(join(lab.storePath, 'cache'), `${base}/good/${IMAGE}`), IMAGE)
      const cachedBefore = (await stat(cached)).mtimeMs
      const created = await timed('second create', () => create(second))
      expect(created.code, created.stderr + created.stdout).toBe(0)
      // The image came from the cache: no second download, the cached file untouched.
      expect(downloads.good).toBe(1)
      expect((await stat(cached)).mtimeMs).toBe(cachedBefore)
      const first = await record(name)
      const rec = await record(second)
      const info = JSON.parse(
        execFileSync('qemu-img', ['info', '--output=json', '-U', join(dir, 'disk.qcow2')], {
          encoding: 'utf8',
        }),
      )
      expect(info['backing-filename']).toBe(cached)
      // A fresh overlay and a fresh guest: its own host key and address, nothing of the first machine's disk.
      expect(rec.Driver.SSHHostKey).not.toBe(first.Driver.SSHHostKey)
      expect(rec.Driver.PrivateIPAddress).toBe('192.168.76.2')
      expect(rec.Driver.PrivateMulticast).toBe(first.Driver.PrivateMulticast)
      expect((await guestRun(second, 'hostname')).trim()).toBe(second)
      expect((await guestRun(second, 'ls -A ~')).split('\n')).not.toContain('made-on-the-first-machine')

      // The private network carries the swarm: the first machine advertises its private address,
      // the second checks it reaches it from inside, joins, and both are Ready.
      await timed('swarm', async () => {
        const init = await ok(lab.berth(['swarm', 'init', name]))
        expect(init).toContain('192.168.76.1:2377')
        await ok(lab.berth(['swarm', 'join', '--to', name, second]))
      })
      const [swarm] = JSON.parse(await ok(lab.berth(['swarm', 'ls', name, '--json']))) as Array<{
        nodes: Array<{machine: string; role: string; status: string; address: string}>
      }>
      expect(
        swarm!.nodes
          .map((n) => [n.machine, n.role, n.status, n.address])
          .sort((a, b) => a[0]!.localeCompare(b[0]!)),
      ).toEqual([
        [name, 'manager', 'ready', '192.168.76.1'],
        [second, 'worker', 'ready', '192.168.76.2'],
      ])
      expect(
        await guestRun(second, "timeout 10 bash -c 'exec 3<>/dev/tcp/192.168.76.1/2377' && echo reached"),
      ).toContain('reached')
    },
    BOOTS_TIMEOUT_MS,
  )

  it(
    'kills and removes both machines: no QEMU process, no file, their private addresses free again',
    async () => {
      const dir = join(lab.storePath, 'machines', name)
      await timed('kill', async () => ok(lab.berth(['kill', name])))
      expect((await ok(lab.berth(['status', name]))).trim()).toBe('Stopped')
      expect(qemuProcessesIn(dir)).toEqual([])
      await ok(lab.berth(['rm', '-y', name]))
      expect(existsSync(dir)).toBe(false)
      // rm of a running machine ends its QEMU too.
      await ok(lab.berth(['rm', '-f', '-y', second]))
      expect(qemuProcessesIn(lab.storePath)).toEqual([])
      expect(await readdir(join(lab.storePath, 'machines'))).toEqual([])
      expect(await readdir(join(lab.storePath, 'qemu-networks', '192.168.76.0_24'))).toEqual([])
    },
    BOOTS_TIMEOUT_MS,
  )

  it(
    'fails cleanly: a wrong checksum, QEMU failing to start, a guest that never answers SSH, a killed create',
    async () => {
      const cacheImage = join(imageCacheDir(join(lab.storePath, 'cache'), `${base}/good/${IMAGE}`), IMAGE)
      // Machines besides the ones this test makes (a failed earlier test may leave its own).
      const others = await readdir(join(lab.storePath, 'machines')).catch(() => [] as string[])
      const machines = async () =>
        (await readdir(join(lab.storePath, 'machines')).catch(() => [] as string[])).filter(
          (m) => !others.includes(m),
        )

      // The image's digest does not match its SHA256SUMS: nothing enters the cache, no machine is left.
      const bad = await create('qemu-badsum', {}, `${base}/bad/${IMAGE}`)
      expect(bad.code).not.toBe(0)
      expect(bad.stderr).toMatch(/checksum mismatch for .*\/bad\//)
      const badDir = imageCacheDir(join(lab.storePath, 'cache'), `${base}/bad/${IMAGE}`)
      expect((await readdir(badDir)).filter((f) => !f.startsWith('.lock'))).toEqual([])

      // QEMU refuses to start (no memory for the guest): the overlay and seed are removed.
      const noStart = await create('qemu-nostart', {'qemu-memory': String(64 * 1024 * 1024)})
      expect(noStart.code).not.toBe(0)
      expect(noStart.stderr).toMatch(/QEMU failed to start: .*memory/i)
      expect(await machines()).toEqual([])
      // From here on the image is cached (by the first test, or by this create): no more downloads.
      const downloaded = downloads.good
      const cachedBefore = (await stat(cacheImage)).mtimeMs

      // A guest that never answers SSH in time: the VM is ended, nothing is left.
      const silent = await timed('silent create', () => create('qemu-silent', {'qemu-boot-timeout': '5'}))
      expect(silent.code).not.toBe(0)
      expect(silent.stderr).toMatch(/did not answer SSH within 5s/)
      expect(qemuProcessesIn(join(lab.storePath, 'machines', 'qemu-silent'))).toEqual([])
      expect(await machines()).toEqual([])

      // A create killed while the guest boots leaves a record; rm removes the process and every file.
      let pidFile = ''
      const killed = await lab.berth(
        [
          'create',
          '-d',
          'qemu',
          '--qemu-image-url',
          `${base}/good/${IMAGE}`,
          '--qemu-memory',
          '1024',
          'qemu-killed',
        ],
        {
          onSpawn: (child) => {
            pidFile = join(lab.storePath, 'machines', 'qemu-killed', 'qemu.pid')
            const poll = setInterval(() => {
              if (existsSync(pidFile)) {
                clearInterval(poll)
                child.kill('SIGKILL')
              }
            }, 200)
            child.on('close', () => clearInterval(poll))
          },
        },
      )
      expect(killed.code).toBe(137)
      expect(await machines()).toEqual(['qemu-killed'])
      // QEMU runs on (its daemonizing parent may not have exited yet: one or two processes).
      expect(qemuProcessesIn(join(lab.storePath, 'machines', 'qemu-killed')).length).toBeGreaterThan(0)
      await ok(lab.berth(['rm', '-f', '-y', 'qemu-killed']))
      expect(qemuProcessesIn(join(lab.storePath, 'machines', 'qemu-killed'))).toEqual([])
      expect(await machines()).toEqual([])

      // The later creates reused the cached image: no download, the cached file untouched.
      expect(downloads.good).toBe(downloaded)
      expect((await stat(cacheImage)).mtimeMs).toBe(cachedBefore)
      // Every failed create gave its private address back.
      const claims = join(lab.storePath, 'qemu-networks', '192.168.76.0_24')
      const holders = await Promise.all(
        (await readdir(claims).catch(() => [] as string[])).map(async (ip) =>
          (await readFile(join(claims, ip), 'utf8')).trim(),
        ),
      )
      expect(holders.filter((m) => !others.includes(m))).toEqual([])
    },
    BOOTS_TIMEOUT_MS,
  )
})
