/**
 * Swarm mode across berth's machines, through each machine's Docker Engine API over mutual TLS:
 * init, join (tokens read from a manager's /swarm, never stored), promote/demote (node update
 * with the node's version index), leave, and node listings. The only SSH use is the check that a
 * joining machine reaches its manager's port 2377, since that tests the real path between them.
 *
 * These functions act on Machine objects and save their records; callers hold the machine's lock.
 */
import type Docker from 'dockerode'
import {engineClient, engineInfo} from '../engine/engine.js'
import {engineMessage, isNotFound} from '../engine/helpers.js'
import {BerthError, ExitCode, oneLine, withTimeout} from '../errors.js'
import {poll} from '../poll.js'
import {Machine, Reporter, silentReporter} from '../machine/machine.js'
import type {MachineRecord, SwarmMembership} from '../store/record.js'
import type {Store} from '../store/store.js'
import {
  advertiseAddress,
  advertiseWithPort,
  decideInit,
  decideJoin,
  hostOf,
  hostPort,
  localRole,
  NodeRow,
  nodeRows,
  reachabilityScript,
  reachableTarget,
  roleLabel,
  short,
  SWARM_PORT,
  SWARM_PORTS_TEXT,
  SwarmInfo,
  SwarmNode,
  SwarmRole,
} from './model.js'

const INFO_TIMEOUT_MS = 10_000
/** Join and init block in the engine until raft settles (a worker join waits up to ~20 s). */
const CHANGE_TIMEOUT_MS = 90_000
const SETTLE_TIMEOUT_MS = 60_000

export interface SwarmOutcome {
  machine: string
  action: 'initialized' | 'joined' | 'promoted' | 'demoted' | 'left' | 'unchanged'
  role?: SwarmRole
  clusterId?: string
  nodeId?: string
  message: string
}

export interface Engine {
  machine: Machine
  docker: Docker
  info: SwarmInfo
}

/** Polls `check` until it returns a value or the deadline passes (then undefined); errors are transient while raft settles. */
function until<T>(check: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  return poll<T | undefined>(check, {timeoutMs, intervalMs: 500, onTimeout: () => undefined})
}

/** A machine's engine and swarm state; a one-line error naming the machine when it cannot be reached. */
export async function connect(
  machine: Machine,
  what = 'machine',
  timeoutMs = INFO_TIMEOUT_MS,
): Promise<Engine> {
  if (machine.record.Berth?.Phase !== 'provisioned') {
    throw new BerthError(
      `${what} ${machine.name} is not provisioned`,
      ExitCode.failure,
      `run \`berth provision ${machine.name}\``,
    )
  }
  // The driver's state first: a stopped machine's IP may already belong to another machine.
  const state = await withTimeout(machine.driver.getState(), 5000, 'state').catch(() => 'Unknown')
  if (state !== 'Running' && state !== 'Unknown') {
    throw new BerthError(
      `${what} ${machine.name} is unreachable: the machine is ${state}`,
      ExitCode.failure,
      `start it (\`berth start ${machine.name}\`), or use another ${what}`,
    )
  }
  try {
    const info = await engineInfo(machine.record, timeoutMs)
    return {machine, docker: await engineClient(machine.record, CHANGE_TIMEOUT_MS), info: info.Swarm}
  } catch (err) {
    throw new BerthError(
      `${what} ${machine.name} is unreachable: ${oneLine(err)}`,
      ExitCode.failure,
      'check that the machine is running and its engine answers (`berth ls`)',
    )
  }
}

async function refreshInfo(engine: Engine): Promise<SwarmInfo> {
  engine.info = (await engineInfo(engine.machine.record, INFO_TIMEOUT_MS)).Swarm
  return engine.info
}

async function inspectNode(manager: Engine, nodeId: string): Promise<SwarmNode | undefined> {
  if (!nodeId) return undefined
  try {
    return (await manager.docker.getNode(nodeId).inspect()) as SwarmNode
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw err
  }
}

/** The manager's own raft address ("IP:2377"): what joining machines dial. */
function managerAddress(manager: Engine): string {
  const own = manager.info.RemoteManagers?.find((m) => m.NodeID === manager.info.NodeID)
  return own?.Addr ?? hostPort(manager.info.NodeAddr)
}

