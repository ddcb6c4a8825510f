/**
 * The Hyper-V driver end to end against the PowerShell simulator (test/sim/powershell) on PATH:
 * berth's own PowerShell command lines are parsed and run there, Start-VM boots a real lab host
 * from the seed ISO, and SSH, the engine install, TLS, `berth env` and the docker CLI are real.
 * The store's path holds spaces, a quote and a `$`, so every path crosses PowerShell quoted.
 */
import {ChildProcess, execFileSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {createServer, Server} from 'node:http'
import {existsSync} from 'node:fs'
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {localEngine} from '../../drivers/container/engine.js'
import {KVP_DAEMON_SETUP} from '../../drivers/hyperv/index.js'
import {parseJsonArrays, powerShellArgs} from '../../drivers/hyperv/powershell.js'
import {addressScript} from '../../drivers/hyperv/scripts.js'
import {DEFAULT_HOST_IMAGE, ensureHostImage} from '../../drivers/container/host-image.js'
import {busyboxTar, LAB_ENGINE, Lab, RunResult} from '../lab/lab.js'
import {ensureLabNetwork, labVmAddress, labVmPower, removeLabResources} from '../sim/lab-vm.js'
import {installPowerShellSimulator} from '../sim/powershell/install.js'
import type {SimVm} from '../sim/powershell/powershell.js'

const EXTERNAL_SWITCH = `Bob's "LAN" $uplink; x`
const IMAGE_BYTES = 8 * 1024 * 1024 + 1000 // not whole sectors: the driver pads before the footer
const DISK_MB = 64

let lab: Lab
let simBin: string
let simState: string
let simNetwork: string
let server: Server
let imageUrl: string
let image: Buffer
const machine = {name: ''}

function simEnv(faults = ''): Record<string, string> {
  return {
    PATH: `${simBin}:${process.env.PATH}`,
    HYPERV_SIM_STATE: simState,
    HYPERV_SIM_ENGINE: LAB_ENGINE,
    HYPERV_SIM_NETWORK: simNetwork,
    HYPERV_SIM_FAULTS: faults,
  }
}

function berth(args: string[], faults = ''): Promise<RunResult> {
  return lab.berth(args, {env: simEnv(faults)})
}

async function simVms(): Promise<SimVm[]> {
  const dir = join(simState, 'vms')
  if (!existsSync(dir)) return []
  return Promise.all(
    (await readdir(dir))
      .filter((f) => f.endsWith('.json'))
      .map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8')) as SimVm),
  )
}

async function simVm(name: string): Promise<SimVm> {
  const vm = (await simVms()).find((v) => v.Name === name)
  if (!vm) throw new Error(`the simulator has no VM ${name}`)
  return vm
}

async function record(name: string) {
  return JSON.parse(await readFile(join(lab.storePath, 'machines', name, 'config.json'), 'utf8'))
}

async function labGuests(): Promise<string[]> {
  const containers = await localEngine(LAB_ENGINE).listContainers({
    all: true,
    filters: JSON.stringify({label: ['io.berth.sim=hyperv', `io.berth.sim.state=${simState}`]}),
  })
  return containers.map((c) => c.Names[0]!.replace(/^\//, ''))
}

/** Cache files that are not a whole, verified image (downloads cut short). */
async function halfFiles(): Promise<string[]> {
  const images = join(lab.storePath, 'cache', 'images')
  if (!existsSync(images)) return []
  const found: string[] = []
  for (const dir of await readdir(images))
    for (const file of await readdir(join(images, dir))) if (file.endsWith('.part')) found.push(file)
  return found
}

/**
 * The network behind the simulated switches, on a /24 no other lab network uses, with one more
 * host on it: a LAN where the host's link stays up while the VM is off, so its neighbour entries
 * outlive the VM's lease as on a real switch.
 */
async function labNetwork(): Promise<string> {
  const name = `hyperv-sim-${randomBytes(3).toString('hex')}`
  const labels = {'io.berth.sim.state': simState}
  for (let attempt = 0; ; attempt++) {
    try {
      await ensureLabNetwork(LAB_ENGINE, name, `10.${77 + attempt}.${randomBytes(1)[0]}.1/24`, labels)
      break
    } catch (err) {
      if (attempt >= 5 || !/overlap/i.test(String(err))) throw err
    }
  }
  const other = await localEngine(LAB_ENGINE).createContainer({
    name: `${name}-other-host`,
    Image: DEFAULT_HOST_IMAGE,
    Entrypoint: ['sleep', 'infinity'],
    Labels: labels,
    HostConfig: {NetworkMode: name},
  })
  await other.start()
  return name
}

beforeAll(async () => {
  // Booting the first guest must not have to build the host image inside a PowerShell call.
  await ensureHostImage(localEngine(LAB_ENGINE), LAB_ENGINE, DEFAULT_HOST_IMAGE, () => {})
  lab = await Lab.create("berth hyperv O'Brien $HOME-")
  simBin = await installPowerShellSimulator()
  simState = await mkdtemp(join(tmpdir(), 'berth-hyperv-sim-'))
  simNetwork = await labNetwork()
  // The "cloud image": raw bytes served with a SHA256SUMS beside them, as cloud image mirrors do.
  image = Buffer.alloc(IMAGE_BYTES, 0)
  image.write('berth raw test disk', 0x200)
  image.write('its last bytes', IMAGE_BYTES - 14)
  const qcow2 = Buffer.concat([Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]), Buffer.alloc(1024)])
  const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')
  const sums = `${sha256(image)}  disk.raw\n${sha256(qcow2)}  disk.qcow2\n`
  server = createServer((req, res) => {
    if (req.url === '/images/disk.raw') res.end(image)
    else if (req.url === '/images/disk.qcow2') res.end(qcow2)
    else if (req.url === '/images/SHA256SUMS') res.end(sums)
    else res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  imageUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/images/disk.raw`
  machine.name = lab.name('hv')
  const created = await berth(
    [
      'create',
      '-d',
      'hyperv',
      '--hyperv-image-url',
      imageUrl,
      '--hyperv-memory',
      '1024',
      '--hyperv-cpu-count',
      '2',
      '--hyperv-disk-size',
      String(DISK_MB),
      '--hyperv-vlan-id',
      '12',
      '--hyperv-disable-dynamic-memory',
      '--hyperv-ip-timeout',
      '60',
      machine.name,
    ],
    // Not elevated, but a member of Hyper-V Administrators: enough.
    'hyperv-admins',
  )
  expect(created.code, created.stderr).toBe(0)
})

afterAll(async () => {
  server?.close()
  if (lab) {
    await berth(['rm', '-f', machine.name])
    await lab.cleanup()
  }
  if (simState) {
    await removeLabResources(LAB_ENGINE, {'io.berth.sim.state': simState})
    await rm(simState, {recursive: true, force: true})
  }
})

describe('a Hyper-V machine', () => {
  it('is a Generation 2 VM made as asked, on the External switch, booting the converted disk with the seed on DVD', async () => {
    const vm = await simVm(machine.name)
    const rec = await record(machine.name)
    const dir = join(lab.storePath, 'machines', machine.name)
    expect(vm).toMatchObject({
      Generation: 2,
      BootDevice: 'VHD',
      SecureBoot: false,
      SwitchName: EXTERNAL_SWITCH,
      MemoryStartupBytes: 1024 * 1048576,
      ProcessorCount: 2,
      DynamicMemoryEnabled: false,
      VlanId: 12,
      AutomaticCheckpointsEnabled: false,
      VHDPath: join(dir, `${machine.name}.vhdx`),
      DvdDrives: [join(dir, 'seed.iso')],
      Path: dir,
      Notes: `berth machine ${dir}`,
    })
    expect(vm.MacAddress).toBe(rec.Driver.MacAddr)
    expect(rec.Driver).toMatchObject({
      VMId: vm.Id,
      VSwitch: EXTERNAL_SWITCH,
      MemSize: 1024,
      CPU: 2,
      DiskSize: DISK_MB,
      VLanID: 12,
      DisableDynamicMemory: true,
      SSHUser: 'docker',
    })
    // A real VHDX (qemu-img made it from the VHD berth wrote, checking its footer), grown to the disk size; the VHD is gone.
    expect(
      JSON.parse(execFileSync('qemu-img', ['info', '--output', 'json', vm.VHDPath], {encoding: 'utf8'}))
        .format,
    ).toBe('vhdx')
    expect(JSON.parse(await readFile(join(simState, 'disks.json'), 'utf8'))[vm.VHDPath]).toBe(
      DISK_MB * 1048576,
    )
    expect(existsSync(join(dir, `${machine.name}.vhd`))).toBe(false)
    // The guest's disk holds the image byte for byte (then the zeros of the sector padding).
    const raw = join(simState, 'disk-readback.raw')
    execFileSync('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', vm.VHDPath, raw])
    const disk = await readFile(raw)
    expect(disk.length).toBe(Math.ceil(IMAGE_BYTES / 512) * 512)
    expect(disk.subarray(0, IMAGE_BYTES).equals(image)).toBe(true)
    expect(disk.subarray(IMAGE_BYTES).every((b) => b === 0)).toBe(true)
    expect(vm.History.slice(0, 10)).toEqual([
      'New-VM',
      'Set-VM',
      'Set-VM',
      'Set-VMFirmware',
      'Set-VMProcessor',
      'Set-VMMemory',
      'Set-VMNetworkAdapter',
      'Set-VMNetworkAdapterVlan',
      'Add-VMDvdDrive',
      'Start-VM',
    ])
  })

  it("has the guest's IPv4 address (not the link-local IPv6 Hyper-V lists first) and the seed's hostname and key", async () => {
    const rec = await record(machine.name)
    const vm = await simVm(machine.name)
    expect(rec.Driver.IPAddress).toBe(await labVmAddress(LAB_ENGINE, vm.Guest!))
    expect((await berth(['ip', machine.name])).stdout.trim()).toBe(rec.Driver.IPAddress)
    const ssh = await berth(['ssh', machine.name, '--', 'hostname; id -un; sudo -n true && echo sudo-ok'])
    expect(ssh.stdout.trim().split('\n')).toEqual([machine.name, 'docker', 'sudo-ok'])
  })

  it("got the KVP daemon from its seed, so Hyper-V itself reports the guest's address", async () => {
    const rec = await record(machine.name)
    const vm = await simVm(machine.name)
    const userData = execFileSync('isoinfo', ['-J', '-i', vm.DvdDrives[0]!, '-x', '/user-data'], {
      encoding: 'utf8',
    })
    expect(JSON.parse(userData.replace(/^#cloud-config\n/, '')).runcmd).toEqual([
      ['sh', '-c', KVP_DAEMON_SETUP],
    ])
    // The first boot ran it in the guest for real: Debian's package, its unit enabled.
    const ssh = await berth([
      'ssh',
      machine.name,
      '--',
      "dpkg-query -W -f '${Status}\\n' hyperv-daemons; systemctl is-enabled hv-kvp-daemon.service",
    ])
    expect(ssh.stdout.trim().split('\n'), ssh.stderr).toEqual(['install ok installed', 'enabled'])
    const answer = execFileSync(
      join(simBin, 'powershell.exe'),
      powerShellArgs(addressScript(vm.Id, rec.Driver.MacAddr.match(/../g).join('-'))),
      {encoding: 'utf8', env: {...process.env, ...simEnv()}},
    )
    const [, adapters] = parseJsonArrays(answer, 3, 'the address query') as [
      unknown[],
      Array<{IPAddresses: string[]}>,
    ]
    expect(adapters[0]!.IPAddresses).toContain(rec.Driver.IPAddress)
  })

  it("finds the address in the host's neighbour table when the guest reports none (no KVP daemon)", async () => {
    const rec = await record(machine.name)
    const ip = await berth(['ip', machine.name], 'no-kvp')
    expect(ip.code, ip.stderr).toBe(0)
    expect(ip.stdout.trim()).toBe(rec.Driver.IPAddress)
  })

  it('runs containers through the real docker CLI configured by `berth env`', async () => {
    const env = {...(await lab.dockerEnv(machine.name, simEnv()))}
    const docker = (args: string[], input?: Buffer) => lab.docker(machine.name, args, input, simEnv())
    expect(env.DOCKER_CERT_PATH).toContain("O'Brien $HOME")
    expect(
      (await docker(['import', '-c', 'CMD ["/bin/sh"]', '-', 'busybox:e2e'], await busyboxTar())).code,
    ).toBe(0)
    const result = await docker(['run', '--rm', 'busybox:e2e', '/bin/busybox', 'echo', 'hello from hyper-v'])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.trim()).toBe('hello from hyper-v')
    const info = await docker(['info', '--format', '{{json .Labels}}'])
    expect(JSON.parse(info.stdout)).toContain('provider=hyperv')
  })

  it('stop, start (address from the neighbour table), kill and restart change the VM and the guest', async () => {
    const status = async () => (await berth(['status', machine.name])).stdout.trim()
    const guest = (await simVm(machine.name)).Guest!
    expect((await berth(['stop', machine.name])).code).toBe(0)
    expect(await status()).toBe('Stopped')
    expect(await labVmPower(LAB_ENGINE, guest)).toBe('stopped')
    // Started again, the guest gets a new lease; the host still has an entry with the VM's MAC for the
    // old address, where nothing answers now. The address must come from the new entry.
    const before = (await record(machine.name)).Driver
    const started = await berth(['start', machine.name], 'no-kvp,new-lease')
    expect(started.code, started.stderr).toBe(0)
    expect(await status()).toBe('Running')
    const now = await labVmAddress(LAB_ENGINE, guest)
    expect(now).not.toBe(before.IPAddress)
    expect((await record(machine.name)).Driver.IPAddress).toBe(now)
    // The driver was shown both entries, the stale one for the old address among them.
    expect((await simVm(machine.name)).NeighbourAnswers).toContainEqual(
      expect.arrayContaining([before.IPAddress, now]),
    )
    expect(
      (await lab.docker(machine.name, ['info', '--format', '{{.Name}}'], undefined, simEnv())).stdout.trim(),
    ).toBe(machine.name)
    expect((await berth(['kill', machine.name])).code).toBe(0)
    expect(await status()).toBe('Stopped')
    const restarted = await berth(['restart', machine.name])
    expect(restarted.code, restarted.stderr).toBe(0)
    expect(await status()).toBe('Running')
    expect((await simVm(machine.name)).History.slice(10)).toEqual([
      'Stop-VM',
      'Start-VM',
      'Stop-VM -TurnOff',
      'Stop-VM',
      'Start-VM',
    ])
    expect(
      (await lab.docker(machine.name, ['version', '--format', '{{.Server.Version}}'], undefined, simEnv()))
        .code,
    ).toBe(0)
  })

  it('rm removes the VM, its guest, its disk and its folder', async () => {
    const vm = await simVm(machine.name)
    const removed = await berth(['rm', '-y', machine.name])
    expect(removed.code, removed.stderr).toBe(0)
    expect((await simVms()).map((v) => v.Name)).not.toContain(machine.name)
    expect(await labVmPower(LAB_ENGINE, vm.Guest!)).toBe('gone')
    expect(existsSync(vm.VHDPath)).toBe(false)
    expect(existsSync(join(lab.storePath, 'machines', machine.name))).toBe(false)
  })
})

describe('faults', () => {
  const create = (name: string, faults: string, options: Record<string, string> = {}) => {
    const flags = {
      '--hyperv-image-url': imageUrl,
      '--hyperv-disk-size': String(DISK_MB),
      '--hyperv-ip-timeout': '5',
      ...options,
    }
    return berth(['create', '-q', '-d', 'hyperv', ...Object.entries(flags).flat(), name], faults)
  }

  it('fail with one line, within the deadline, and leave no VM, guest, disk, machine or half-downloaded image', async () => {
    const cases = [
      {
        faults: 'not-admin',
        code: 3,
        message:
          /neither an elevated Administrator nor a member of Hyper-V Administrators.*Add-LocalGroupMember -SID S-1-5-32-578/,
      },
      {
        faults: 'no-module',
        code: 3,
        message: /Hyper-V PowerShell module is not installed.*Enable-WindowsOptionalFeature/,
      },
      {faults: 'no-switch', code: 3, message: /no External switch and no Default Switch.*New-VMSwitch/},
      {
        faults: '',
        code: 3,
        message: /no virtual switch named "Nope".*Default Switch/,
        options: {'--hyperv-virtual-switch': 'Nope'},
      },
      {
        faults: 'convert-fails',
        code: 1,
        message: /Hyper-V\\Convert-VHD failed: Failed to convert the virtual disk/,
      },
      {
        faults: 'no-ip',
        code: 5,
        message:
          /got no usable IP address within 5s \(Hyper-V reports none and the neighbour table has no entry for [0-9A-F-]{17}\)/,
      },
    ]
    const results = await Promise.all(
      cases.map(async (c) => {
        const started = Date.now()
        const result = await create(lab.name('hvf'), c.faults, c.options)
        return {c, result, seconds: (Date.now() - started) / 1000}
      }),
    )
    for (const {c, result, seconds} of results) {
      // The 5 s IP deadline plus the create around it, on a shared machine running all six at once (31 s seen
      // in CI beside other suites): far below the 300 s default, which is what this bound tells apart.
      expect(seconds, c.faults).toBeLessThan(90)
      expect(result.code, `${c.faults}: ${result.stderr}`).toBe(c.code)
      expect(result.stderr.trim().split('\n'), c.faults).toHaveLength(1)
      expect(result.stderr, c.faults).toMatch(c.message)
    }
    expect(await simVms()).toEqual([])
    expect(await labGuests()).toEqual([])
    expect(await readdir(join(lab.storePath, 'machines')).catch(() => [])).toEqual([])
    expect(await halfFiles()).toEqual([])
  })

  it("rm removes the VM of a create killed before it recorded the VM's id (found by name and notes), on a Hyper-V without automatic checkpoints", async () => {
    const name = lab.name('hvk')
    let child: ChildProcess | undefined
    // Windows 10 before 1709 / Server 2016: Set-VM has no -AutomaticCheckpointsEnabled, and the VM must still get its notes.
    const killed = lab.berth(
      [
        'create',
        '-q',
        '-d',
        'hyperv',
        '--hyperv-image-url',
        imageUrl,
        '--hyperv-disk-size',
        String(DISK_MB),
        name,
      ],
      {env: simEnv('start-hangs,pre-1709'), onSpawn: (c) => (child = c)},
    )
    for (
      const until = Date.now() + 60_000;
      !(await simVms()).some((v) => v.Name === name && v.History.includes('Add-VMDvdDrive'));
    ) {
      if (Date.now() > until) throw new Error('the VM never got configured')
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    child!.kill('SIGKILL')
    await killed
    expect((await record(name)).Driver.VMId).toBe('')
    const made = await simVm(name)
    expect(made.Notes).toBe(`berth machine ${join(lab.storePath, 'machines', name)}`)
    expect(made).not.toHaveProperty('AutomaticCheckpointsEnabled')
    const vhdx = made.VHDPath
    const removed = await berth(['rm', '-f', name])
    expect(removed.code, removed.stderr).toBe(0)
    expect(await simVms()).toEqual([])
    expect(existsSync(vhdx)).toBe(false)
  })

  it('without PowerShell the pre-create check says so', async () => {
    const result = await lab.berth(['create', '-q', '-d', 'hyperv', lab.name('hvn')], {
      env: {PATH: process.env.PATH},
    })
    expect(result.code).toBe(3)
    expect(result.stderr.trim()).toMatch(
      /^Error: pre-create check of the hyperv driver failed: PowerShell was not found \(powershell.exe or pwsh on PATH\) \(.*\)$/,
    )
  })

  it('a disk smaller than the image, or an image that is not raw, is refused before any VM exists', async () => {
    const small = await create(lab.name('hvs'), '', {'--hyperv-disk-size': '4'})
    expect(small.code).toBe(2)
    expect(small.stderr).toMatch(/--hyperv-disk-size 4 MB is smaller than the image \(9 MB\)/)
    const qcow2 = await create(lab.name('hvq'), '', {
      '--hyperv-image-url': imageUrl.replace('disk.raw', 'disk.qcow2'),
    })
    expect(qcow2.code).toBe(2)
    expect(qcow2.stderr).toMatch(
      /the image is a qcow2 image, not a raw disk \(pass --hyperv-image-url of a raw image/,
    )
    expect(await simVms()).toEqual([])
    expect(await readdir(join(lab.storePath, 'machines'))).toEqual([])
  })
})
