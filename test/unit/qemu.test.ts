/** The qemu driver's pure parts: argv building, the accelerator choice, the QMP client, console host keys, flags. */
import {generateKeyPairSync} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import {createServer, Server, Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {candidateAccelerators, chooseAccelerator, probeArgs, probeFirmware} from '../../drivers/qemu/accel.js'
import type {Accelerator} from '../../drivers/qemu/accel.js'
import {optionValue, overlayArgs, qemuArgs} from '../../drivers/qemu/args.js'
import {consoleHostKeys, pickHostKey} from '../../drivers/qemu/console.js'
import {hostArch, IMAGES, installHint, qemuDriver} from '../../drivers/qemu/index.js'
import type {QemuState} from '../../drivers/qemu/index.js'
import {QmpClient, withQmp} from '../../drivers/qemu/qmp.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-qemu-unit-'))
})
afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

const paths = {
  disk: '/m/disk.qcow2',
  seed: '/m/seed.img',
  qmp: '/m/qmp.sock',
  pid: '/m/qemu.pid',
  serialLog: '/m/serial.log',
}
const machine = {
  name: 'vm1',
  arch: 'x86_64' as const,
  accel: 'tcg' as const,
  cpus: 2,
  memoryMb: 1024,
  mac: '52:54:00:12:34:56',
  sshPort: 40022,
  enginePort: 40376,
}

/** The value of each occurrence of a flag. */
const values = (args: string[], flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []))

describe('qemu arguments', () => {
  it('boots the overlay first, the seed as a read-only virtio disk, and forwards SSH and the engine from 127.0.0.1 only', () => {
    const args = qemuArgs(machine, paths, true)
    expect(values(args, '-machine')).toEqual(['q35'])
    expect(values(args, '-accel')).toEqual(['tcg'])
    expect(values(args, '-cpu')).toEqual(['max'])
    expect(values(args, '-drive')).toEqual([
      'file=/m/disk.qcow2,if=none,id=disk0,format=qcow2,discard=unmap',
      'file=/m/seed.img,if=none,id=seed,format=raw,readonly=on',
    ])
    expect(values(args, '-device')).toContain('virtio-blk-pci,drive=disk0,bootindex=0')
    expect(values(args, '-device')).toContain('virtio-blk-pci,drive=seed')
    expect(values(args, '-netdev')).toEqual([
      'user,id=net0,hostfwd=tcp:127.0.0.1:40022-:22,hostfwd=tcp:127.0.0.1:40376-:40376',
    ])
    expect(values(args, '-device')).toContain('virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56')
    expect(values(args, '-qmp')).toEqual(['unix:/m/qmp.sock,server=on,wait=off'])
    expect(values(args, '-chardev')).toEqual(['file,id=serial0,path=/m/serial.log'])
    expect(values(args, '-pidfile')).toEqual(['/m/qemu.pid'])
    expect(args).toContain('-daemonize')
    expect(args).not.toContain('-kernel')
    expect(values(args, '-display')).toEqual(['none'])
  })

  it('uses the host CPU under a hypervisor, the virt machine and UEFI firmware on aarch64, and no -daemonize on Windows', () => {
    const args = qemuArgs(
      {...machine, arch: 'aarch64', accel: 'hvf'},
      {...paths, firmware: '/fw/edk2-aarch64-code.fd'},
      false,
    )
    expect(values(args, '-machine')).toEqual(['virt'])
    expect(values(args, '-cpu')).toEqual(['host'])
    expect(values(args, '-bios')).toEqual(['/fw/edk2-aarch64-code.fd'])
    expect(args).not.toContain('-daemonize')
  })

  it('doubles commas in paths, so a folder named a,b=c cannot add options', () => {
    expect(optionValue('/tmp/a,readonly=off,b')).toBe('/tmp/a,,readonly=off,,b')
    const args = qemuArgs(machine, {...paths, disk: '/s,x=1/disk.qcow2', qmp: '/s,x=1/qmp.sock'}, true)
    expect(values(args, '-drive')[0]).toBe(
      'file=/s,,x=1/disk.qcow2,if=none,id=disk0,format=qcow2,discard=unmap',
    )
    expect(values(args, '-qmp')).toEqual(['unix:/s,,x=1/qmp.sock,server=on,wait=off'])
  })

  it('makes the disk a qcow2 overlay of the cached image, sized in MB', () => {
    expect(overlayArgs('/cache/img.qcow2', 'qcow2', '/m/disk.qcow2', 20000)).toEqual([
      'create',
      '-q',
      '-f',
      'qcow2',
      '-F',
      'qcow2',
      '-b',
      '/cache/img.qcow2',
      '/m/disk.qcow2',
      '20000M',
    ])
  })
})