async function saveMembership(engine: Engine, joinedVia?: string): Promise<void> {
  const info = await refreshInfo(engine).catch(() => engine.info)
  const role = localRole(info)
  const record = engine.machine.record
  if (!role) {
    delete record.Berth.Swarm
  } else {
    const previous = record.Berth.Swarm
    record.Berth.Swarm = {
      ClusterID: info.Cluster?.ID ?? (previous?.NodeID === info.NodeID ? previous.ClusterID : ''),
      NodeID: info.NodeID,
      Role: role,
      AdvertiseAddr: info.NodeAddr,
      ...((joinedVia ?? previous?.JoinedVia) ? {JoinedVia: joinedVia ?? previous?.JoinedVia} : {}),
    }
  }
  await engine.machine.save()
}

/** Membership changes of raft (manager joins, promotions, demotions) go one at a time within a process. */
let raftQueue: Promise<unknown> = Promise.resolve()
function serialRaft<T>(work: () => Promise<T>): Promise<T> {
  const next = raftQueue.then(work, work)
  raftQueue = next.catch(() => undefined)
  return next
}

// ---------------------------------------------------------------------------------------------
// init

export interface InitOptions {
  advertiseAddr?: string
  force?: boolean
}

export async function initSwarm(
  machine: Machine,
  options: InitOptions = {},
  reporter: Reporter = silentReporter,
): Promise<SwarmOutcome> {
  const address = advertiseAddress(machine.record.Driver.IPAddress, options.advertiseAddr)
  const engine = await connect(machine)
  const decision = decideInit(machine.name, engine.info, options.force === true)
  if (decision.action === 'noop') {
    await saveMembership(engine)
    return {
      machine: machine.name,
      action: 'unchanged',
      role: 'manager',
      clusterId: engine.info.Cluster?.ID,
      nodeId: engine.info.NodeID,
      message: decision.reason,
    }
  }
  if (decision.action === 'leave-then-init') {
    reporter.step(decision.reason)
    await engine.docker.swarmLeave({force: true})
  }
  reporter.step(`Initializing a swarm advertised at ${advertiseWithPort(address)}`)
  try {
    await engine.docker.swarmInit({
      ListenAddr: `0.0.0.0:${SWARM_PORT}`,
      AdvertiseAddr: advertiseWithPort(address),
    })
  } catch (err) {
    throw new BerthError(`swarm init on ${machine.name} failed: ${engineMessage(err)}`)
  }
  const info = await until(async () => {
    const current = await refreshInfo(engine)
    return current.ControlAvailable && current.Cluster?.ID ? current : undefined
  }, SETTLE_TIMEOUT_MS)
  if (!info)
    throw new BerthError(
      `swarm on ${machine.name} did not become ready within ${SETTLE_TIMEOUT_MS / 1000}s`,
      ExitCode.timeout,
    )
  await saveMembership(engine)
  return {
    machine: machine.name,
    action: 'initialized',
    role: 'manager',
    clusterId: info.Cluster?.ID,
    nodeId: info.NodeID,
    message: `${machine.name} is now the manager of a new swarm (${short(info.Cluster?.ID)}) at ${advertiseWithPort(address)}`,
  }
}

// ---------------------------------------------------------------------------------------------
// join

export interface JoinOptions {
  role: SwarmRole
  force?: boolean
  advertiseAddr?: string
}

/** A reachable manager of a swarm, or a one-line error saying why `name` cannot be joined to. */
export async function requireManager(machine: Machine): Promise<Engine> {
  const manager = await connect(machine, 'manager')
  const role = localRole(manager.info)
  if (role === 'manager') return manager
  if (role === 'worker') {
    throw new BerthError(
      `${machine.name} is a swarm worker, not a manager; machines join through a manager`,
      ExitCode.failure,
      `join through one of its managers, or \`berth swarm promote ${machine.name}\``,
    )
  }
  throw new BerthError(
    `${machine.name} is not a swarm manager (it is in no swarm)`,
    ExitCode.failure,
    `\`berth swarm init ${machine.name}\` first`,
  )
}

/**
 * Checks from the joining machine itself (over SSH, bash's /dev/tcp or nc) that it reaches the
 * manager's swarm port: the real path between the two machines. Skipped when neither tool exists.
 */
