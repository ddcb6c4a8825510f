/**
 * The optional private L2 network between one store's QEMU machines, without root: every machine
 * on it has a second NIC on a QEMU multicast socket netdev bound to the host's loopback, so the
 * guests share one Ethernet segment that nothing outside this host sees. Addresses are static
 * (from the seed's network-config), claimed under a lock in the store so two machines never share one.
 */
import {createHash} from 'node:crypto'
import {mkdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {acquireLock, BerthError, ExitCode} from '../../src/core/drivers/kit.js'

/** QEMU's user-mode network inside every guest: a private network overlapping it would break the NAT NIC. */
const USER_MODE_NET = {address: ipToNumber('10.0.2.0'), prefix: 24}

export interface PrivateNetwork {
  /** Normalised, e.g. 192.168.76.0/24. */
  cidr: string
  address: number
  prefix: number
}

function ipToNumber(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0)
}

function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.')
}

const IPV4 = /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/

const networkOf = (address: number, prefix: number) =>
  Math.floor(address / 2 ** (32 - prefix)) * 2 ** (32 - prefix)
const overlaps = (a: {address: number; prefix: number}, b: {address: number; prefix: number}) => {
  const prefix = Math.min(a.prefix, b.prefix)
  return networkOf(a.address, prefix) === networkOf(b.address, prefix)
}

/** --qemu-private-network's value: an IPv4 network with a prefix from /8 to /29, not QEMU's own 10.0.2.0/24. */
export function parsePrivateNetwork(value: string): PrivateNetwork {
  const match = /^([0-9.]+)\/(\d{1,2})$/.exec(value.trim())
  const prefix = Number(match?.[2])
  if (!match || !IPV4.test(match[1]!) || !(prefix >= 8 && prefix <= 29))
    throw new BerthError(
      `--qemu-private-network ${JSON.stringify(value)}: expected an IPv4 network from /8 to /29, e.g. 192.168.76.0/24`,
      ExitCode.usage,
    )
  const address = networkOf(ipToNumber(match[1]!), prefix)
  if (overlaps({address, prefix}, USER_MODE_NET))
    throw new BerthError(
      `--qemu-private-network ${value} overlaps QEMU's user-mode network 10.0.2.0/24 inside every guest`,
      ExitCode.usage,
      'pick another range, e.g. 192.168.76.0/24',
    )
  return {cidr: `${numberToIp(address)}/${prefix}`, address, prefix}
}

/** The network's usable host addresses in order (not the network's own address nor its broadcast). */
export function hostAddresses(net: PrivateNetwork): string[] {
  const count = 2 ** (32 - net.prefix) - 2
  return Array.from({length: Math.min(count, 4096)}, (_, i) => numberToIp(net.address + 1 + i))
}

/** --qemu-private-ip's value: a host address of the network. */
export function checkPrivateAddress(net: PrivateNetwork, ip: string): string {
  const n = IPV4.test(ip) ? ipToNumber(ip) : NaN
  const broadcast = net.address + 2 ** (32 - net.prefix) - 1
  if (!(n > net.address && n < broadcast))
    throw new BerthError(
      `--qemu-private-ip ${JSON.stringify(ip)}: not a host address of ${net.cidr}`,
      ExitCode.usage,
    )
  return ip
}

/**
 * The multicast group and port of a store's network: the same for every machine of the store on
 * that range, different for another store or range (239/8 is the administratively scoped block).
 */
export function multicastEndpoint(storePath: string, net: PrivateNetwork): string {
  const digest = createHash('sha256').update(`${storePath}\0${net.cidr}`).digest()
  const port = 30000 + (digest.readUInt16BE(3) % 10000)
  return `239.${1 + (digest[0]! % 254)}.${digest[1]}.${digest[2]}:${port}`
}

/** Where a store records which machine holds which address of a network. */
function claimsDir(storePath: string, net: PrivateNetwork): string {
  return join(storePath, 'qemu-networks', net.cidr.replace('/', '_'))
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  )

/**
 * Claims `wanted` (or the first free address) for `machine`. A claim whose machine folder is gone
 * (a store edited by hand) is free again; a claim the machine already holds is kept (a resumed create).
 */
export async function claimAddress(
  storePath: string,
  net: PrivateNetwork,
  machine: string,
  wanted?: string,
): Promise<string> {
  const dir = claimsDir(storePath, net)
  await mkdir(dir, {recursive: true, mode: 0o700})
  const release = await acquireLock(join(dir, '.lock'), `claiming an address of ${net.cidr}`, 60_000)
  try {
    const holder = async (ip: string) => {
      const owner = (await readFile(join(dir, ip), 'utf8').catch(() => '')).trim()
      if (!owner) return undefined
      return (await exists(join(storePath, 'machines', owner))) ? owner : undefined
    }
    for (const ip of wanted ? [wanted] : hostAddresses(net)) {
      const owner = await holder(ip)
      if (owner === undefined || owner === machine) {
        await writeFile(join(dir, ip), `${machine}\n`, {mode: 0o600})
        return ip
      }
      if (wanted) throw new BerthError(`${ip} on ${net.cidr} is taken by machine ${owner}`, ExitCode.usage)
    }
    throw new BerthError(`no free address left on ${net.cidr}`, ExitCode.failure, 'use a larger network')
  } finally {
    await release()
  }
}

/** Gives the machine's address back; a claim another machine holds is left alone. */
export async function releaseAddress(
  storePath: string,
  net: PrivateNetwork,
  machine: string,
  ip: string,
): Promise<void> {
  const dir = claimsDir(storePath, net)
  if (!(await exists(dir))) return
  const release = await acquireLock(join(dir, '.lock'), `releasing an address of ${net.cidr}`, 60_000)
  try {
    const owner = (await readFile(join(dir, ip), 'utf8').catch(() => '')).trim()
    if (owner === machine) await rm(join(dir, ip), {force: true})
  } finally {
    await release()
  }
}
