/**
 * The agent as a swarm global service (one task per node), made through a manager's engine API
 * over mutual TLS. The password, token and CA reach the tasks as swarm secrets, files under
 * /run/secrets: never in the service's Env, argv, logs or machine records. Swarm pulls images and
 * there is no registry here, so the image berth builds is loaded into every node's engine first.
 *
 * The agent does not share the host's PID namespace: it reads container processes
 * (/proc/<pid>/cgroup, /proc/<pid>/net/dev) through the host's /proc bind-mounted at /host/proc,
 * where the engine's host PIDs are valid. As on a single machine, it runs without privileges and
 * reaches the engine only through the API filter, here a global service of its own
 * (berth-agent-api) whose task on each node shares its socket through a local volume.
 */
import {createHash} from 'node:crypto'
import type Docker from 'dockerode'
import type {InfluxSecrets} from '../../../agent/src/influx.js'
import {engineClient} from '../engine/engine.js'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import {Machine, type Reporter} from '../machine/machine.js'
import type {Store} from '../store/store.js'
import {poll} from '../poll.js'
import {DEFAULT_AGENT_LIMITS} from './limits.js'
import {nodeRows, type NodeRow, type SwarmNode} from '../swarm/model.js'
import {requireManager, type Engine} from '../swarm/swarm.js'
import {
  AGENT_API_CONTAINER,
  AGENT_API_SOCKET,
  AGENT_API_VOLUME,
  AGENT_CONTAINER,
  AGENT_SERVICE,
  AGENT_VOLUME,
  agentEnv,
  type AgentStatus,
  API_FILTER_LIMITS,
  API_FILTER_USER,
  ensureImage,
  type InstallOptions,
  LABEL,
  prepareStateVolume,
  type SecretPaths,
  statusOf,
} from './agent.js'
import {engineMessage, isNotFound} from '../engine/helpers.js'
import {AGENT_API_DIR, AGENT_STATE_DIR, AGENT_UID, AGENT_USER, type AgentImage} from './image.js'

/** The API filter's global service: one task per node, holding that node's engine socket. */
export const AGENT_API_SERVICE = AGENT_API_CONTAINER

const SECRETS_DIR = '/run/secrets'
const SWARM_SECRET_FILES: SecretPaths = {
  password: 'berth-agent-password',
  token: 'berth-agent-token',
  ca: 'berth-agent-ca.pem',
}
const SWARM_SECRET_PATHS: SecretPaths = {
  password: `${SECRETS_DIR}/${SWARM_SECRET_FILES.password}`,
  token: `${SECRETS_DIR}/${SWARM_SECRET_FILES.token}`,
  ca: `${SECRETS_DIR}/${SWARM_SECRET_FILES.ca}`,
}
const SPEC_LABEL = `${LABEL}.spec`
const CONVERGE_TIMEOUT_MS = 90_000

export type SecretKind = keyof SecretPaths

/** A swarm secret the service mounts. */
export interface SecretRef {
  kind: SecretKind
  id: string
  name: string
}

interface Mount {
  Type: 'bind' | 'volume'
  Source: string
  Target: string
  ReadOnly?: boolean
}