export async function checkReachable(
  machine: Machine,
  address: string,
  managerName: string,
  reporter: Reporter,
): Promise<void> {
  const target = reachableTarget(address, SWARM_PORT)
  const port = target.port
  let session
  try {
    session = await machine.ssh(15_000)
  } catch (err) {
    reporter.step(`Skipping the ${port} reachability check (SSH: ${oneLine(err)})`)
    return
  }
  try {
    const result = await session.exec(reachabilityScript(target))
    if (result.code === 99)
      return reporter.step(`Skipping the ${port} reachability check (no bash or nc on ${machine.name})`)
    if (result.code !== 0) {
      throw new BerthError(
        `${machine.name} cannot reach manager ${managerName} at ${address}: swarm mode needs ${SWARM_PORTS_TEXT} open between the machines`,
        ExitCode.failure,
        'open those ports between the machines (firewall, security group), or pick an --advertise-addr they share',
      )
    }
  } finally {
    session.close()
  }
}

/** Takes a machine back out after a failed join, so nothing stays half-joined. Best effort. */
async function undoJoin(joiner: Engine, manager: Engine, reporter: Reporter): Promise<void> {
  reporter.step(`Undoing the partial join of ${joiner.machine.name}`)
  const nodeId = await refreshInfo(joiner).then(
    (i) => i.NodeID,
    () => joiner.info.NodeID,
  )
  const node = await inspectNode(manager, nodeId).catch(() => undefined)
  if (node?.Spec.Role === 'manager') {
    await manager.docker
      .getNode(node.ID)
      .update({_query: {version: node.Version.Index}, _body: {...node.Spec, Role: 'worker'}})
      .catch(() => undefined)
    await until(async () => (localRole(await refreshInfo(joiner)) === 'manager' ? undefined : true), 15_000)
  }
  await joiner.docker.swarmLeave({force: true}).catch(() => undefined)
  if (nodeId)
    await manager.docker
      .getNode(nodeId)
      .remove({force: true})
      .catch(() => undefined)
}

export async function joinSwarm(
  machine: Machine,
  managerMachine: Machine,
  options: JoinOptions,
  reporter: Reporter = silentReporter,
): Promise<SwarmOutcome> {
  const run = () => joinOnce(machine, managerMachine, options, reporter)
  return options.role === 'manager' ? serialRaft(run) : run()
}

async function joinOnce(
  machine: Machine,
  managerMachine: Machine,
  options: JoinOptions,
  reporter: Reporter,
): Promise<SwarmOutcome> {
  const address = advertiseAddress(machine.record.Driver.IPAddress, options.advertiseAddr)
  if (machine.name === managerMachine.name)
    throw new BerthError(`${machine.name} cannot join a swarm through itself`, ExitCode.usage)
  const manager = await requireManager(managerMachine)
  const joiner = await connect(machine)
  const inSwarm = joiner.info.NodeID ? (await inspectNode(manager, joiner.info.NodeID)) !== undefined : false
  const decision = decideJoin(
    machine.name,
    joiner.info,
    inSwarm,
    options.role,
    managerMachine.name,
    options.force === true,
  )
  if (decision.action === 'noop') {
    if (inSwarm) await saveMembership(joiner)
    return {
      machine: machine.name,
      action: 'unchanged',
      role: localRole(joiner.info),
      nodeId: joiner.info.NodeID,
      clusterId: manager.info.Cluster?.ID,
      message: decision.reason,
    }
  }
  const remote = managerAddress(manager)
  reporter.step(`Checking that ${machine.name} reaches ${managerMachine.name} at ${remote}`)
  await checkReachable(machine, remote, managerMachine.name, reporter)
  if (decision.action === 'leave-then-join') {
    reporter.step(decision.reason)
    await leaveSwarm(machine, {force: true}, reporter)
    await refreshInfo(joiner)
  }
  const swarm = (await manager.docker.swarmInspect()) as {
    ID: string
    JoinTokens: {Worker: string; Manager: string}
  }
  const token = options.role === 'manager' ? swarm.JoinTokens.Manager : swarm.JoinTokens.Worker
  reporter.step(`Joining ${managerMachine.name}'s swarm as a ${options.role}`)
  try {
    await joiner.docker.swarmJoin({
      ListenAddr: `0.0.0.0:${SWARM_PORT}`,
      AdvertiseAddr: advertiseWithPort(address),
      RemoteAddrs: [remote],
      JoinToken: token,
    })
  } catch (err) {
    await undoJoin(joiner, manager, reporter)
    throw new BerthError(
      `${machine.name} could not join ${managerMachine.name}'s swarm: ${engineMessage(err)}`,
      ExitCode.failure,
      `swarm mode needs ${SWARM_PORTS_TEXT} open between the machines`,
    )
  }
  reporter.step('Waiting for the node to be Ready')
  const ready = await until(async () => {
    const info = await refreshInfo(joiner)
    if (info.LocalNodeState !== 'active' || !info.NodeID) return undefined
    const node = await inspectNode(manager, info.NodeID)
    if (node?.Status.State !== 'ready') return undefined
    if (
      options.role === 'manager' &&
      (node.ManagerStatus?.Reachability !== 'reachable' || !info.ControlAvailable)
    )
      return undefined
    return node
  }, SETTLE_TIMEOUT_MS)
  if (!ready) {
    await undoJoin(joiner, manager, reporter)
    throw new BerthError(
      `${machine.name} joined ${managerMachine.name}'s swarm but did not become Ready within ${SETTLE_TIMEOUT_MS / 1000}s; it was taken out again`,
      ExitCode.timeout,
      `swarm mode needs ${SWARM_PORTS_TEXT} open between the machines`,
    )
  }
  await saveMembership(joiner, managerMachine.name)
  return {
    machine: machine.name,
    action: 'joined',
    role: options.role,
    clusterId: swarm.ID,
    nodeId: ready.ID,
    message: `${machine.name} joined ${managerMachine.name}'s swarm as a ${options.role}`,
  }
}