describe('acceleration', () => {
  const probes = (working: Accelerator[]) => {
    const tried: Accelerator[] = []
    const probe = async (accel: Accelerator) => {
      tried.push(accel)
      return working.includes(accel) ? {works: true} : {works: false, reason: `${accel} made no progress`}
    }
    return {tried, probe}
  }

  it("tries the host's hypervisor first", () => {
    expect(candidateAccelerators('linux')).toEqual(['kvm', 'tcg'])
    expect(candidateAccelerators('darwin')).toEqual(['hvf', 'tcg'])
    expect(candidateAccelerators('win32')).toEqual(['whpx', 'tcg'])
    expect(candidateAccelerators('freebsd')).toEqual(['tcg'])
  })

  it('takes KVM only when a vCPU ran under it', async () => {
    const ok = probes(['kvm'])
    expect(await chooseAccelerator('auto', 'linux', ok.probe)).toEqual({accel: 'kvm'})
    const broken = probes([])
    const choice = await chooseAccelerator('auto', 'linux', broken.probe)
    expect(choice.accel).toBe('tcg')
    expect(choice.warning).toMatch(
      /^no hardware acceleration \(kvm: kvm made no progress\): using TCG emulation/,
    )
    expect(choice.warning).not.toContain('\n')
    expect(broken.tried).toEqual(['kvm'])
  })

  it('checks an accelerator asked for and reports why it fails', async () => {
    expect(await chooseAccelerator('tcg', 'linux', probes(['tcg']).probe)).toEqual({accel: 'tcg'})
    expect(await chooseAccelerator('kvm', 'linux', probes([]).probe)).toEqual({
      accel: 'kvm',
      failure: 'kvm made no progress',
    })
    expect(await chooseAccelerator('hvf', 'darwin', probes(['hvf']).probe)).toEqual({accel: 'hvf'})
  })

  it('probes with a 64 KiB firmware whose reset vector writes K to the serial port', () => {
    const x86 = probeFirmware('x86_64')
    expect(x86.length).toBe(65536)
    // mov dx,0x3f8; mov al,'K'; out dx,al; hlt at F000:FFF0.
    expect([...x86.subarray(0xfff0, 0xfff7)]).toEqual([0xba, 0xf8, 0x03, 0xb0, 0x4b, 0xee, 0xf4])
    const arm = probeFirmware('aarch64')
    expect(arm.readUInt32LE(0)).toBe(0xd2a12000) // movz x0, #0x900, lsl #16 (the PL011 at 0x09000000)
    expect(arm.readUInt32LE(4)).toBe(0x52800961) // movz w1, #'K'
    expect(probeArgs('x86_64', 'kvm', '/p.bin')).toEqual([
      '-machine',
      'pc',
      '-accel',
      'kvm',
      '-m',
      '16',
      '-nodefaults',
      '-display',
      'none',
      '-no-reboot',
      '-bios',
      '/p.bin',
      '-serial',
      'stdio',
    ])
  })
})