/** The parts of a service spec berth sets (the Engine API's ServiceSpec). */
export interface AgentServiceSpec {
  Name: string
  Labels: Record<string, string>
  TaskTemplate: {
    ContainerSpec: {
      Image: string
      Args?: string[]
      Env: string[]
      User: string
      ReadOnly: true
      CapabilityDrop: string[]
      /** Engine API 1.46+; older engines leave it out (the user has no capabilities and the image no setuid files). */
      Privileges: {NoNewPrivileges: true}
      Labels: Record<string, string>
      Mounts: Mount[]
      Secrets: {
        SecretID: string
        SecretName: string
        File: {Name: string; UID: string; GID: string; Mode: number}
      }[]
    }
    Resources: {Limits: {MemoryBytes: number; Pids: number}}
    RestartPolicy: {Condition: 'any'; Delay: number}
    Networks?: {Target: string}[]
    LogDriver: {Name: string; Options: Record<string, string>}
  }
  Mode: {Global: Record<string, never>}
  UpdateConfig: {Parallelism: number; Order: 'stop-first'; FailureAction: 'continue'}
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/**
 * A secret's name: a digest of its value (salted with the cluster ID), never the value, so the same
 * value reuses its secret and a new value makes a new one (swarm secrets cannot change in place).
 */
export function secretName(clusterId: string, kind: SecretKind, value: string): string {
  return `berth-agent-${kind}-${sha256(`${clusterId}\0${kind}\0${value}`).slice(0, 16)}`
}

/** The secrets the settings need, by kind (the CA is not secret, but it travels the same way). */
export function secretValues(secrets: InfluxSecrets): [SecretKind, string][] {
  return (
    [
      ['password', secrets.password],
      ['token', secrets.token],
      ['ca', secrets.ca],
    ] as const
  ).filter((entry): entry is [SecretKind, string] => entry[1] !== undefined)
}

/**
 * The global service: the same container as `agent install` runs per machine, as far as swarm
 * allows (see the file's comment). Its digest, in a label, tells a reinstall whether anything changed.
 */
export function globalServiceSpec(
  options: InstallOptions,
  secrets: InfluxSecrets,
  refs: SecretRef[],
  image: string,
  version: string,
): AgentServiceSpec {
  return globalService(
    AGENT_SERVICE,
    version,
    {
      Image: image,
      // Swarm expands the template per task: berth provisions each machine's hostname as its name.
      Env: agentEnv('{{.Node.Hostname}}', options, secrets, SWARM_SECRET_PATHS),
      User: AGENT_USER,
      Mounts: [
        {Type: 'bind', Source: '/sys/fs/cgroup', Target: '/host/sys/fs/cgroup', ReadOnly: true},
        {Type: 'bind', Source: '/proc', Target: '/host/proc', ReadOnly: true},
        // Only to statfs the host's mounts (agent/src/disk.ts).
        {Type: 'bind', Source: '/', Target: '/host/root', ReadOnly: true},
        {Type: 'volume', Source: AGENT_VOLUME, Target: AGENT_STATE_DIR},
        {Type: 'volume', Source: AGENT_API_VOLUME, Target: AGENT_API_DIR, ReadOnly: true},
      ],
      Secrets: refs.map((ref) => ({
        SecretID: ref.id,
        SecretName: ref.name,
        File: {
          Name: SWARM_SECRET_FILES[ref.kind],
          UID: String(AGENT_UID),
          GID: String(AGENT_UID),
          Mode: 0o400,
        },
      })),
    },
    options.limits ?? DEFAULT_AGENT_LIMITS,
    'host',
  )
}

/** The API filter as a global service: the only holder of each node's engine socket, with no network. */
export function apiFilterServiceSpec(image: string, version: string): AgentServiceSpec {
  return globalService(
    AGENT_API_SERVICE,
    version,
    {
      Image: image,
      Args: ['proxy'],
      Env: [`BERTH_AGENT_PROXY_LISTEN=${AGENT_API_SOCKET}`],
      User: API_FILTER_USER,
      Mounts: [
        {Type: 'bind', Source: '/var/run/docker.sock', Target: '/var/run/docker.sock'},
        {Type: 'volume', Source: AGENT_API_VOLUME, Target: AGENT_API_DIR},
      ],
      Secrets: [],
      // Swarm cannot attach a service to the node-local network `none` (20.10 answers "network none
      // not found"), so the task has the default network; it listens on its unix socket only.
    },
    API_FILTER_LIMITS,
  )
}

type ContainerSpec = AgentServiceSpec['TaskTemplate']['ContainerSpec']

/** A global service of berth's agent: no capabilities, no-new-privileges, read-only root, limits, restart any. */
function globalService(
  name: string,
  version: string,
  container: Omit<ContainerSpec, 'ReadOnly' | 'CapabilityDrop' | 'Privileges' | 'Labels'>,
  limits: {memoryBytes: number; pids: number},
  network?: 'host',
): AgentServiceSpec {
  const labels = () => ({[LABEL]: 'true', [`${LABEL}.version`]: version})
  return withDigest({
    Name: name,
    Labels: labels(),
    TaskTemplate: {
      ContainerSpec: {
        ...container,
        ReadOnly: true,
        CapabilityDrop: ['ALL'],
        Privileges: {NoNewPrivileges: true},
        Labels: labels(),
      },
      Resources: {Limits: {MemoryBytes: limits.memoryBytes, Pids: limits.pids}},
      RestartPolicy: {Condition: 'any', Delay: 5_000_000_000},
      ...(network ? {Networks: [{Target: network}]} : {}),
      LogDriver: {Name: 'json-file', Options: {'max-size': '10m', 'max-file': '2'}},
    },
    Mode: {Global: {}},
    UpdateConfig: {Parallelism: 0, Order: 'stop-first', FailureAction: 'continue'},
  })
}

/** A digest of the spec, in a label, tells a reinstall whether anything changed. */
function withDigest(spec: AgentServiceSpec): AgentServiceSpec {
  const digest = sha256(JSON.stringify(spec)).slice(0, 16)
  spec.Labels[SPEC_LABEL] = digest
  spec.TaskTemplate.ContainerSpec.Labels[SPEC_LABEL] = digest
  return spec
}

interface Task {
  ID: string
  NodeID: string
  DesiredState: string
  Spec: {ContainerSpec?: {Labels?: Record<string, string>}}
  Status: {State: string; Err?: string; Message?: string; ContainerStatus?: {ContainerID?: string}}
}

interface Service {
  ID: string
  Version: {Index: number}
  Spec: {Labels?: Record<string, string>; TaskTemplate?: {ContainerSpec?: {Secrets?: {SecretID: string}[]}}}
}

interface Swarm {
  manager: Engine
  nodes: NodeRow[]
  /** Engines of the ready nodes that are berth's machines, by machine name. */
  engines: Map<string, Docker>
}

/** The manager (a one-line error when it is not one), its nodes mapped to berth's machines, and their engines. */
async function openSwarm(store: Store, managerName: string, timeoutMs: number): Promise<Swarm> {
  const manager = await requireManager(await Machine.open(store, managerName))
  const machines = await Promise.all(
    (await store.names()).map((name) =>
      store.load(name).then(
        (r) => ({name, ip: r.Driver.IPAddress, record: r}),
        () => undefined,
      ),
    ),
  )
  const known = machines.filter((m) => m !== undefined)
  const nodes = nodeRows((await manager.docker.listNodes()) as SwarmNode[], known)
  const engines = new Map<string, Docker>()
  await Promise.all(
    nodes
      .filter((n) => n.machine && n.status === 'ready')
      .map(async (n) => {
        engines.set(n.machine, await engineClient(known.find((m) => m.name === n.machine)!.record, timeoutMs))
      }),
  )
  return {manager, nodes, engines}
}

async function findService(docker: Docker, name = AGENT_SERVICE): Promise<Service | undefined> {
  try {
    return (await docker.getService(name).inspect()) as Service
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw err
  }
}

async function agentSecrets(docker: Docker): Promise<{ID: string; Spec: {Name: string}}[]> {
  return (await docker.listSecrets({filters: {label: [`${LABEL}=true`]}})) as {
    ID: string
    Spec: {Name: string}
  }[]
}

/** The secrets for the settings: existing ones when the values are unchanged, new ones otherwise. */
async function ensureSecrets(
  docker: Docker,
  clusterId: string,
  secrets: InfluxSecrets,
  reporter: Reporter,
): Promise<{refs: SecretRef[]; created: string[]}> {
  const existing = await agentSecrets(docker)
  const refs: SecretRef[] = []
  const created: string[] = []
  for (const [kind, value] of secretValues(secrets)) {
    const name = secretName(clusterId, kind, value)
    let id = existing.find((s) => s.Spec.Name === name)?.ID
    if (!id) {
      reporter.step(`creating the swarm secret ${name}`)
      const answer = (await docker.createSecret({
        Name: name,
        Labels: {[LABEL]: 'true'},
        Data: Buffer.from(value).toString('base64'),
      })) as {ID?: string; id?: string}
      id = answer.ID ?? answer.id!
      created.push(id)
    }
    refs.push({kind, id, name})
  }
  return {refs, created}
}

/** Removes berth's agent secrets other than `keep`, waiting while old tasks still hold them. */
async function removeSecrets(docker: Docker, keep: Set<string>, timeoutMs: number): Promise<void> {
  let failed: string[] = []
  await poll(
    async () => {
      const left = (await agentSecrets(docker)).filter((s) => !keep.has(s.ID))
      failed = []
      for (const secret of left) {
        await docker
          .getSecret(secret.ID)
          .remove()
          .catch((err: unknown) => {
            if (!isNotFound(err)) failed.push(`${secret.Spec.Name}: ${engineMessage(err)}`)
          })
      }
      return failed.length === 0 ? true : undefined
    },
    {
      timeoutMs,
      retryable: () => false,
      onTimeout: () => {
        throw new BerthError(`could not remove the old agent secrets: ${failed.join('; ')}`)
      },
    },
  )
}

async function serviceTasks(docker: Docker): Promise<Task[]> {
  return (await docker.listTasks({filters: {service: [AGENT_SERVICE]}})) as Task[]
}

/** Waits until every ready node runs a task of this spec; a one-line error naming the nodes that do not. */
async function converge(swarm: Swarm, digest: string): Promise<Map<string, Task>> {
  const ready = swarm.nodes.filter((n) => n.status === 'ready' && n.availability === 'active')
  let tasks: Task[] = []
  let missing = ready
  return poll(
    async () => {
      tasks = (await serviceTasks(swarm.manager.docker)).filter(
        (t) => t.DesiredState === 'running' && t.Spec.ContainerSpec?.Labels?.[SPEC_LABEL] === digest,
      )
      const byNode = new Map(tasks.filter((t) => t.Status.State === 'running').map((t) => [t.NodeID, t]))
      missing = ready.filter((n) => !byNode.has(n.id))
      return missing.length === 0 ? byNode : undefined
    },
    {
      timeoutMs: CONVERGE_TIMEOUT_MS,
      retryable: () => false,
      onTimeout: () => {
        const why = missing.map((n) => {
          const task = tasks.find((t) => t.NodeID === n.id)
          return `${n.machine || n.hostname}: ${task ? `${task.Status.State}${task.Status.Err ? ` (${oneLine(task.Status.Err)})` : ''}` : 'no task'}`
        })
        throw new BerthError(
          `the agent service did not run on every node within ${CONVERGE_TIMEOUT_MS / 1000}s: ${why.join('; ')}`,
          ExitCode.timeout,
        )
      },
    },
  )
}

/** The agent's status on each node: the task's state and, where the node is a berth machine, the agent's own health. */
async function nodeStatuses(swarm: Swarm, tasks: Map<string, Task>): Promise<GlobalAgentStatus[]> {
  return Promise.all(
    swarm.nodes.map(async (node): Promise<GlobalAgentStatus> => {
      const task = tasks.get(node.id)
      const base = {
        name: node.machine || node.hostname,
        node: node.hostname,
        installed: task !== undefined,
        running: false,
        state: task?.Status.State ?? 'no task',
        task: task?.ID,
      }
      const engine = swarm.engines.get(node.machine)
      const containerId = task?.Status.ContainerStatus?.ContainerID
      if (!task || !engine || !containerId) return {...base, lastError: task?.Status.Err}
      // The first write (or its failure) takes one flush; wait a little for a verdict, as `agent install` does.
      let last: AgentStatus | undefined
      const status = await poll(
        async () => {
          const status = (last = await statusOf(engine, base.name, containerId))
          return status.health && status.health !== 'starting' && status.health !== 'unknown'
            ? status
            : undefined
        },
        {timeoutMs: 20_000, intervalMs: 500, retryable: () => false, onTimeout: () => last!},
      )
      return {...status, ...base, running: status.running}
    }),
  )
}

export interface GlobalAgentStatus extends AgentStatus {
  /** The swarm node's hostname. */
  node: string
  task?: string
}

export interface GlobalInstallOutcome {
  service: string
  action: 'created' | 'updated' | 'unchanged'
  nodes: GlobalAgentStatus[]
}

/**
 * Creates or updates the global agent service in the swarm `managerName` manages. Nothing is
 * changed when the spec (settings, secrets, image, version) is the one already deployed.
 */
export async function installGlobalAgent(
  store: Store,
  managerName: string,
  options: InstallOptions,
  secrets: InfluxSecrets,
  image: () => Promise<AgentImage>,
  version: string,
  reporter: Reporter,
): Promise<GlobalInstallOutcome> {
  return store.withLock(managerName, 'berth agent install --global', async () => {
    const swarm = await openSwarm(store, managerName, 120_000)
    const strangers = swarm.nodes.filter((n) => n.status === 'ready' && !n.machine)
    if (strangers.length > 0 && !options.image) {
      throw new BerthError(
        `swarm node ${strangers[0]!.hostname} is not one of berth's machines, so berth cannot load the agent image into it`,
        ExitCode.usage,
        'pass --image with an image every node can pull',
      )
    }
    // One agent per host: a per-machine agent would write every point twice.
    for (const [name, docker] of swarm.engines) {
      const standalone = await docker
        .getContainer(AGENT_CONTAINER)
        .inspect()
        .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)))
      if (standalone)
        throw new BerthError(
          `${name} runs the per-machine agent`,
          ExitCode.failure,
          `\`berth agent rm ${name}\` first`,
        )
    }
    const loaded = await Promise.all(
      [...swarm.engines].map(([name, docker]) =>
        ensureImage(docker, options, image, {step: (message) => reporter.step(`${name}: ${message}`)}),
      ),
    )
    const imageRef = loaded[0] ?? options.image ?? (await image()).id
    const docker = swarm.manager.docker
    await Promise.all([...swarm.engines.values()].map((engine) => prepareStateVolume(engine, imageRef)))
    const filterSpec = apiFilterServiceSpec(imageRef, version)
    const filter = await findService(docker, AGENT_API_SERVICE)
    try {
      if (!filter) await docker.createService(filterSpec as Docker.CreateServiceOptions)
      else if (filter.Spec.Labels?.[SPEC_LABEL] !== filterSpec.Labels[SPEC_LABEL])
        await docker
          .getService(filter.ID)
          .update({_query: {version: filter.Version.Index}, _body: filterSpec})
    } catch (err) {
      throw new BerthError(
        `${filter ? 'updating' : 'creating'} the API filter service through ${managerName} failed: ${engineMessage(err)}`,
      )
    }
    const existing = await findService(docker)
    const {refs: secretRefs, created} = await ensureSecrets(
      docker,
      swarm.manager.info.Cluster?.ID ?? '',
      secrets,
      reporter,
    )
    const spec = globalServiceSpec(options, secrets, secretRefs, imageRef, version)
    const digest = spec.Labels[SPEC_LABEL]!
    let action: GlobalInstallOutcome['action'] = 'unchanged'
    try {
      if (!existing) {
        reporter.step(`creating the global service ${AGENT_SERVICE}`)
        await docker.createService(spec as Docker.CreateServiceOptions)
        action = 'created'
      } else if (existing.Spec.Labels?.[SPEC_LABEL] !== digest) {
        reporter.step(`updating the global service ${AGENT_SERVICE}`)
        await docker.getService(existing.ID).update({_query: {version: existing.Version.Index}, _body: spec})
        action = 'updated'
      }
    } catch (err) {
      await removeSecrets(
        docker,
        new Set((existing?.Spec.TaskTemplate?.ContainerSpec?.Secrets ?? []).map((s) => s.SecretID)),
        0,
      ).catch(() => undefined)
      throw new BerthError(
        `${existing ? 'updating' : 'creating'} the agent service through ${managerName} failed: ${engineMessage(err)}`,
      )
    }
    reporter.step('waiting for a task on every node')
    const tasks = await converge(swarm, digest)
    // Rotation: the old secrets go once no task uses them.
    if (action !== 'unchanged' || created.length > 0)
      await removeSecrets(docker, new Set(secretRefs.map((r) => r.id)), 30_000)
    reporter.step('waiting for the agents to report')
    return {service: AGENT_SERVICE, action, nodes: await nodeStatuses(swarm, tasks)}
  })
}