// ---------------------------------------------------------------------------------------------
// finding a manager, promote, demote

async function loadMachines(store: Store): Promise<Machine[]> {
  const machines = await Promise.all(
    (await store.names()).map((name) => Machine.open(store, name).catch(() => undefined)),
  )
  return machines.filter((m): m is Machine => m !== undefined)
}

/**
 * A reachable manager of the swarm `member` belongs to, other than `exclude`: the one named, or
 * one of berth's machines among the member's known managers (or recorded as a manager of its cluster).
 */
export async function findManager(
  store: Store,
  member: {name: string; info: SwarmInfo; clusterId?: string},
  options: {exclude?: string; preferred?: Machine} = {},
): Promise<Engine> {
  if (options.preferred) return requireManager(options.preferred)
  const addresses = new Set((member.info.RemoteManagers ?? []).map((m) => hostOf(m.Addr)))
  const cluster = member.info.Cluster?.ID ?? member.clusterId
  const candidates = (await loadMachines(store)).filter(
    (m) =>
      m.name !== options.exclude &&
      m.record.Berth?.Phase === 'provisioned' &&
      (addresses.has(m.record.Driver.IPAddress) ||
        (cluster && m.record.Berth.Swarm?.ClusterID === cluster && m.record.Berth.Swarm.Role === 'manager')),
  )
  const engines = await Promise.all(candidates.map((m) => connect(m, 'manager', 5000).catch(() => undefined)))
  const found = engines.find(
    (e) =>
      e &&
      localRole(e.info) === 'manager' &&
      (!cluster || !e.info.Cluster?.ID || e.info.Cluster.ID === cluster),
  )
  if (!found) {
    throw new BerthError(
      `no reachable manager of ${member.name}'s swarm among berth's machines`,
      ExitCode.failure,
      'name one with --manager',
    )
  }
  return found
}

