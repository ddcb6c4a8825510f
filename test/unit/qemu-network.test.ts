/** The qemu driver's private network: ranges, multicast segments per store, address claims, QEMU's argv, the seed. */
import {mkdir, mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {qemuArgs} from '../../drivers/qemu/args.js'
import {qemuDriver, qemuSeed} from '../../drivers/qemu/index.js'
import type {QemuState} from '../../drivers/qemu/index.js'
import {
  checkPrivateAddress,
  claimAddress,
  hostAddresses,
  multicastEndpoint,
  parsePrivateNetwork,
  releaseAddress,
} from '../../drivers/qemu/network.js'
import {peerAddress} from '../../src/core/swarm/model.js'
import {noCloudFiles} from '../../src/core/vm/seed-iso.js'

let store: string
beforeAll(async () => {
  store = await mkdtemp(join(tmpdir(), 'berth-qemu-net-'))
})
afterAll(async () => {
  await rm(store, {recursive: true, force: true})
})

/** A machine folder in the store, as create makes it before the driver claims an address. */
async function machineFolder(name: string) {
  await mkdir(join(store, 'machines', name), {recursive: true})
}

describe('private network ranges', () => {
  it('normalises a CIDR and lists its host addresses', () => {
    const net = parsePrivateNetwork('192.168.76.9/29')
    expect(net.cidr).toBe('192.168.76.8/29')
    expect(hostAddresses(net)).toEqual([
      '192.168.76.9',
      '192.168.76.10',
      '192.168.76.11',
      '192.168.76.12',
      '192.168.76.13',
      '192.168.76.14',
    ])
    expect(hostAddresses(parsePrivateNetwork('172.20.0.0/16'))[0]).toBe('172.20.0.1')
  })

  it('refuses what is not an IPv4 range from /8 to /29, and ranges over QEMU user-mode 10.0.2.0/24', () => {
    for (const bad of ['192.168.76.0', '192.168.76.0/30', '192.168.76.0/7', '300.1.1.0/24', 'x/24', '::1/64'])
      expect(() => parsePrivateNetwork(bad), bad).toThrow(/expected an IPv4 network from \/8 to \/29/)
    expect(() => parsePrivateNetwork('10.0.0.0/8')).toThrow(/overlaps QEMU's user-mode network/)
    expect(() => parsePrivateNetwork('10.0.2.128/25')).toThrow(/overlaps/)
    expect(parsePrivateNetwork('10.0.3.0/24').cidr).toBe('10.0.3.0/24')
  })

  it('accepts only host addresses of the range', () => {
    const net = parsePrivateNetwork('192.168.76.0/24')
    expect(checkPrivateAddress(net, '192.168.76.20')).toBe('192.168.76.20')
    for (const bad of [
      '192.168.76.0',
      '192.168.76.255',
      '192.168.77.1',
      '192.168.76',
      '192.168.76.20; reboot',
    ])
      expect(() => checkPrivateAddress(net, bad), bad).toThrow(/not a host address of 192.168.76.0\/24/)
  })

  it('gives each store and range its own multicast segment in 239/8, the same one to every machine of both', () => {
    const net = parsePrivateNetwork('192.168.76.0/24')
    const a = multicastEndpoint('/stores/a', net)
    expect(a).toMatch(/^239\.([1-9]\d{0,2})\.\d{1,3}\.\d{1,3}:\d{5}$/)
    expect(multicastEndpoint('/stores/a', parsePrivateNetwork('192.168.76.7/24'))).toBe(a)
    expect(multicastEndpoint('/stores/b', net)).not.toBe(a)
    expect(multicastEndpoint('/stores/a', parsePrivateNetwork('192.168.77.0/24'))).not.toBe(a)
    const port = Number(a.split(':')[1])
    expect(port).toBeGreaterThanOrEqual(30000)
    expect(port).toBeLessThan(40000)
  })
})

describe('address claims', () => {
  const net = parsePrivateNetwork('192.168.80.0/29')

  it('gives concurrent creates distinct addresses, the first free ones, and takes back a released one', async () => {
    const names = ['m1', 'm2', 'm3', 'm4']
    for (const name of names) await machineFolder(name)
    const got = await Promise.all(names.map((name) => claimAddress(store, net, name)))
    expect([...got].sort()).toEqual(['192.168.80.1', '192.168.80.2', '192.168.80.3', '192.168.80.4'])
    const m2 = got[1]!
    // A machine keeps its own claim (a resumed create), and cannot release another's.
    expect(await claimAddress(store, net, 'm2')).toBe(m2)
    await releaseAddress(store, net, 'm1', m2)
    await machineFolder('m5')
    expect(await claimAddress(store, net, 'm5')).toBe('192.168.80.5')
    await releaseAddress(store, net, 'm2', m2)
    await machineFolder('m6')
    expect(await claimAddress(store, net, 'm6')).toBe(m2)
  })

  it('claims an address asked for, refuses one taken, and frees claims of machines whose folder is gone', async () => {
    await machineFolder('a1')
    expect(await claimAddress(store, net, 'a1', '192.168.80.6')).toBe('192.168.80.6')
    await machineFolder('a2')
    await expect(claimAddress(store, net, 'a2', '192.168.80.6')).rejects.toThrow(
      '192.168.80.6 on 192.168.80.0/29 is taken by machine a1',
    )
    await expect(claimAddress(store, net, 'a2')).rejects.toThrow('no free address left on 192.168.80.0/29')
    await rm(join(store, 'machines', 'a1'), {recursive: true})
    expect(await claimAddress(store, net, 'a2')).toBe('192.168.80.6')
    const dir = join(store, 'qemu-networks', '192.168.80.0_29')
    expect(await readFile(join(dir, '192.168.80.6'), 'utf8')).toBe('a2\n')
    expect((await readdir(dir)).filter((f) => f.startsWith('.lock'))).toEqual([])
  })
})

describe('a QEMU machine on the private network', () => {
  const context = {machineName: 'vm1', machineDir: join('/s', 'machines/vm1'), storePath: '/s', log: () => {}}

  it('is configured with a second MAC, the segment of its store, and the address asked for', async () => {
    const state = (await qemuDriver.configure(
      {'qemu-private-network': '192.168.76.0/24', 'qemu-private-ip': '192.168.76.30'},
      context,
    )) as QemuState
    expect(state.PrivateNetwork).toBe('192.168.76.0/24')
    expect(state.PrivateMAC).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/)
    expect(state.PrivateMAC).not.toBe(state.MAC)
    expect(state.PrivateMulticast).toBe(multicastEndpoint('/s', parsePrivateNetwork('192.168.76.0/24')))
    expect(state.PrivateIPRequest).toBe('192.168.76.30')
    const plain = (await qemuDriver.configure({}, context)) as QemuState
    expect(plain.PrivateNetwork).toBeUndefined()
    expect(plain.PrivateMAC).toBeUndefined()
  })

  it("refuses a private address without a network, or outside it, with the flag's name", async () => {
    await expect(qemuDriver.configure({'qemu-private-ip': '192.168.76.30'}, context)).rejects.toThrow(
      '--qemu-private-ip needs --qemu-private-network',
    )
    await expect(
      qemuDriver.configure(
        {'qemu-private-network': '192.168.76.0/24', 'qemu-private-ip': '10.9.9.9'},
        context,
      ),
    ).rejects.toThrow('--qemu-private-ip "10.9.9.9": not a host address of 192.168.76.0/24')
    await expect(qemuDriver.configure({'qemu-private-network': 'lan'}, context)).rejects.toMatchObject({
      exitCode: 2,
    })
  })

  it('gets a second virtio NIC on a multicast socket bound to the loopback', () => {
    const args = qemuArgs(
      {
        name: 'vm1',
        arch: 'x86_64',
        accel: 'tcg',
        cpus: 2,
        memoryMb: 1024,
        mac: '52:54:00:12:34:56',
        sshPort: 40022,
        enginePort: 40376,
        privateNic: {mac: '52:54:00:ab:cd:ef', multicast: '239.9.8.7:31234'},
      },
      {disk: '/m/d', seed: '/m/s', qmp: '/m/q', pid: '/m/p', serialLog: '/m/l'},
      true,
    )
    const netdevs = args.flatMap((a, i) => (a === '-netdev' ? [args[i + 1]] : []))
    expect(netdevs).toEqual([
      'user,id=net0,hostfwd=tcp:127.0.0.1:40022-:22,hostfwd=tcp:127.0.0.1:40376-:40376',
      'socket,id=net1,mcast=239.9.8.7:31234,localaddr=127.0.0.1',
    ])
    expect(args).toContain('virtio-net-pci,netdev=net1,mac=52:54:00:ab:cd:ef')
  })

  it("has its static address in the seed's network-config, matched by MAC beside the DHCP NIC", () => {
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests berth@vm1'
    const files = noCloudFiles(
      qemuSeed('vm1', key, '52:54:00:12:34:56', {mac: '52:54:00:AB:CD:EF', address: '192.168.76.2/24'}),
    )
    expect(JSON.parse(files.networkConfig)).toEqual({
      version: 2,
      ethernets: {
        eth0: {match: {macaddress: '52:54:00:12:34:56'}, dhcp4: true},
        private: {match: {macaddress: '52:54:00:ab:cd:ef'}, addresses: ['192.168.76.2/24']},
      },
    })
  })

  it('is what swarm advertises and matches nodes by; other machines keep their IP', () => {
    expect(peerAddress({IPAddress: '127.0.0.1', PrivateIPAddress: '192.168.76.2'})).toBe('192.168.76.2')
    expect(peerAddress({IPAddress: '172.17.0.3'})).toBe('172.17.0.3')
    expect(peerAddress({IPAddress: '172.17.0.3', PrivateIPAddress: ''})).toBe('172.17.0.3')
  })
})
