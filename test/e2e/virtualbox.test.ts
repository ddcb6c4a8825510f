/**
 * The virtualbox driver end to end against the VBoxManage simulator (test/sim/vboxmanage), whose
 * `startvm` boots a real lab host from the seed ISO berth wrote: SSH, the engine install, TLS and
 * the docker CLI through `berth env` then run for real. The images are small fake files served
 * over local HTTP with their SHA256SUMS or SHA512SUMS (the simulator boots a lab host, not the
 * image): a vmdk that is cloned, and raw ones (Debian's kind) that convertfromraw turns into a VDI.
 */
import {execFileSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {createServer, Server} from 'node:http'
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import {existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {virtualboxDriver} from '../../drivers/virtualbox/index.js'
import {imageCacheDir} from '../../src/core/vm/image-cache.js'
import {busyboxTar, LAB_ENGINE, Lab, labDocker, RunResult} from '../lab/lab.js'
import type {SimulatorOptions} from '../sim/vboxmanage/harness.js'
import {
  buildSimulator,
  readSimState,
  removeSimulatorResources,
  simCalls,
  simulatorEnv,
} from '../sim/vboxmanage/harness.js'
import {simLabel} from '../sim/vboxmanage/state.js'

let lab: Lab
let stateDir: string
let server: Server
let imageUrl: string
let badImageUrl: string
let rawImageUrl: string
let oddRawImageUrl: string
const hits: Record<string, number> = {}
const image = randomBytes(2 * 1024 * 1024)
const rawImage = randomBytes(2 * 1024 * 1024 + 3 * 512)
// A random /24 inside VirtualBox's allowed 192.168.56.0/21, so leftovers of other runs do not collide.
const subnet = 56 + Math.floor(Math.random() * 8)
const cidr = `192.168.${subnet}.1/24`
const a = {name: ''}
const b = {name: ''}
let created: {a: RunResult; b: RunResult}

function sim(options: Omit<SimulatorOptions, 'engine'> = {}) {
  return simulatorEnv(stateDir, {engine: LAB_ENGINE, ...options})
}

function vbCreate(
  name: string,
  flags: string[],
  options: Omit<SimulatorOptions, 'engine'> = {},
  url = imageUrl,
): Promise<RunResult> {
  return lab.berth(['create', '-d', 'virtualbox', '--virtualbox-image-url', url, ...flags, name], {
    env: sim(options),
  })
}

function vbBerth(args: string[], options: Omit<SimulatorOptions, 'engine'> = {}): Promise<RunResult> {
  return lab.berth(args, {env: sim(options)})
}

async function record(name: string) {
  return JSON.parse(await readFile(join(lab.storePath, 'machines', name, 'config.json'), 'utf8'))
}

/** The lab host standing for a VM: its container status, or "gone". */
async function labHost(vmName: string): Promise<string> {
  const result = await labDocker([
    'inspect',
    '--format',
    '{{.State.Status}}',
    `vboxsim-${simLabel(stateDir)}-${vmName}`,
  ])
  return result.code === 0 ? result.stdout.trim() : 'gone'
}

/** The last stderr line, which must be the only error line. */
function errorLine(result: RunResult): string {
  const lines = result.stderr.trim().split('\n')
  expect(
    lines.filter((l) => l.startsWith('Error:')),
    result.stderr,
  ).toHaveLength(1)
  return lines.at(-1)!
}

/** Nothing of a failed create is left: no VM, no medium of its folder, no lab host, no machine folder. */
async function expectNothingLeft(name: string): Promise<void> {
  const state = readSimState(stateDir)
  expect(Object.keys(state.vms)).not.toContain(name)
  const machineDir = join(lab.storePath, 'machines', name)
  expect(Object.keys(state.media).filter((path) => path.startsWith(machineDir))).toEqual([])
  expect(existsSync(machineDir)).toBe(false)
  expect(await labHost(name)).toBe('gone')
}

async function mapLimit<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  await Promise.all(
    Array.from({length: limit}, async () => {
      while (next < items.length) {
        const i = next++
        results[i] = await work(items[i]!)
      }
    }),
  )
  return results
}

beforeAll(async () => {
  await buildSimulator()
  lab = await Lab.create()
  stateDir = await mkdtemp(join(tmpdir(), 'berth-vboxsim-'))
  const sha = createHash('sha256').update(image).digest('hex')
  const sha512 = (data: Buffer) => createHash('sha512').update(data).digest('hex')
  const oddRaw = rawImage.subarray(0, rawImage.length - 100) // not whole sectors
  const routes: Record<string, Buffer | string> = {
    '/bookworm/fake-genericcloud.raw': rawImage,
    '/bookworm/odd-genericcloud.raw': oddRaw,
    '/bookworm/SHA512SUMS': `${sha512(rawImage)}  fake-genericcloud.raw\n${sha512(oddRaw)}  odd-genericcloud.raw\n`,
    '/noble/fake-cloudimg.vmdk': image,
    '/noble/SHA256SUMS': `${sha} *fake-cloudimg.vmdk\n`,
    '/tampered/fake-cloudimg.vmdk': Buffer.concat([image, Buffer.from('tampered')]),
    '/tampered/SHA256SUMS': `${sha} *fake-cloudimg.vmdk\n`,
  }
  server = createServer((req, res) => {
    const body = routes[req.url ?? '']
    hits[req.url ?? ''] = (hits[req.url ?? ''] ?? 0) + 1
    if (body === undefined) res.writeHead(404).end()
    else res.end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as {port: number}).port
  imageUrl = `http://127.0.0.1:${port}/noble/fake-cloudimg.vmdk`
  badImageUrl = `http://127.0.0.1:${port}/tampered/fake-cloudimg.vmdk`
  rawImageUrl = `http://127.0.0.1:${port}/bookworm/fake-genericcloud.raw`
  oddRawImageUrl = `http://127.0.0.1:${port}/bookworm/odd-genericcloud.raw`
  a.name = lab.name('vba')
  b.name = lab.name('vbb')
  // a: VirtualBox 7 with a host-only NIC, some transient "not ready" answers on the way;
  // b: VirtualBox 6.1 without one (the engine forwarded to 127.0.0.1). Both at once: one download.
  const [ra, rb] = await Promise.all([
    vbCreate(
      a.name,
      ['--virtualbox-hostonly-cidr', cidr, '--virtualbox-memory', '1024', '--virtualbox-stop-timeout', '3'],
      {notReady: 'startvm:2,storageattach:1'},
    ),
    vbCreate(
      b.name,
      ['--virtualbox-no-hostonly', '--virtualbox-cpu-count', '1', '--virtualbox-nat-nictype', '82540EM'],
      {version: '6.1.50r161033'},
    ),
  ])
  created = {a: ra, b: rb}
})

afterAll(async () => {
  if (lab) {
    await vbBerth(['rm', '-f', '-y', a.name, b.name])
    await lab.cleanup()
  }
  server?.close()
  if (stateDir) {
    await removeSimulatorResources(stateDir, LAB_ENGINE)
    await rm(stateDir, {recursive: true, force: true})
  }
})

describe('virtualbox machines on the simulator', () => {
  it('creates machines that the real docker CLI reaches through `berth env`', async () => {
    expect(created.a.code, created.a.stderr).toBe(0)
    expect(created.b.code, created.b.stderr).toBe(0)
    const busybox = await busyboxTar()
    for (const machine of [a, b]) {
      const load = await lab.docker(
        machine.name,
        ['import', '-c', 'CMD ["/bin/sh"]', '-', 'busybox:e2e'],
        busybox,
        sim(),
      )
      expect(load.code, load.stderr).toBe(0)
      const run = await lab.docker(
        machine.name,
        ['run', '--rm', 'busybox:e2e', '/bin/busybox', 'echo', `hi from ${machine.name}`],
        undefined,
        sim(),
      )
      expect(run.stdout.trim()).toBe(`hi from ${machine.name}`)
      const info = await lab.docker(
        machine.name,
        ['info', '--format', '{{.Name}} {{json .Labels}}'],
        undefined,
        sim(),
      )
      expect(info.stdout).toContain(`${machine.name} `)
      expect(info.stdout).toContain('provider=virtualbox')
    }
    // The image was downloaded once for both, verified, and kept in the cache.
    expect(hits['/noble/fake-cloudimg.vmdk']).toBe(1)
    const cached = await readFile(
      join(imageCacheDir(join(lab.storePath, 'cache'), imageUrl), 'fake-cloudimg.vmdk'),
    )
    expect(cached.equals(image)).toBe(true)
  })

  it('reaches the engine on the host-only address read from the NIC with the seeded MAC, SSH through the NAT forward', async () => {
    const rec = await record(a.name)
    const vm = readSimState(stateDir).vms[a.name]!
    expect(rec.Driver.IPAddress).toMatch(new RegExp(`^192\\.168\\.${subnet}\\.(1[0-9][0-9]|2[0-5][0-9])$`)) // the DHCP range .101-.254
    expect(rec.Driver.IPAddress).toBe(vm.lease)
    expect((await vbBerth(['url', a.name])).stdout.trim()).toBe(`tcp://${rec.Driver.IPAddress}:2376`)
    expect(vm.settings).toMatchObject({
      cpus: '2',
      memory: '1024',
      nic1: 'nat',
      nictype1: 'virtio',
      nic2: 'hostonly',
      hostonlyadapter2: rec.Driver.HostOnlyAdapter,
      macaddress1: rec.Driver.NatMAC.replace(/:/g, '').toUpperCase(),
      macaddress2: rec.Driver.HostOnlyMAC.replace(/:/g, '').toUpperCase(),
      'audio-enabled': 'off',
      uart1: '0x03f8,4',
    })
    expect(vm.natpf['1']).toEqual([`ssh,tcp,127.0.0.1,${rec.Driver.SSHPort},,22`])
    const state = readSimState(stateDir)
    expect(state.hostonlyifs.find((i) => i.name === rec.Driver.HostOnlyAdapter)).toMatchObject({
      ip: `192.168.${subnet}.1`,
      mask: '255.255.255.0',
    })
    expect(
      state.dhcpservers.find((d) => d.network === `HostInterfaceNetworking-${rec.Driver.HostOnlyAdapter}`),
    ).toMatchObject({lower: `192.168.${subnet}.101`})
    const dir = join(lab.storePath, 'machines', a.name)
    expect(vm.attachments).toEqual({'SATA-0-0': join(dir, 'disk.vdi'), 'SATA-1-0': join(dir, 'seed.iso')})
    expect(state.media[join(dir, 'disk.vdi')]).toMatchObject({type: 'disk', sizeMb: 20000})
    const ssh = await vbBerth(['ssh', a.name, 'whoami; hostname; sudo -n true && echo sudo-ok'])
    expect(ssh.stdout.trim().split('\n')).toEqual(['docker', a.name, 'sudo-ok'])
    expect(rec.Driver.SSHUser).toBe('docker')
    expect(rec.Berth.SSHHostKey).toBe(rec.Driver.GuestHostKey)
  })

  it('writes a seed ISO that isoinfo and blkid read: cidata, the machine key and hostname, NICs by MAC', async () => {
    const dir = join(lab.storePath, 'machines', a.name)
    const iso = join(dir, 'seed.iso')
    expect(execFileSync('blkid', ['-s', 'LABEL', '-o', 'value', iso], {encoding: 'utf8'}).trim()).toBe(
      'cidata',
    )
    const userData = execFileSync('isoinfo', ['-J', '-i', iso, '-x', '/user-data'], {encoding: 'utf8'})
    const config = JSON.parse(userData.replace(/^#cloud-config\n/, ''))
    expect(config.hostname).toBe(a.name)
    expect(config).not.toHaveProperty('runcmd') // the KVP daemon is Hyper-V's
    expect(config.users[0].ssh_authorized_keys).toEqual([
      (await readFile(join(dir, 'id_ed25519.pub'), 'utf8')).trim(),
    ])
    const rec = await record(a.name)
    const network = JSON.parse(
      execFileSync('isoinfo', ['-J', '-i', iso, '-x', '/network-config'], {encoding: 'utf8'}),
    )
    expect(
      Object.values(network.ethernets).map((e) => (e as {match: {macaddress: string}}).match.macaddress),
    ).toEqual([rec.Driver.NatMAC, rec.Driver.HostOnlyMAC])
  })

  it('ran VBoxManage with argv arrays under LANG=C, retrying "object is not ready"', () => {
    const calls = simCalls(stateDir)
    expect(calls.every((c) => c.lang === 'C' && c.lcAll === 'C')).toBe(true)
    const startvm = calls.filter((c) => c.argv[0] === 'startvm' && c.argv[1] === a.name)
    expect(startvm.length).toBe(3) // two "not ready" answers, then the start
    expect(startvm[0]!.argv).toEqual(['startvm', a.name, '--type', 'headless'])
    const order = calls
      .filter((c) => c.argv.includes(a.name) || c.argv.some((x) => x.includes(`/${a.name}/`)))
      .map((c) => c.argv[0])
    const firstOf = (sub: string) => order.indexOf(sub)
    expect(firstOf('clonemedium')).toBeLessThan(firstOf('createvm'))
    expect(firstOf('createvm')).toBeLessThan(firstOf('modifyvm'))
    expect(firstOf('storageattach')).toBeLessThan(firstOf('startvm'))
  })

  it('uses VirtualBox 6 options and forwards the engine to 127.0.0.1 without a host-only NIC', async () => {
    const rec = await record(b.name)
    const vm = readSimState(stateDir).vms[b.name]!
    expect(rec.Driver.IPAddress).toBe('127.0.0.1')
    expect(rec.Berth.EnginePort).toBe(rec.Driver.EnginePort)
    expect((await vbBerth(['url', b.name])).stdout.trim()).toBe(`tcp://127.0.0.1:${rec.Driver.EnginePort}`)
    expect(vm.settings).toMatchObject({audio: 'none', nictype1: '82540EM', cpus: '1'})
    expect(vm.settings.nic2).toBeUndefined()
    expect(vm.natpf['1']).toEqual([
      `ssh,tcp,127.0.0.1,${rec.Driver.SSHPort},,22`,
      `docker,tcp,127.0.0.1,${rec.Driver.EnginePort},,${rec.Driver.EnginePort}`,
    ])
  })

  it('stops with the ACPI button, starts, kills, and powers off a VM that ignores ACPI after the deadline', async () => {
    const status = async () => (await vbBerth(['status', a.name])).stdout.trim()

    expect((await vbBerth(['stop', a.name])).code).toBe(0)
    expect(readSimState(stateDir).vms[a.name]!.state).toBe('poweroff')
    expect(await labHost(a.name)).toBe('exited')
    expect(await status()).toBe('Stopped')

    const started = await vbBerth(['start', a.name])
    expect(started.code, started.stderr).toBe(0)
    expect(readSimState(stateDir).vms[a.name]!.state).toBe('running')
    expect(await status()).toBe('Running')
    expect(
      (await lab.docker(a.name, ['version', '--format', '{{.Server.Version}}'], undefined, sim())).code,
    ).toBe(0)

    const before = simCalls(stateDir).length
    expect((await vbBerth(['kill', a.name])).code).toBe(0)
    expect(
      simCalls(stateDir)
        .slice(before)
        .map((c) => c.argv.slice(0, 3)),
    ).toContainEqual(['controlvm', a.name, 'poweroff'])
    expect(await status()).toBe('Stopped')

    expect((await vbBerth(['start', a.name])).code).toBe(0)
    const mark = simCalls(stateDir).length
    const started2 = Date.now()
    const stopped = await vbBerth(['stop', a.name], {ignoreAcpi: true})
    expect(stopped.code, stopped.stderr).toBe(0)
    expect(Date.now() - started2).toBeGreaterThanOrEqual(3000)
    const controls = simCalls(stateDir)
      .slice(mark)
      .filter((c) => c.argv[0] === 'controlvm')
      .map((c) => c.argv[2])
    expect(controls).toEqual(['acpipowerbutton', 'poweroff'])
    expect(await status()).toBe('Stopped')
  })

  it('removes the VM, its disk and lab host on rm, keeping the shared image cache', async () => {
    const dir = join(lab.storePath, 'machines', b.name)
    expect((await vbBerth(['rm', '-y', b.name])).code).toBe(0)
    await expectNothingLeft(b.name)
    expect(existsSync(dir)).toBe(false)
    expect(
      existsSync(join(imageCacheDir(join(lab.storePath, 'cache'), imageUrl), 'fake-cloudimg.vmdk')),
    ).toBe(true)
    expect((await vbBerth(['status', b.name])).code).toBe(4)
  })
})

describe('virtualbox driver with VirtualBox 7 host-only networks and a raw image', () => {
  it('converts the raw image with convertfromraw, creates a hostonlynet, boots, reports its address and state, and removes the VM', async () => {
    const saved = {...process.env}
    for (const [key, value] of Object.entries(sim({version: '7.1.4r165100'})))
      if (value !== undefined) process.env[key] = value
    const dir = await mkdtemp(join(tmpdir(), 'berth-vbnet-'))
    const name = lab.name('vbn')
    const context = {machineName: name, machineDir: dir, storePath: lab.storePath, log: () => {}}
    const net = `192.168.${56 + ((subnet - 56 + 4) % 8)}`
    try {
      const state = await virtualboxDriver.configure(
        {
          'virtualbox-hostonly-style': 'network',
          'virtualbox-hostonly-cidr': `${net}.1/24`,
          'virtualbox-image-url': rawImageUrl,
          'virtualbox-image-checksum': new URL('SHA512SUMS', rawImageUrl).toString(),
        },
        context,
      )
      const driver = virtualboxDriver.load(state, context)
      try {
        await driver.preCreateCheck()
        const mark = simCalls(stateDir).length
        await driver.create()
        // Debian's kind of image: verified against SHA512SUMS, cached, converted (not cloned) into a real VDI
        // holding its bytes; the cached file stays out of VirtualBox's media registry.
        const cached = join(imageCacheDir(join(lab.storePath, 'cache'), rawImageUrl), 'fake-genericcloud.raw')
        const disk = join(dir, 'disk.vdi')
        const media = simCalls(stateDir)
          .slice(mark)
          .map((c) => c.argv)
          .filter((argv) => ['convertfromraw', 'clonemedium', 'closemedium'].includes(argv[0]!))
        expect(media).toEqual([['convertfromraw', cached, disk, '--format', 'VDI']])
        expect(
          JSON.parse(execFileSync('qemu-img', ['info', '--output', 'json', disk], {encoding: 'utf8'})).format,
        ).toBe('vdi')
        expect(
          execFileSync('qemu-img', ['compare', '-f', 'raw', '-F', 'vdi', cached, disk], {encoding: 'utf8'}),
        ).toContain('Images are identical')
        expect((await readFile(cached)).equals(rawImage)).toBe(true)
        const simState = readSimState(stateDir)
        expect(simState.media[cached]).toBeUndefined()
        expect(simState.media[disk]).toMatchObject({type: 'disk', sizeMb: 20000})
        expect(simState.vms[name]!.settings).toMatchObject({
          nic2: 'hostonlynet',
          'host-only-net2': state.HostOnlyAdapter,
        })
        expect(simState.hostonlynets.find((n) => n.name === state.HostOnlyAdapter)).toMatchObject({
          mask: '255.255.255.0',
          lower: `${net}.101`,
        })
        expect(await driver.getIP()).toBe(simState.vms[name]!.lease)
        expect(await driver.getState()).toBe('Running')
        await driver.kill()
        expect(await driver.getState()).toBe('Stopped')
      } finally {
        await driver.remove()
      }
      expect(await driver.getState()).toBe('NotFound')
      expect(await labHost(name)).toBe('gone')
      expect((await readdir(dir)).sort()).toEqual(['id_ed25519', 'id_ed25519.pub'])
    } finally {
      process.env = saved
      await rm(dir, {recursive: true, force: true})
    }
  })
})

describe('virtualbox faults', () => {
  it('fails pre-create checks when VirtualBox is missing or too old (exit 3), and refuses bad flags (exit 2)', async () => {
    const missing = await lab.berth(['create', '-d', 'virtualbox', lab.name('vbm')], {
      env: {...sim(), PATH: '/usr/bin:/bin', VBOX_INSTALL_PATH: '/nonexistent'},
    })
    expect(missing.code).toBe(3)
    expect(errorLine(missing)).toMatch(
      /VirtualBox is not installed: VBoxManage is neither on PATH nor in VBOX_INSTALL_PATH/,
    )
    const old = await vbCreate(lab.name('vbo'), [], {version: '5.2.44r139111'})
    expect(old.code).toBe(3)
    expect(errorLine(old)).toContain('VirtualBox 5.2.44r139111 is too old: berth needs 6.1 or later')
    const outside = await vbCreate(lab.name('vbc'), ['--virtualbox-hostonly-cidr', '192.168.99.1/24'])
    expect(outside.code).toBe(2)
    expect(errorLine(outside)).toContain(
      '192.168.99.1/24 is outside the host-only ranges VirtualBox allows (192.168.56.0/21)',
    )
    expect((await readdir(join(lab.storePath, 'machines'))).sort()).toEqual([a.name].sort())
  })

  it('refuses an image whose checksum does not match, leaving no VM and no cache file', async () => {
    const name = lab.name('vbk')
    const result = await vbCreate(name, ['--virtualbox-hostonly-cidr', cidr], {}, badImageUrl)
    expect(result.code).toBe(1)
    expect(errorLine(result)).toMatch(
      /^Error: checksum mismatch for http:\/\/127\.0\.0\.1:\d+\/tampered\/fake-cloudimg\.vmdk: .*SHA256SUMS says sha256 [0-9a-f]{64}, the download has [0-9a-f]{64}/,
    )
    await expectNothingLeft(name)
    expect(
      (await readdir(imageCacheDir(join(lab.storePath, 'cache'), badImageUrl))).filter(
        (f) => !f.startsWith('.lock'),
      ),
    ).toEqual([])
  })

  it('cleans up after a VBoxManage error at each step, with a one-line error', async () => {
    // Other subnets for the steps that only run when a new host-only adapter is made.
    const fresh = (offset: number) => `192.168.${56 + ((subnet - 56 + offset) % 8)}.1/24`
    // `message` for a real refusal: convertfromraw takes only whole 512-byte sectors.
    const steps: Array<{fail: string; cidr?: string; url?: string; message?: RegExp}> = [
      {fail: 'clonemedium'},
      {fail: 'modifymedium'},
      {fail: 'createvm'},
      {fail: 'modifyvm:--cpus'},
      {fail: 'storagectl'},
      {fail: 'storageattach:dvddrive'},
      {fail: 'modifyvm:--natpf1'},
      {fail: 'hostonlyif', cidr: fresh(1)},
      {fail: 'hostonlyif:ipconfig', cidr: fresh(3)},
      {fail: 'dhcpserver', cidr: fresh(2)},
      {fail: 'modifyvm:--nic2'},
      {fail: 'startvm'},
      {fail: 'storagectl@0'},
      {fail: 'convertfromraw', url: rawImageUrl},
      {
        fail: '',
        url: oddRawImageUrl,
        message:
          /^Error: VBoxManage convertfromraw failed: VD: The given disk size 2098588 is not aligned on a sector boundary \(512 bytes\)/,
      },
    ]
    const results = await mapLimit(steps, 4, async (step) => {
      const name = lab.name('vbf')
      const image = step.url
        ? ['--virtualbox-image-checksum', new URL('SHA512SUMS', step.url).toString()]
        : []
      const result = await vbCreate(
        name,
        ['--virtualbox-hostonly-cidr', step.cidr ?? cidr, ...image],
        {fail: step.fail || undefined},
        step.url,
      )
      return {step, name, result}
    })
    for (const {step, name, result} of results) {
      const sub = step.fail.split(/[:@]/)[0]!
      expect(result.code, `${step.fail}: ${result.stderr}`).toBe(1)
      expect(errorLine(result), step.fail).toMatch(
        step.message ?? new RegExp(`^Error: VBoxManage ${sub} failed: The simulated host refused ${sub}`),
      )
      await expectNothingLeft(name)
    }
    // Host-only adapters are shared and stay, but none is left without the address it was made for.
    const adapters = readSimState(stateDir)
      .hostonlyifs.map((i) => `${i.ip}/24`)
      .sort()
    expect(adapters).toEqual([cidr, fresh(2)].sort())
  })

  it('gives up on a VM that never gets an IP within the boot timeout, removing it', async () => {
    const name = lab.name('vbi')
    const started = Date.now()
    // Long enough for the guest's sshd to answer, so the driver sees the NIC without an address.
    const result = await vbCreate(
      name,
      ['--virtualbox-hostonly-cidr', cidr, '--virtualbox-boot-timeout', '12'],
      {noIp: true},
    )
    expect(result.code).toBe(5)
    expect(errorLine(result)).toMatch(
      new RegExp(
        `^Error: VM ${name} got no host-only IP address within 12s \\(no IPv4 address on the NIC with MAC 08:00:27(:[0-9a-f]{2}){3}\\) \\(the guest did not bring up its host-only NIC`,
      ),
    )
    expect(Date.now() - started).toBeLessThan(40_000)
    await expectNothingLeft(name)
  })
})