async function changeRole(
  store: Store,
  machine: Machine,
  role: SwarmRole,
  preferred: Machine | undefined,
  reporter: Reporter,
): Promise<SwarmOutcome> {
  const self = await connect(machine)
  const current = localRole(self.info)
  if (!current) {
    throw new BerthError(
      `${machine.name} is not in a swarm, so it cannot be ${role === 'manager' ? 'promoted' : 'demoted'}`,
      ExitCode.failure,
      `\`berth swarm join ${machine.name} --to MANAGER\` first`,
    )
  }
  if (current === role) {
    await saveMembership(self)
    return {
      machine: machine.name,
      action: 'unchanged',
      role,
      nodeId: self.info.NodeID,
      message: `${machine.name} is already a ${role}; nothing to do`,
    }
  }
  // Demotion goes through another manager when there is one (a manager demoting itself loses its API mid-way).
  let manager: Engine
  try {
    manager = await findManager(
      store,
      {name: machine.name, info: self.info, clusterId: machine.record.Berth.Swarm?.ClusterID},
      {exclude: role === 'worker' ? machine.name : undefined, preferred},
    )
  } catch (err) {
    if (role === 'worker' && !preferred) manager = self
    else throw err
  }
  const node = await inspectNode(manager, self.info.NodeID)
  if (!node)
    throw new BerthError(`${machine.name} is not in ${manager.machine.name}'s swarm`, ExitCode.failure)
  reporter.step(
    `${role === 'manager' ? 'Promoting' : 'Demoting'} ${machine.name} through ${manager.machine.name}`,
  )
  try {
    await manager.docker
      .getNode(node.ID)
      .update({_query: {version: node.Version.Index}, _body: {...node.Spec, Role: role}})
  } catch (err) {
    throw new BerthError(
      `${role === 'manager' ? 'promoting' : 'demoting'} ${machine.name} failed: ${engineMessage(err)}`,
    )
  }
  const settled = await until(async () => {
    if (localRole(await refreshInfo(self)) !== role) return undefined
    if (role === 'worker') return true
    const updated = await inspectNode(manager, node.ID)
    return updated?.ManagerStatus?.Reachability === 'reachable' ? true : undefined
  }, SETTLE_TIMEOUT_MS)
  if (!settled)
    throw new BerthError(
      `${machine.name} did not become a ${role} within ${SETTLE_TIMEOUT_MS / 1000}s`,
      ExitCode.timeout,
    )
  await saveMembership(self)
  return {
    machine: machine.name,
    action: role === 'manager' ? 'promoted' : 'demoted',
    role,
    nodeId: node.ID,
    message: `${machine.name} is now a ${role}`,
  }
}

export function promoteNode(
  store: Store,
  machine: Machine,
  options: {manager?: Machine} = {},
  reporter: Reporter = silentReporter,
): Promise<SwarmOutcome> {
  return serialRaft(() => changeRole(store, machine, 'manager', options.manager, reporter))
}

export function demoteNode(
  store: Store,
  machine: Machine,
  options: {manager?: Machine} = {},
  reporter: Reporter = silentReporter,
): Promise<SwarmOutcome> {
  return serialRaft(() => changeRole(store, machine, 'worker', options.manager, reporter))
}

// ---------------------------------------------------------------------------------------------
// leave

export interface LeaveOptions {
  /** Leave even as the last manager, or when no other manager can demote it first. */
  force?: boolean
  store?: Store
}

/**
 * Takes a machine out of its swarm cleanly: a manager is demoted first through another manager
 * (so the remaining managers keep a correct quorum), then it leaves, then its node is removed
 * from the swarm's node list.
 */
export async function leaveSwarm(
  machine: Machine,
  options: LeaveOptions = {},
  reporter: Reporter = silentReporter,
): Promise<SwarmOutcome> {
  const self = await connect(machine)
  const role = localRole(self.info)
  const state = self.info.LocalNodeState
  if (state === '' || state === 'inactive') {
    await saveMembership(self)
    return {
      machine: machine.name,
      action: 'unchanged',
      message: `${machine.name} is not in a swarm; nothing to do`,
    }
  }
  const nodeId = self.info.NodeID
  let other: Engine | undefined
  if (options.store && state === 'active') {
    other = await findManager(
      options.store,
      {name: machine.name, info: self.info, clusterId: machine.record.Berth?.Swarm?.ClusterID},
      {exclude: machine.name},
    ).catch(() => undefined)
  }
  if (role === 'manager') {
    if (other) {
      await serialRaft(async () => {
        reporter.step(`Demoting ${machine.name} through ${other!.machine.name} before it leaves`)
        const node = await inspectNode(other!, nodeId)
        if (node)
          await other!.docker
            .getNode(nodeId)
            .update({_query: {version: node.Version.Index}, _body: {...node.Spec, Role: 'worker'}})
        await until(
          async () => (localRole(await refreshInfo(self)) === 'worker' ? true : undefined),
          SETTLE_TIMEOUT_MS,
        )
      })
    } else if (!options.force) {
      const last = (self.info.Managers ?? 1) <= 1
      throw new BerthError(
        last
          ? `${machine.name} is the last manager of its swarm; leaving dissolves the swarm`
          : `no other manager of ${machine.name}'s swarm is reachable to demote it first`,
        ExitCode.failure,
        'pass --force to leave anyway',
      )
    }
  }
  reporter.step(`${machine.name} leaves the swarm`)
  try {
    await self.docker.swarmLeave({force: true})
  } catch (err) {
    throw new BerthError(`${machine.name} could not leave its swarm: ${engineMessage(err)}`)
  }
  if (other && nodeId) {
    reporter.step(`Removing ${machine.name}'s node from the swarm`)
    await removeNode(other, nodeId)
  }
  await saveMembership(self)
  return {machine: machine.name, action: 'left', nodeId, message: `${machine.name} left its swarm`}
}

