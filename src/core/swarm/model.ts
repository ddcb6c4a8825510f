/**
 * Swarm-mode shapes from the Docker Engine API and the pure decisions berth makes on them:
 * addresses, role labels, and what init/join should do given a machine's current state.
 */
import {isIP} from 'node:net'
import {BerthError, ExitCode} from '../errors.js'
import {shellQuote} from '../ssh/ssh.js'

/** Ports swarm mode needs between machines: cluster management, node gossip, overlay data. */
export const SWARM_PORT = 2377
export const SWARM_PORTS_TEXT =
  'TCP 2377 (cluster management), TCP/UDP 7946 (node communication) and UDP 4789 (overlay traffic)'

export type LocalNodeState = '' | 'inactive' | 'pending' | 'active' | 'error' | 'locked'

/** The `Swarm` part of the engine's `/info`. */
export interface SwarmInfo {
  NodeID: string
  NodeAddr: string
  LocalNodeState: LocalNodeState
  ControlAvailable: boolean
  Error: string
  RemoteManagers?: Array<{NodeID: string; Addr: string}> | null
  Nodes?: number
  Managers?: number
  Cluster?: {ID: string}
}

/** A node as `/nodes` returns it (the fields berth reads). */
export interface SwarmNode {
  ID: string
  Version: {Index: number}
  Spec: {Role: 'manager' | 'worker'; Availability: string; Labels?: Record<string, string>; Name?: string}
  Description?: {Hostname?: string; Engine?: {EngineVersion?: string}}
  Status: {State: string; Addr?: string; Message?: string}
  ManagerStatus?: {Leader?: boolean; Reachability?: string; Addr?: string}
}

export type SwarmRole = 'manager' | 'worker'

/** What a machine is in swarm terms, from its `/info` alone. */
export function localRole(info: SwarmInfo | undefined): SwarmRole | undefined {
  if (!info || info.LocalNodeState !== 'active') return undefined
  return info.ControlAvailable ? 'manager' : 'worker'
}

/** The SWARM column of `berth ls`: "manager (leader)", "manager", "worker", a non-active state, or empty. */
export function roleLabel(info: SwarmInfo | undefined, leader = false): string {
  if (!info) return ''
  const state = info.LocalNodeState
  if (state === 'active') return info.ControlAvailable ? (leader ? 'manager (leader)' : 'manager') : 'worker'
  if (state === '' || state === 'inactive') return ''
  return state // pending, error, locked: worth showing
}

/** "IP:PORT", with brackets for IPv6. */
export function hostPort(address: string, port = SWARM_PORT): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}

/** The host part of "IP:PORT", "[v6]:PORT" or a bare address. */
export function hostOf(address: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address)
  if (bracketed) return bracketed[1]!
  const parts = address.split(':')
  if (parts.length === 2) return parts[0]!
  return address
}

/**
 * Where the other machines reach a machine: its private address where its driver has one (a QEMU
 * machine on its private network, whose IPAddress is the host's loopback), else its IP.
 */
export function peerAddress(driver: {IPAddress: string; PrivateIPAddress?: string}): string {
  return driver.PrivateIPAddress || driver.IPAddress
}

/**
 * The address a machine advertises to the swarm: the one berth itself reaches the machine at
 * (its record's IP, which is the address other machines on the same network reach), unless the
 * user names one. An interface name (eth1) is passed through: the engine resolves it.
 */
export function advertiseAddress(recordIp: string | undefined, override?: string): string {
  if (override !== undefined && override.trim() !== '') {
    const value = override.trim()
    if (/[\s/]/.test(value)) {
      throw new BerthError(
        `--advertise-addr ${JSON.stringify(value)}: expected an IP address, IP:PORT or an interface name`,
        ExitCode.usage,
      )
    }
    if (
      /^[0-9.]+(:\d+)?$/.test(value) &&
      !/^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)(:\d+)?$/.test(value)
    ) {
      throw new BerthError(`--advertise-addr ${JSON.stringify(value)}: not an IPv4 address`, ExitCode.usage)
    }
    return value
  }
  if (!recordIp)
    throw new BerthError('the machine has no IP address yet; pass --advertise-addr', ExitCode.usage)
  return recordIp
}

/** The advertise address in the engine's form, with the swarm port when none is given. */
export function advertiseWithPort(address: string): string {
  if (/^\[.*\]:\d+$/.test(address) || /^[^:]+:\d+$/.test(address)) return address
  if (/^\[.*\]$/.test(address)) return `${address}:${SWARM_PORT}`
  return hostPort(address)
}

export type InitDecision =
  {action: 'init'} | {action: 'noop'; reason: string} | {action: 'leave-then-init'; reason: string}

/** `swarm init` on a machine: a manager already is a no-op; a member of a swarm as a worker needs --force. */
export function decideInit(name: string, info: SwarmInfo, force: boolean): InitDecision {
  const state = info.LocalNodeState
  if (state === '' || state === 'inactive') return {action: 'init'}
  if (state === 'active' && info.ControlAvailable) {
    return {
      action: 'noop',
      reason: `${name} is already a manager of swarm ${short(info.Cluster?.ID)}; nothing to do`,
    }
  }
  const what = state === 'active' ? 'a worker in a swarm' : `in swarm state "${state}"`
  if (!force) {
    throw new BerthError(
      `${name} is already ${what}; refusing to start a new swarm`,
      ExitCode.failure,
      `\`berth swarm leave ${name}\` first, or pass --force to leave and init`,
    )
  }
  return {action: 'leave-then-init', reason: `${name} is ${what}; leaving it first (--force)`}
}

