/**
 * Host-only networking: the CIDR berth asks for (host address/prefix), the ranges VirtualBox
 * allows, and the DHCP range handed to guests.
 */
import {readFileSync} from 'node:fs'
import {BerthError, ExitCode} from '../../src/core/drivers/kit.js'

export const DEFAULT_HOSTONLY_CIDR = '192.168.56.1/24'
/** Since 6.1.28 on Linux and macOS, host-only addresses must lie here unless networks.conf says otherwise. */
export const DEFAULT_ALLOWED_RANGES = ['192.168.56.0/21']
export const NETWORKS_CONF = '/etc/vbox/networks.conf'

export interface HostOnlyNetwork {
  /** The host's address on the network (the adapter's IP). */
  hostIp: string
  prefix: number
  netmask: string
  network: string
  /** DHCP server address and the range leased to guests. */
  dhcpServer: string
  lowerIp: string
  upperIp: string
}

function toInt(ip: string): number {
  const parts = ip.split('.')
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255))
    throw new Error(`${ip} is not an IPv4 address`)
  return parts.reduce((acc, p) => ((acc << 8) | Number(p)) >>> 0, 0)
}

function toIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.')
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0
}

function parseCidr(cidr: string): {ip: number; prefix: number} {
  const match = /^([\d.]+)\/(\d{1,2})$/.exec(cidr.trim())
  if (!match || Number(match[2]) > 32) throw new Error(`${cidr} is not an IPv4 CIDR`)
  return {ip: toInt(match[1]!), prefix: Number(match[2])}
}

function inside(ip: number, range: string): boolean {
  const {ip: base, prefix} = parseCidr(range)
  return (ip & maskOf(prefix)) >>> 0 === (base & maskOf(prefix)) >>> 0
}

/** Ranges from /etc/vbox/networks.conf (`* 10.0.0.0/8 192.168.0.0/16`), or VirtualBox's default. */
export function allowedRanges(confText: string | undefined): string[] {
  if (confText === undefined) return DEFAULT_ALLOWED_RANGES
  const ranges = confText
    .split('\n')
    .flatMap((line) => (line.trim().startsWith('*') ? line.trim().slice(1).trim().split(/\s+/) : []))
  return ranges.filter((r) => /^[\d.]+\/\d+$/.test(r))
}

function readNetworksConf(): string | undefined {
  if (process.platform === 'win32') return undefined
  try {
    return readFileSync(NETWORKS_CONF, 'utf8')
  } catch {
    return undefined
  }
}

/**
 * Validates `--virtualbox-hostonly-cidr` (the host's address with its prefix, e.g.
 * 192.168.56.1/24) against the allowed ranges (null: none apply, as on Windows) and derives
 * the DHCP range: the server after the host's address, guests above it.
 */
export function hostOnlyNetwork(
  cidr: string,
  ranges: string[] | null = process.platform === 'win32' ? null : allowedRanges(readNetworksConf()),
): HostOnlyNetwork {
  let parsed: {ip: number; prefix: number}
  try {
    parsed = parseCidr(cidr)
  } catch (err) {
    throw new BerthError(
      `--virtualbox-hostonly-cidr ${JSON.stringify(cidr)}: ${(err as Error).message}`,
      ExitCode.usage,
      "give the host's address and prefix, e.g. 192.168.56.1/24",
    )
  }
  const {ip, prefix} = parsed
  if (prefix < 8 || prefix > 29)
    throw new BerthError(
      `--virtualbox-hostonly-cidr ${cidr}: the prefix must be between /8 and /29`,
      ExitCode.usage,
    )
  const mask = maskOf(prefix)
  const network = (ip & mask) >>> 0
  const broadcast = (network | ~mask) >>> 0
  if (ip === network || ip === broadcast) {
    throw new BerthError(
      `--virtualbox-hostonly-cidr ${cidr}: ${toIp(ip)} is the network's ${ip === network ? 'network' : 'broadcast'} address, not a host address`,
      ExitCode.usage,
      `e.g. ${toIp(network + 1)}/${prefix}`,
    )
  }
  if (ranges && !ranges.some((range) => inside(network, range) && inside(broadcast, range))) {
    throw new BerthError(
      `--virtualbox-hostonly-cidr ${cidr} is outside the host-only ranges VirtualBox allows (${ranges.join(', ') || 'none'})`,
      ExitCode.usage,
      `pick one inside them, or list the range in ${NETWORKS_CONF} (\`* 10.0.0.0/8\`)`,
    )
  }
  // As VirtualBox's own default (.100, guests from .101) when the host's address is below it.
  const size = broadcast - network
  const server = size > 200 && ip < network + 100 ? network + 100 : ip + 1
  const lower = server + 1
  const upper = broadcast - 1
  if (lower > upper)
    throw new BerthError(`--virtualbox-hostonly-cidr ${cidr} leaves no addresses for guests`, ExitCode.usage)
  return {
    hostIp: toIp(ip),
    prefix,
    netmask: toIp(mask),
    network: toIp(network),
    dhcpServer: toIp(server),
    lowerIp: toIp(lower),
    upperIp: toIp(upper),
  }
}

/** Whether an address lies in the host-only network (to pick a matching existing adapter). */
export function inNetwork(ip: string, network: HostOnlyNetwork): boolean {
  try {
    return inside(toInt(ip), `${network.network}/${network.prefix}`)
  } catch {
    return false
  }
}