/** Removes a node that has left (or is gone) from a manager's node list; a manager node is demoted first. */
async function removeNode(manager: Engine, nodeId: string): Promise<void> {
  await until(async () => {
    const node = await inspectNode(manager, nodeId)
    if (!node) return true
    if (node.Spec.Role === 'manager') {
      await manager.docker
        .getNode(nodeId)
        .update({_query: {version: node.Version.Index}, _body: {...node.Spec, Role: 'worker'}})
      return undefined
    }
    await manager.docker.getNode(nodeId).remove({force: true})
    return true
  }, 20_000)
}

/** Removes a member's recorded node through another manager of its swarm, for a member that cannot leave itself. */
export async function removeNodeThroughOtherManager(
  store: Store,
  machine: Machine,
  membership: SwarmMembership,
): Promise<void> {
  const info: SwarmInfo = {
    NodeID: membership.NodeID,
    NodeAddr: '',
    LocalNodeState: 'active',
    ControlAvailable: false,
    Error: '',
  }
  const other = await findManager(
    store,
    {name: machine.name, info, clusterId: membership.ClusterID},
    {exclude: machine.name},
  )
  await serialRaft(() => removeNode(other, membership.NodeID))
}

// ---------------------------------------------------------------------------------------------
// listing

export interface SwarmListing {
  clusterId: string
  manager: string
  nodes: NodeRow[]
}

async function listThrough(store: Store, manager: Engine): Promise<SwarmListing> {
  const nodes = (await manager.docker.listNodes()) as SwarmNode[]
  const machines = (await loadMachines(store)).map((m) => ({name: m.name, ip: m.record.Driver.IPAddress}))
  return {
    clusterId: manager.info.Cluster?.ID ?? '',
    manager: manager.machine.name,
    nodes: nodeRows(nodes, machines),
  }
}

/**
 * The nodes of the swarm `name` belongs to (through a manager, found from a worker if need be),
 * or, without a name, of every swarm that berth's machines manage.
 */
export async function listSwarms(store: Store, name?: string): Promise<SwarmListing[]> {
  if (name) {
    const machine = await Machine.open(store, name)
    const self = await connect(machine)
    const role = localRole(self.info)
    if (!role)
      throw new BerthError(
        `${name} is not in a swarm`,
        ExitCode.failure,
        `\`berth swarm init ${name}\` starts one`,
      )
    const manager =
      role === 'manager'
        ? self
        : await findManager(store, {name, info: self.info, clusterId: machine.record.Berth.Swarm?.ClusterID})
    return [await listThrough(store, manager)]
  }
  const machines = (await loadMachines(store)).filter((m) => m.record.Berth?.Phase === 'provisioned')
  const engines = await Promise.all(machines.map((m) => connect(m, 'machine', 5000).catch(() => undefined)))
  const byCluster = new Map<string, Engine>()
  for (const engine of engines) {
    if (
      engine &&
      localRole(engine.info) === 'manager' &&
      engine.info.Cluster?.ID &&
      !byCluster.has(engine.info.Cluster.ID)
    ) {
      byCluster.set(engine.info.Cluster.ID, engine)
    }
  }
  return Promise.all([...byCluster.values()].map((manager) => listThrough(store, manager)))
}

/** The SWARM column of `ls` for a machine whose `/info` is known: asks a manager's own node for leadership. */
export async function swarmLabel(
  record: MachineRecord,
  info: SwarmInfo | undefined,
  timeoutMs: number,
): Promise<string> {
  if (localRole(info) !== 'manager') return roleLabel(info)
  try {
    const docker = await engineClient(record, timeoutMs)
    const node = (await withTimeout(
      docker.getNode(info!.NodeID).inspect(),
      timeoutMs,
      'node inspect',
    )) as SwarmNode
    return roleLabel(info, node.ManagerStatus?.Leader === true)
  } catch {
    return roleLabel(info)
  }
}