export type JoinDecision =
  {action: 'join'} | {action: 'noop'; reason: string} | {action: 'leave-then-join'; reason: string}

/**
 * `swarm join` of a machine, given its own state and whether the manager's swarm lists it.
 * Same swarm: no-op (a role change is promote/demote's job). Another swarm: refused unless force.
 */
export function decideJoin(
  name: string,
  info: SwarmInfo,
  inManagersSwarm: boolean,
  wanted: SwarmRole,
  manager: string,
  force: boolean,
): JoinDecision {
  const state = info.LocalNodeState
  if (state === '' || state === 'inactive') return {action: 'join'}
  const role = localRole(info)
  if (state === 'active' && inManagersSwarm && role) {
    const hint =
      role === wanted
        ? ''
        : ` (use \`berth swarm ${wanted === 'manager' ? 'promote' : 'demote'} ${name}\` to make it a ${wanted})`
    return {
      action: 'noop',
      reason: `${name} is already a ${role} in ${manager}'s swarm; nothing to do${hint}`,
    }
  }
  const what = state === 'active' ? `a ${role} in another swarm` : `in swarm state "${state}"`
  if (!force) {
    throw new BerthError(
      `${name} is already ${what}; refusing to move it to ${manager}'s swarm`,
      ExitCode.failure,
      `\`berth swarm leave ${name}\` first, or pass --force to leave and join`,
    )
  }
  return {action: 'leave-then-join', reason: `${name} is ${what}; leaving it first (--force)`}
}

/** Node IDs and cluster IDs shortened as the docker CLI does. */
export function short(id: string | undefined): string {
  return (id ?? '').slice(0, 12) || '?'
}

/** "Leader", "Reachable", "Unreachable" or "" as in `docker node ls`. */
export function managerStatus(node: SwarmNode): string {
  if (!node.ManagerStatus) return ''
  if (node.ManagerStatus.Leader) return 'Leader'
  const reachability = node.ManagerStatus.Reachability ?? ''
  return reachability.charAt(0).toUpperCase() + reachability.slice(1)
}

export interface NodeRow {
  id: string
  hostname: string
  machine: string
  role: SwarmRole
  availability: string
  status: string
  managerStatus: string
  leader: boolean
  engineVersion: string
  address: string
}

/**
 * Rows for `berth swarm ls`, leader first, then managers, then by hostname; each node is matched
 * to a berth machine by its address, else by hostname.
 */
export function nodeRows(nodes: SwarmNode[], machines: Array<{name: string; ip: string}>): NodeRow[] {
  const byIp = new Map(machines.filter((m) => m.ip).map((m) => [m.ip, m.name]))
  const byName = new Set(machines.map((m) => m.name))
  const rows = nodes.map((node): NodeRow => {
    const hostname = node.Description?.Hostname ?? ''
    const address = node.Status.Addr ?? (node.ManagerStatus?.Addr ? hostOf(node.ManagerStatus.Addr) : '')
    const managerAddress = node.ManagerStatus?.Addr ? hostOf(node.ManagerStatus.Addr) : ''
    const machine = byIp.get(managerAddress) ?? byIp.get(address) ?? (byName.has(hostname) ? hostname : '')
    return {
      id: node.ID,
      hostname,
      machine,
      role: node.Spec.Role,
      availability: node.Spec.Availability,
      status: node.Status.State,
      managerStatus: managerStatus(node),
      leader: node.ManagerStatus?.Leader === true,
      engineVersion: node.Description?.Engine?.EngineVersion ?? '',
      address: managerAddress || address,
    }
  })
  const rank = (r: NodeRow) => (r.leader ? 0 : r.role === 'manager' ? 1 : 2)
  return rows.sort((x, y) => rank(x) - rank(y) || x.hostname.localeCompare(y.hostname))
}

/** A host and port a manager reported, checked before they go anywhere near a shell; a one-line error otherwise. */
export function reachableTarget(address: string, defaultPort: number): {host: string; port: number} {
  const parts =
    isIP(address) === 6
      ? [address]
      : (/^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(address)?.slice(1) ?? [])
  const host = parts[0] ?? parts[1] ?? ''
  const port = parts[2] === undefined ? defaultPort : Number(parts[2])
  const dnsName =
    /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
  if ((!isIP(host) && !dnsName.test(host)) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new BerthError(
      `the manager reports ${JSON.stringify(address)}, which is not an address and port; not probing it`,
      ExitCode.failure,
    )
  }
  return {host, port}
}

/**
 * The shell script that tests, from a machine, whether host:port answers (bash's /dev/tcp, else
 * nc; exit 99 when neither exists). Host and port reach bash and nc as arguments, never as code.
 */
export function reachabilityScript(target: {host: string; port: number}): string {
  const host = shellQuote(target.host)
  const port = shellQuote(String(target.port))
  return (
    `if command -v bash >/dev/null 2>&1; then timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2"' probe ${host} ${port} 2>/dev/null; ` +
    `elif command -v nc >/dev/null 2>&1; then nc -z -w 5 -- ${host} ${port}; else exit 99; fi`
  )
}