/** A QMP peer speaking QEMU's wire format: greeting, capabilities negotiation, answers and events. */
async function fakeQemu(
  socketPath: string,
  answer: (command: string, socket: Socket) => string | undefined,
): Promise<Server> {
  const server = createServer((socket) => {
    socket.write(
      '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": ["oob"]}}\r\n',
    )
    let negotiated = false
    let buffer = ''
    socket.on('data', (chunk) => {
      buffer += chunk.toString()
      let nl: number
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const {execute} = JSON.parse(buffer.slice(0, nl)) as {execute: string}
        buffer = buffer.slice(nl + 1)
        if (!negotiated) {
          negotiated = execute === 'qmp_capabilities'
          socket.write(
            negotiated
              ? '{"return": {}}\r\n'
              : '{"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with \'qmp_capabilities\'"}}\r\n',
          )
          continue
        }
        const reply = answer(execute, socket)
        if (reply) socket.write(reply)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(socketPath, resolve))
  return server
}

describe('QMP client', () => {
  it("negotiates capabilities, matches answers to commands across events, and reports QEMU's errors", async () => {
    const path = join(dir, 'qmp1.sock')
    const server = await fakeQemu(path, (command, socket) => {
      if (command === 'query-status')
        return '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME"}\r\n{"return": {"status": "running", "singlestep": false, "running": true}}\r\n'
      if (command === 'system_powerdown') {
        // QEMU answers, then the event comes in a separate write.
        socket.write('{"return": {}}\r\n')
        setTimeout(
          () => socket.write('{"timestamp": {"seconds": 1, "microseconds": 3}, "event": "POWERDOWN"}\r\n'),
          5,
        )
        return undefined
      }
      return `{"error": {"class": "CommandNotFound", "desc": "The command ${command} has not been found"}}\r\n`
    })
    try {
      const qmp = await QmpClient.connect(path)
      expect(await qmp.status()).toBe('running')
      expect(await qmp.execute('system_powerdown')).toEqual({})
      await expect(qmp.execute('no-such-thing')).rejects.toThrow(
        'QEMU refused no-such-thing: The command no-such-thing has not been found',
      )
      await new Promise((resolve) => setTimeout(resolve, 30))
      expect(qmp.events).toEqual(['RESUME', 'POWERDOWN'])
      qmp.close()
    } finally {
      server.close()
    }
  })

  it('fails with a clear error when QEMU is not there, closes, or says something that is not QMP', async () => {
    await expect(QmpClient.connect(join(dir, 'none.sock'))).rejects.toThrow(
      /cannot reach QMP at .*none\.sock/,
    )
    const path = join(dir, 'qmp2.sock')
    const server = await fakeQemu(path, (command, socket) => {
      if (command === 'quit') {
        socket.end('{"return": {}}\r\n')
        return undefined
      }
      return 'this is not json\n'
    })
    try {
      expect(await withQmp(path, (q) => q.execute('quit'))).toEqual({})
      await expect(withQmp(path, (q) => q.status())).rejects.toThrow(
        'QMP peer sent something that is not JSON',
      )
    } finally {
      server.close()
    }
    const silent = createServer(() => {})
    const silentPath = join(dir, 'qmp3.sock')
    await new Promise<void>((resolve) => silent.listen(silentPath, resolve))
    try {
      await expect(QmpClient.connect(silentPath, 300)).rejects.toThrow('did not greet within 0.3s')
    } finally {
      silent.close()
    }
  })

  it('times out a command QEMU never answers', async () => {
    const path = join(dir, 'qmp4.sock')
    const server = await fakeQemu(path, () => undefined)
    try {
      await expect(withQmp(path, (q) => q.execute('query-status', undefined, 200))).rejects.toThrow(
        'QEMU did not answer query-status within 0.2s',
      )
    } finally {
      server.close()
    }
  })
})

/** An SSH wire-format field: 4-byte length, then the bytes (mpints get a 0 byte when their top bit is set). */
const field = (bytes: Buffer, mpint = false) => {
  const body = mpint && bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes
  const length = Buffer.alloc(4)
  length.writeUInt32BE(body.length)
  return Buffer.concat([length, body])
}

/** A fresh host key as sshd prints it ("TYPE BASE64"). */
function hostKeyLine(type: 'ed25519' | 'rsa'): string {
  if (type === 'ed25519') {
    const jwk = generateKeyPairSync('ed25519').publicKey.export({format: 'jwk'})
    return `ssh-ed25519 ${Buffer.concat([field(Buffer.from('ssh-ed25519')), field(Buffer.from(jwk.x!, 'base64url'))]).toString('base64')}`
  }
  const jwk = generateKeyPairSync('rsa', {modulusLength: 2048}).publicKey.export({format: 'jwk'})
  return `ssh-rsa ${Buffer.concat([field(Buffer.from('ssh-rsa')), field(Buffer.from(jwk.e!, 'base64url'), true), field(Buffer.from(jwk.n!, 'base64url'), true)]).toString('base64')}`
}

describe('host keys from the console', () => {
  const ed = hostKeyLine('ed25519')
  const rsa = hostKeyLine('rsa')
  const block = (lines: string[]) =>
    `-----BEGIN SSH HOST KEY KEYS-----\r\n${lines.join('\r\n')}\r\n-----END SSH HOST KEY KEYS-----\r\n`

  it('reads the keys cloud-init printed between the markers and pins ed25519', () => {
    const log = `[   31.2] cloud-init[612]: Cloud-init v. 22.4.2 running 'modules:final'\r\n${block([`${rsa} root@vm1`, `${ed} root@vm1`])}[   40.1] login:`
    expect(consoleHostKeys(log)).toEqual([rsa, ed])
    expect(pickHostKey(consoleHostKeys(log))).toBe(ed)
    expect(pickHostKey([rsa])).toBe(rsa)
  })

  it('takes nothing from an unfinished block, and only lines that are really keys of their stated type', () => {
    expect(consoleHostKeys(`-----BEGIN SSH HOST KEY KEYS-----\r\n${ed}\r\n`)).toEqual([])
    const ed25519Blob = ed.split(' ')[1]!
    // A forged line: an ed25519 blob labelled ssh-rsa, base64 garbage, and text around the block.
    const log = block([`ssh-rsa ${ed25519Blob}`, 'ssh-ed25519 AAAA!!!!', 'ssh-ed25519 QUJD', ed])
    expect(consoleHostKeys(log)).toEqual([ed])
  })

  it('uses the last complete block (a later boot of a reused log)', () => {
    const other = hostKeyLine('ed25519')
    expect(consoleHostKeys(block([ed]) + 'reboot\r\n' + block([other]))).toEqual([other])
  })
})

describe('qemu flags', () => {
  const context = () => ({
    machineName: 'vm1',
    machineDir: join(dir, 'machines/vm1'),
    storePath: dir,
    log: () => {},
  })

  it("defaults to Ubuntu 24.04 for the host's architecture, with forwarded ports and a QEMU MAC", async () => {
    const state = (await qemuDriver.configure({}, context())) as QemuState
    expect(state.ImageURL).toBe(IMAGES.ubuntu![hostArch()])
    expect(state.ImageChecksum).toBe('')
    expect(state.AccelRequest).toBe('auto')
    expect(state.MAC).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/)
    expect(state.SSHPort).toBeGreaterThan(0)
    expect(state.EnginePort).toBeGreaterThan(0)
    expect(state.EnginePort).not.toBe(state.SSHPort)
    expect(state.SSHUser).toBe('docker')
    const debian = (await qemuDriver.configure({'qemu-os': 'debian'}, context())) as QemuState
    expect(debian.ImageURL).toMatch(/debian-12-genericcloud-.*\.qcow2$/)
    expect(debian.ImageChecksum).toBe('https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS')
  })

  it("refuses bad values with the flag's name", async () => {
    await expect(qemuDriver.configure({'qemu-accel': 'xen'}, context())).rejects.toThrow(
      '--qemu-accel "xen" must be one of auto, kvm, hvf, whpx, tcg',
    )
    await expect(qemuDriver.configure({'qemu-os': 'arch'}, context())).rejects.toThrow(
      '--qemu-os "arch" must be one of ubuntu, debian',
    )
    await expect(qemuDriver.configure({'qemu-disk-size': '10GB'}, context())).rejects.toThrow(
      '--qemu-disk-size "10GB" must be a whole number',
    )
    await expect(qemuDriver.configure({'qemu-image-url': 'ftp://x/y.img'}, context())).rejects.toThrow(
      'must be http(s):// or file://',
    )
    await expect(qemuDriver.configure({'qemu-image-checksum': 'md5:abc'}, context())).rejects.toThrow(
      /neither/,
    )
  })

  it('names the packages for every system in the missing-QEMU hint', () => {
    const hint = installHint('x86_64')
    expect(hint).toContain('apt-get install qemu-system-x86 qemu-utils')
    expect(hint).toContain('dnf install qemu-system-x86 qemu-img')
    expect(hint).toContain('brew install qemu')
    expect(hint).toContain('winget install')
    expect(installHint('aarch64')).toContain('qemu-efi-aarch64')
  })

  it('fails the pre-create check with exit 3 when the binary is missing', async () => {
    const state = await qemuDriver.configure({'qemu-binary': join(dir, 'no-qemu')}, context())
    await expect(qemuDriver.load(state, context()).preCreateCheck()).rejects.toMatchObject({
      exitCode: 3,
      message: expect.stringContaining('no-qemu does not exist'),
    })
  })
})