/** The global service's task on each node of the swarm `managerName` manages, with the agents' health. */
export async function globalAgentStatus(store: Store, managerName: string): Promise<GlobalAgentStatus[]> {
  const swarm = await openSwarm(store, managerName, 20_000)
  if (!(await findService(swarm.manager.docker))) {
    throw new BerthError(
      `${managerName}'s swarm has no global agent service`,
      ExitCode.failure,
      `\`berth agent install --global ${managerName} ...\` deploys one`,
    )
  }
  const tasks = (await serviceTasks(swarm.manager.docker)).filter((t) => t.DesiredState === 'running')
  // The newest state per node: a running task, else the one being started.
  const byNode = new Map<string, Task>()
  for (const task of tasks)
    if (!byNode.has(task.NodeID) || task.Status.State === 'running') byNode.set(task.NodeID, task)
  return nodeStatuses(swarm, byNode)
}

/** Removes the global service, its secrets and, on berth's machines, the agent's state volume. */
export async function removeGlobalAgent(
  store: Store,
  managerName: string,
  reporter: Reporter,
): Promise<{service: string; removed: boolean}> {
  return store.withLock(managerName, 'berth agent rm --global', async () => {
    const swarm = await openSwarm(store, managerName, 60_000)
    const docker = swarm.manager.docker
    const service = await findService(docker)
    if (service) {
      reporter.step(`removing the global service ${AGENT_SERVICE}`)
      await docker.getService(service.ID).remove()
    }
    const filter = await findService(docker, AGENT_API_SERVICE)
    if (filter) await docker.getService(filter.ID).remove()
    reporter.step('removing the agent secrets')
    await removeSecrets(docker, new Set(), 60_000)
    // The task containers go asynchronously; their volumes can go after them.
    await Promise.all(
      [...swarm.engines].flatMap(([name, engine]) =>
        [AGENT_VOLUME, AGENT_API_VOLUME].map(async (volume) => {
          await poll(
            async () => {
              await engine.getVolume(volume).remove()
              return true
            },
            {
              timeoutMs: 30_000,
              retryable: (err) => !isNotFound(err),
              onTimeout: ({lastError}) => {
                throw new BerthError(
                  `the agent's volume ${volume} on ${name} is still in use: ${engineMessage(lastError)}`,
                )
              },
            },
          ).catch((err: unknown) => {
            if (!isNotFound(err)) throw err
          })
        }),
      ),
    )
    return {service: AGENT_SERVICE, removed: service !== undefined}
  })
}
