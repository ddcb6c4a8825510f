/**
 * The VirtualBox and Hyper-V drivers' own cloud-init seeds, read by a real cloud-init: their
 * hypervisors cannot run here, so each seed boots the lab's Debian 12 image with docker.io
 * preinstalled (test/lab/vm-image.sh) under QEMU, QEMU's NIC given the MAC the seed's
 * network-config names. That image owns a `docker` group, which made cloud-init fail to create
 * the login user `docker` (no user, no SSH) before the seeds declared it as its primary group.
 *
 * Two more TCG boots, both guests at once: CI does not run them; BERTH_E2E_VM_SEEDS=1 does.
 * Passed on 2026-12-04 at 16:38 UTC in 539 s at a load average of 16 to 46 (the Hyper-V seed's
 * runcmd installs hyperv-daemons from Debian's mirror before cloud-init prints the host keys).
 */
import {execFileSync} from 'node:child_process'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {hypervSeed} from '../../drivers/hyperv/index.js'
import {overlayArgs, qemuArgs} from '../../drivers/qemu/args.js'
import {consoleHostKeys, pickHostKey} from '../../drivers/qemu/console.js'
import {addressForMac, virtualboxSeed} from '../../drivers/virtualbox/index.js'
import {connectSsh} from '../../src/core/ssh/ssh.js'
import {ensureSshKey} from '../../src/core/ssh/keys.js'
import {freePort} from '../../src/core/vm/ports.js'
import {writeSeedIso} from '../../src/core/vm/seed-iso.js'
import type {NoCloudSeed} from '../../src/core/vm/seed-iso.js'
import {ok, REPO, run} from '../lab/lab.js'

const IMAGE = join(
  process.env.BERTH_LAB_VM_CACHE ?? '/var/cache/berth-lab/vm',
  'berth-lab-bookworm-docker-amd64.qcow2',
)
const BOOT_DEADLINE_MS = 15 * 60_000

let dir: string
const pids: number[] = []

/** Boots the image with `seed` and logs in over SSH with the host key pinned from the console; returns what `probe` printed. */
async function bootWithSeed(
  name: string,
  make: (publicKey: string) => NoCloudSeed,
  mac: string,
  probe: string,
) {
  const machineDir = await mkdtemp(join(dir, `${name}-`))
  const key = await ensureSshKey(join(machineDir, 'id_ed25519'), `berth@${name}`)
  const paths = {
    disk: join(machineDir, 'disk.qcow2'),
    seed: join(machineDir, 'seed.iso'),
    qmp: join(machineDir, 'qmp.sock'),
    pid: join(machineDir, 'qemu.pid'),
    serialLog: join(machineDir, 'serial.log'),
  }
  execFileSync('qemu-img', overlayArgs(IMAGE, 'qcow2', paths.disk, 4096))
  await writeSeedIso(paths.seed, make(await readFile(`${key}.pub`, 'utf8')))
  const sshPort = await freePort()
  const args = qemuArgs(
    {name, arch: 'x86_64', accel: 'tcg', cpus: 1, memoryMb: 1024, mac, sshPort, enginePort: await freePort()},
    paths,
    true,
  )
  await ok(run('qemu-system-x86_64', args))
  pids.push(Number((await readFile(paths.pid, 'utf8')).trim()))
  const deadline = Date.now() + BOOT_DEADLINE_MS
  let last = ''
  while (Date.now() < deadline) {
    const hostKey = pickHostKey(consoleHostKeys(await readFile(paths.serialLog, 'utf8').catch(() => '')))
    if (hostKey) {
      try {
        const session = await connectSsh(
          {host: '127.0.0.1', port: sshPort, user: 'docker', privateKeyPath: key, machine: name},
          {pinned: hostKey, pin: async () => {}},
          {readyTimeoutMs: 15_000},
        )
        try {
          return (await session.execRaw(probe)).stdout
        } finally {
          session.close()
        }
      } catch (err) {
        last = String(err)
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 2000))
  }
  throw new Error(
    `${name}: no SSH login as docker within ${BOOT_DEADLINE_MS / 1000}s (${last || 'no host keys on the console'})`,
  )
}

const PROBE = 'hostname; id -un; id -gn; id -Gn; getent group docker | cut -d: -f1; ip -j addr show'

describe.runIf(process.env.BERTH_E2E_VM_SEEDS === '1')(
  'VM seeds on an image with docker.io preinstalled (real cloud-init)',
  () => {
    beforeAll(async () => {
      await ok(run('bash', [join(REPO, 'test/lab/vm-image.sh'), 'build', 'docker'], {timeoutMs: 20 * 60_000}))
      dir = await mkdtemp(join(tmpdir(), 'berth-e2e-seeds-'))
    }, 25 * 60_000)

    afterAll(async () => {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
      if (dir) await rm(dir, {recursive: true, force: true})
    })

    it(
      'the VirtualBox and Hyper-V seeds give an SSH login as docker, primary group docker, the hostname and the NIC by MAC',
      async () => {
        const started = performance.now()
        const vboxMac = '08:00:27:5e:ed:01'
        const hypervMac = '00155D5EED02'
        const [vbox, hyperv] = await Promise.all([
          bootWithSeed('seed-vbox', (pub) => virtualboxSeed('seed-vbox', pub, vboxMac), vboxMac, PROBE),
          bootWithSeed(
            'seed-hyperv',
            (pub) => hypervSeed('seed-hyperv', pub, hypervMac),
            '00:15:5d:5e:ed:02',
            PROBE,
          ),
        ])
        for (const [output, name, mac] of [
          [vbox, 'seed-vbox', vboxMac],
          [hyperv, 'seed-hyperv', hypervMac],
        ] as const) {
          const [hostname, user, group, groups, dockerGroup, ...addr] = output.split('\n')
          expect(hostname).toBe(name)
          expect([user, group, dockerGroup]).toEqual(['docker', 'docker', 'docker'])
          expect(groups).toMatch(/\bsudo\b/)
          // network-config matched QEMU's NIC by the MAC the driver's seed names, and DHCP answered on it.
          expect(addressForMac(addr.join('\n'), mac)).toBe('10.0.2.15')
        }
        console.log(
          `VM seeds: both guests logged in after ${Math.round((performance.now() - started) / 1000)} s`,
        )
      },
      BOOT_DEADLINE_MS + 60_000,
    )
  },
)
