/**
 * The agent on berth's machines: one container per machine, run through the machine's engine API
 * over mutual TLS. The InfluxDB password or token is copied into the container as a file before it
 * starts: it is never in argv, the environment (`docker inspect`), logs or the machine record.
 *
 * Least privilege: the agent parses what containers write, so it runs as a user of its own with no
 * capabilities, no-new-privileges, a read-only root filesystem, memory and pids limits, and no
 * Docker socket. It reaches the engine only through the API filter (apiproxy.ts), a second
 * container with nothing else to do that holds the socket and lets through the few GETs the agent
 * makes; the two share the filter's unix socket on a volume of their own.
 */
import {createReadStream} from 'node:fs'
import {PassThrough} from 'node:stream'
import type Docker from 'dockerode'
import type {InfluxConnection, InfluxSecrets} from '../../../agent/src/influx.js'
import {redactUrl} from '../../../agent/src/url.js'
import {demuxedText, engineClient} from '../engine/engine.js'
import {followProgress, isNotFound, removeContainer} from '../engine/helpers.js'
import {tarArchive} from '../archive/tar.js'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import {insecureRefusal} from '../http.js'
import {readSecretFile} from '../secret-file.js'
import {DEFAULT_AGENT_LIMITS, heapLimitMiB, type AgentLimits} from './limits.js'
import type {Reporter} from '../machine/machine.js'
import {poll} from '../poll.js'
import type {Store} from '../store/store.js'
import {
  AGENT_API_DIR,
  AGENT_ENTRYPOINT,
  AGENT_SECRET_DIR,
  AGENT_STATE_DIR,
  AGENT_UID,
  AGENT_USER,
  type AgentImage,
} from './image.js'

export const AGENT_CONTAINER = 'berth-agent'
/** The Docker API filter next to the agent, and the volume where it shares its socket. */
export const AGENT_API_CONTAINER = 'berth-agent-api'
export const AGENT_API_VOLUME = 'berth-agent-api'
/** The agent's secret files, on a volume (the root filesystem is read-only). */
export const AGENT_SECRETS_VOLUME = 'berth-agent-secrets'
/** The filter's socket as the agent sees it. */
export const AGENT_API_SOCKET = `${AGENT_API_DIR}/docker.sock`
export const API_FILTER_LIMITS = {memoryBytes: 128 * 1024 * 1024, pids: 64}
/** The filter runs as root (the engine's socket is root's) with the agent's group, which its socket is shared with. */
export const API_FILTER_USER = `0:${AGENT_UID}`
/** The swarm global service of `agent install --global`. */
export const AGENT_SERVICE = 'berth-agent'
/** Checkpoints, the events position and the spool: kept across reinstalls so nothing is lost or repeated. */
export const AGENT_VOLUME = 'berth-agent-state'
export const LABEL = 'io.berth.agent'
/** The agent's log-line cap, set by `agent install --max-line-bytes` (agent/src/config.ts reads it). */
export const MAX_LINE_ENV = 'BERTH_AGENT_MAX_LINE_BYTES'

/** Where the agent finds each secret file inside its container. */
export interface SecretPaths {
  password: string
  token: string
  ca: string
}

const CONTAINER_SECRET_PATHS: SecretPaths = {
  password: `${AGENT_SECRET_DIR}/password`,
  token: `${AGENT_SECRET_DIR}/token`,
  ca: `${AGENT_SECRET_DIR}/ca.pem`,
}

/** The files holding a connection's secrets, named on the command line and read once by prepareInflux. */
export interface InfluxSecretFiles {
  passwordFile?: string
  tokenFile?: string
  caFile?: string
}

export interface InstallOptions {
  influx: InfluxConnection
  /** An image the machines pull themselves; default: berth builds one and loads it. */
  image?: string
  intervalSeconds?: number
  /** Memory and pids of the agent's container, its log-line cap; default DEFAULT_AGENT_LIMITS. */
  limits?: AgentLimits
  /** Extra BERTH_AGENT_* settings (tuning). */
  env?: Record<string, string>
}

/**
 * Checks the connection as a whole (one-line errors, exit 2) and reads the secret files, before any
 * machine is touched. A password or token goes over plain http only with `allowInsecure`.
 */
export async function prepareInflux(
  settings: InfluxConnection,
  files: InfluxSecretFiles,
  {allowInsecure = false}: {allowInsecure?: boolean} = {},
): Promise<InfluxSecrets> {
  let url: URL
  try {
    url = new URL(settings.url)
  } catch {
    throw new BerthError(`--influx-url is not a URL: ${redactUrl(settings.url)}`, ExitCode.usage)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new BerthError(`--influx-url must be http or https, not ${url.protocol}`, ExitCode.usage)
  if (url.username || url.password)
    throw new BerthError(
      '--influx-url must not carry credentials',
      ExitCode.usage,
      'use --influx-username with --influx-password-file, or --token-file',
    )
  const v2 = settings.bucket !== undefined
  if (v2 && settings.database)
    throw new BerthError('--database (InfluxDB 1.x) and --bucket (v2 API) exclude each other', ExitCode.usage)
  if (!v2 && !settings.database)
    throw new BerthError(
      'say where to write: --database NAME, or --bucket NAME --org ORG --token-file FILE',
      ExitCode.usage,
    )
  if (v2 && (!settings.org || !files.tokenFile))
    throw new BerthError('--bucket needs --org and --token-file', ExitCode.usage)
  if (files.passwordFile && !settings.username)
    throw new BerthError('--influx-password-file needs --influx-username', ExitCode.usage)
  // With --database a token is sent as `Authorization: Token` to /write (InfluxDB 3, 2.x's v1 API).
  if (files.tokenFile && settings.username)
    throw new BerthError(
      '--token-file and --influx-username exclude each other',
      ExitCode.usage,
      'a token needs no user',
    )
  const secrets = {
    password: files.passwordFile ? await readSecretFile(files.passwordFile, 'password') : undefined,
    token: files.tokenFile ? await readSecretFile(files.tokenFile, 'token') : undefined,
    ca: files.caFile ? await readSecretFile(files.caFile, 'CA', undefined, true) : undefined,
  }
  if (url.protocol === 'http:' && (secrets.password || secrets.token) && !allowInsecure)
    throw insecureRefusal('--influx-url', secrets.token ? 'token' : 'password', '--influx-ca-file')
  return secrets
}

export interface AgentStatus {
  name: string
  installed: boolean
  running: boolean
  /** The container's state (running, restarting, exited), or "not installed". */
  state: string
  version?: string
  /** The agent's own view: ok, error, starting. */
  health?: string
  influxUrl?: string
  lastWriteAt?: string | null
  pointsWritten?: number
  pointsSpooled?: number
  pointsDropped?: number
  pointsRejected?: number
  pointsInvalid?: number
  linesTruncated?: number
  labelsDropped?: number
  rssBytes?: number
  spoolBytes?: number
  lagMs?: number
  lastError?: string
  /** Set when the agent here is a task of this swarm service rather than the berth-agent container. */
  service?: string
  /** What the agent container may do, as its engine reports it. */
  privileges?: AgentPrivileges
}

export interface AgentPrivileges {
  user: string
  /** Capabilities dropped ("ALL") and added. */
  capDrop: string[]
  capAdd: string[]
  noNewPrivileges: boolean
  readOnlyRootfs: boolean
  privileged: boolean
  pidMode: string
  networkMode: string
  memoryBytes: number
  pidsLimit: number
  /** The longest log line written whole (longer ones are cut and marked truncated). */
  maxLineBytes: number
  /** The engine's socket mounted into the agent (never, with the filter). */
  dockerSocket: boolean
  /** The API filter's container state, or "none". */
  apiFilter: string
}

/** The agent's environment: settings and the paths of its secret files, never a secret itself. */
export function agentEnv(
  host: string,
  options: InstallOptions,
  secrets: InfluxSecrets,
  paths: SecretPaths = CONTAINER_SECRET_PATHS,
): string[] {
  const influx = options.influx
  const limits = options.limits ?? DEFAULT_AGENT_LIMITS
  const env: Record<string, string | undefined> = {
    BERTH_AGENT_INFLUX_URL: influx.url,
    BERTH_AGENT_DATABASE: influx.database,
    BERTH_AGENT_RETENTION_POLICY: influx.retentionPolicy,
    BERTH_AGENT_USERNAME: influx.username,
    BERTH_AGENT_BUCKET: influx.bucket,
    BERTH_AGENT_ORG: influx.org,
    BERTH_AGENT_PASSWORD_FILE: secrets.password ? paths.password : undefined,
    BERTH_AGENT_TOKEN_FILE: secrets.token ? paths.token : undefined,
    BERTH_AGENT_CA_FILE: secrets.ca ? paths.ca : undefined,
    BERTH_AGENT_HOST: host,
    BERTH_AGENT_INTERVAL: options.intervalSeconds ? String(options.intervalSeconds) : undefined,
    BERTH_AGENT_DOCKER_SOCKET: AGENT_API_SOCKET,
    NODE_OPTIONS: `--max-old-space-size=${heapLimitMiB(limits.memoryBytes)}`,
    ...options.env,
    [MAX_LINE_ENV]: String(limits.maxLineBytes),
  }
  return Object.entries(env)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${v}`)
}

/** A tar of the secret files (0400, the agent's) for PUT /containers/{id}/archive into AGENT_SECRET_DIR (a volume). */
async function secretsArchive(secrets: InfluxSecrets): Promise<Buffer | undefined> {
  const files = Object.entries({
    password: secrets.password,
    token: secrets.token,
    'ca.pem': secrets.ca,
  }).filter(([, v]) => v !== undefined)
  if (files.length === 0) return undefined
  return tarArchive(
    files.map(([name, value]) => ({
      name,
      content: value + '\n',
      mode: 0o400,
      uid: AGENT_UID,
      gid: AGENT_UID,
    })),
  )
}

async function removeVolume(docker: Docker, name: string): Promise<void> {
  try {
    await docker.getVolume(name).remove()
  } catch (err) {
    if (!isNotFound(err)) throw err
  }
}

/** The agent's container settings that take its privileges away (the same in the swarm service). */
const UNPRIVILEGED = {CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'], ReadonlyRootfs: true}
const LOG_CONFIG = {Type: 'json-file', Config: {'max-size': '10m', 'max-file': '2'}}

/**
 * A state volume written by an older agent (root's files) is given to the agent's user by a
 * one-off container that may only read folders and change owners (CAP_DAC_READ_SEARCH, CAP_CHOWN),
 * and has no network.
 */
export async function prepareStateVolume(docker: Docker, image: string): Promise<void> {
  const exists = await docker
    .getVolume(AGENT_VOLUME)
    .inspect()
    .then(
      () => true,
      (err: unknown) => (isNotFound(err) ? false : Promise.reject(err)),
    )
  if (!exists) return // a new volume takes the image's folder, which is the agent's already
  const container = await docker.createContainer({
    Image: image,
    User: '0:0',
    Cmd: ['prepare-state', AGENT_USER],
    Labels: {[LABEL]: 'true'},
    HostConfig: {
      ...UNPRIVILEGED,
      CapAdd: ['CHOWN', 'DAC_READ_SEARCH'],
      NetworkMode: 'none',
      Binds: [`${AGENT_VOLUME}:${AGENT_STATE_DIR}`],
    },
  } as Docker.ContainerCreateOptions)
  try {
    await container.start()
    const {StatusCode: code} = (await container.wait()) as {StatusCode: number}
    if (code !== 0)
      throw new BerthError(
        `giving the agent's state volume to its user failed: ${await lastLogLine(container)}`,
      )
  } finally {
    await container.remove({force: true}).catch(() => undefined)
  }
}

/** The API filter: the only holder of the engine's socket, with no network and nothing else to do. */
async function startApiFilter(docker: Docker, image: string, version: string): Promise<void> {
  const container = await docker.createContainer({
    name: AGENT_API_CONTAINER,
    Image: image,
    User: API_FILTER_USER,
    Cmd: ['proxy'],
    Env: [`BERTH_AGENT_PROXY_LISTEN=${AGENT_API_SOCKET}`],
    Labels: {[LABEL]: 'true', [`${LABEL}.version`]: version},
    HostConfig: {
      ...UNPRIVILEGED,
      NetworkMode: 'none',
      Memory: API_FILTER_LIMITS.memoryBytes,
      MemorySwap: API_FILTER_LIMITS.memoryBytes,
      PidsLimit: API_FILTER_LIMITS.pids,
      RestartPolicy: {Name: 'unless-stopped'},
      Binds: ['/var/run/docker.sock:/var/run/docker.sock', `${AGENT_API_VOLUME}:${AGENT_API_DIR}`],
      LogConfig: LOG_CONFIG,
    },
  } as Docker.ContainerCreateOptions)
  await container.start()
}

/** Makes sure the machine has the image: loads berth's own build, or pulls the one given. */
export async function ensureImage(
  docker: Docker,
  options: InstallOptions,
  image: () => Promise<AgentImage>,
  reporter: Reporter,
): Promise<string> {
  if (options.image) {
    try {
      await docker.getImage(options.image).inspect()
    } catch (err) {
      if (!isNotFound(err)) throw err
      reporter.step(`pulling ${options.image}`)
      await imageProgress(docker, await docker.pull(options.image))
    }
    return options.image
  }
  const built = await image()
  try {
    await docker.getImage(built.id).inspect()
    return built.id
  } catch (err) {
    if (!isNotFound(err)) throw err
  }
  reporter.step('loading the agent image')
  await imageProgress(docker, await docker.loadImage(createReadStream(built.archive)))
  return built.id
}

/** A pull or load of the agent image, its failure in one line. */
function imageProgress(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  return followProgress(docker, stream).catch((err: Error) => {
    throw new BerthError(`loading the agent image failed: ${err.message}`)
  })
}

async function execIn(
  docker: Docker,
  container: Docker.Container,
  cmd: string[],
): Promise<{code: number; stdout: string; stderr: string}> {
  const exec = await container.exec({Cmd: cmd, AttachStdout: true, AttachStderr: true})
  const stream = await exec.start({hijack: true, stdin: false})
  const out = new PassThrough()
  const err = new PassThrough()
  const stdout: Buffer[] = []
  const stderr: Buffer[] = []
  out.on('data', (c: Buffer) => stdout.push(c))
  err.on('data', (c: Buffer) => stderr.push(c))
  docker.modem.demuxStream(stream, out, err)
  await new Promise((resolve, reject) => {
    stream.on('end', resolve)
    stream.on('close', resolve)
    stream.on('error', reject)
  })
  const {ExitCode: code} = await exec.inspect()
  return {code: code ?? 1, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString()}
}

async function lastLogLine(container: Docker.Container): Promise<string> {
  const text = demuxedText((await container.logs({stdout: true, stderr: true, tail: 5})) as unknown as Buffer)
  return (text.trim().split('\n').pop() ?? '').replace(/^.*?berth agent: /, '')
}

/** Installs (or reinstalls) the agent on one machine; returns its status once it answers. */
export async function installAgent(
  store: Store,
  name: string,
  options: InstallOptions,
  secrets: InfluxSecrets,
  image: () => Promise<AgentImage>,
  version: string,
  reporter: Reporter,
): Promise<AgentStatus> {
  return store.withLock(name, 'berth agent install', async () =>
    installOnEngine(
      await engineClient(await store.load(name), 120_000),
      name,
      options,
      secrets,
      image,
      version,
      reporter,
    ),
  )
}

/** Installs the agent through an engine client (the machine's, or the lab engine in bench/agent.mjs). */
export async function installOnEngine(
  docker: Docker,
  name: string,
  options: InstallOptions,
  secrets: InfluxSecrets,
  image: () => Promise<AgentImage>,
  version: string,
  reporter: Reporter,
): Promise<AgentStatus> {
  // One agent per host: a task of the global service here would write every point twice.
  if (await serviceTask(docker))
    throw new BerthError(
      `${name} runs a task of the global agent service`,
      ExitCode.failure,
      '`berth agent rm --global MANAGER` first',
    )
  const imageRef = await ensureImage(docker, options, image, reporter)
  const limits = options.limits ?? DEFAULT_AGENT_LIMITS
  reporter.step('starting the API filter and the agent container')
  // An older agent and filter; the state volume stays, the secrets are written anew.
  await Promise.all([removeContainer(docker, AGENT_CONTAINER), removeContainer(docker, AGENT_API_CONTAINER)])
  await removeVolume(docker, AGENT_SECRETS_VOLUME)
  let container: Docker.Container | undefined
  try {
    await prepareStateVolume(docker, imageRef)
    await startApiFilter(docker, imageRef, version)
    container = await docker.createContainer({
      name: AGENT_CONTAINER,
      Image: imageRef,
      User: AGENT_USER,
      Env: agentEnv(name, options, secrets),
      Labels: {[LABEL]: 'true', [`${LABEL}.version`]: version},
      HostConfig: {
        ...UNPRIVILEGED,
        // Host network: InfluxDB's URL is as the machine reaches it. The host's cgroup namespace:
        // /proc/<pid>/cgroup then names paths under the mounted /sys/fs/cgroup.
        NetworkMode: 'host',
        CgroupnsMode: 'host',
        Memory: limits.memoryBytes,
        MemorySwap: limits.memoryBytes,
        PidsLimit: limits.pids,
        RestartPolicy: {Name: 'unless-stopped'},
        Binds: [
          '/sys/fs/cgroup:/host/sys/fs/cgroup:ro',
          '/proc:/host/proc:ro',
          '/:/host/root:ro',
          `${AGENT_VOLUME}:${AGENT_STATE_DIR}`,
          `${AGENT_API_VOLUME}:${AGENT_API_DIR}:ro`,
          `${AGENT_SECRETS_VOLUME}:${AGENT_SECRET_DIR}`,
        ],
        LogConfig: LOG_CONFIG,
      },
    } as Docker.ContainerCreateOptions)
    const archive = await secretsArchive(secrets)
    if (archive) await container.putArchive(archive, {path: AGENT_SECRET_DIR})
    await container.start()
  } catch (err) {
    await Promise.all(
      [container?.remove({force: true}), removeContainer(docker, AGENT_API_CONTAINER)].map((p) =>
        p?.catch(() => undefined),
      ),
    )
    throw new BerthError(`the agent container on ${name} did not start: ${oneLine(err)}`)
  }
  reporter.step('waiting for the agent to report')
  // The first write (or its failure) takes one flush; wait a little longer for a verdict.
  let last: AgentStatus | undefined
  return poll(
    async () => {
      const status = (last = await statusOf(docker, name))
      if (status.state === 'exited' || status.state === 'restarting') {
        const reason = await lastLogLine(container)
        await container.remove({force: true}).catch(() => undefined)
        throw new BerthError(`the agent on ${name} stopped: ${reason}`)
      }
      // "unknown": the health endpoint is not up yet.
      return status.health && status.health !== 'starting' && status.health !== 'unknown' ? status : undefined
    },
    {timeoutMs: 20_000, intervalMs: 500, retryable: () => false, onTimeout: () => last!},
  )
}

/** The agent in one container (berth-agent, or a global service's task container) and its own health. */
export async function statusOf(
  docker: Docker,
  name: string,
  containerId = AGENT_CONTAINER,
): Promise<AgentStatus> {
  const container = docker.getContainer(containerId)
  let inspected: Docker.ContainerInspectInfo
  try {
    inspected = await container.inspect()
  } catch (err) {
    if (isNotFound(err)) return {name, installed: false, running: false, state: 'not installed'}
    throw err
  }
  const status: AgentStatus = {
    name,
    installed: true,
    running: inspected.State.Running && !inspected.State.Restarting,
    state: inspected.State.Status,
    version: inspected.Config.Labels?.[`${LABEL}.version`],
    privileges: await privilegesOf(docker, inspected),
  }
  if (!status.running) return status
  const result = await execIn(docker, container, [...AGENT_ENTRYPOINT, 'health']).catch((err: unknown) => ({
    code: 1,
    stdout: '',
    stderr: oneLine(err),
  }))
  if (result.code !== 0)
    return {
      ...status,
      health: 'unknown',
      lastError:
        result.stderr
          .trim()
          .split('\n')
          .pop()
          ?.replace(/^berth agent: /, '') ?? 'the agent did not answer',
    }
  const health = JSON.parse(result.stdout) as Record<string, unknown>
  return {
    ...status,
    version: health.version as string,
    health: health.status as string,
    influxUrl: health.influxUrl as string,
    lastWriteAt: health.lastWriteAt as string | null,
    pointsWritten: health.pointsWritten as number,
    pointsSpooled: health.pointsSpooled as number,
    pointsDropped: health.pointsDropped as number,
    pointsRejected: health.pointsRejected as number,
    spoolBytes: health.spoolBytes as number,
    lagMs: health.lagMs as number,
    lastError: health.lastError as string,
    pointsInvalid: health.pointsInvalid as number,
    linesTruncated: health.linesTruncated as number,
    labelsDropped: health.labelsDropped as number,
    rssBytes: health.rssBytes as number,
  }
}

/** What the agent's container may do, from its engine's own account of it. */
async function privilegesOf(
  docker: Docker,
  inspected: Docker.ContainerInspectInfo,
): Promise<AgentPrivileges> {
  const host = inspected.HostConfig as Docker.HostConfig & {
    CapDrop?: string[] | null
    CapAdd?: string[] | null
    SecurityOpt?: string[] | null
    ReadonlyRootfs?: boolean
  }
  const sources = (inspected.Mounts ?? []).map((m) => m.Source)
  return {
    user: inspected.Config.User || 'root',
    capDrop: host.CapDrop ?? [],
    capAdd: host.CapAdd ?? [],
    noNewPrivileges: (host.SecurityOpt ?? []).some((o: string) =>
      /^no-new-privileges(?::true|=true)?$/.test(o),
    ),
    readOnlyRootfs: host.ReadonlyRootfs === true,
    privileged: host.Privileged === true,
    pidMode: host.PidMode || 'private',
    networkMode: host.NetworkMode ?? '',
    memoryBytes: host.Memory ?? 0,
    pidsLimit: host.PidsLimit ?? 0,
    maxLineBytes: maxLineBytesOf(inspected.Config.Env ?? []),
    dockerSocket: sources.some((source) => /(^|\/)docker\.sock$/.test(source)),
    apiFilter: await apiFilterState(docker),
  }
}

/** The cap the agent's environment sets (an agent installed before the flag: the agent's default). */
function maxLineBytesOf(env: string[]): number {
  const value = env.find((e) => e.startsWith(`${MAX_LINE_ENV}=`))?.slice(MAX_LINE_ENV.length + 1)
  return value && /^\d+$/.test(value) ? Number(value) : DEFAULT_AGENT_LIMITS.maxLineBytes
}

/** The API filter next to the agent: the berth-agent-api container, or the global service's task. */
async function apiFilterState(docker: Docker): Promise<string> {
  try {
    return (await docker.getContainer(AGENT_API_CONTAINER).inspect()).State.Status
  } catch (err) {
    if (!isNotFound(err)) throw err
  }
  const [task] = await docker.listContainers({
    all: true,
    filters: {label: [`com.docker.swarm.service.name=${AGENT_API_CONTAINER}`]},
  })
  return task?.State ?? 'none'
}

export async function agentStatus(store: Store, name: string): Promise<AgentStatus> {
  const docker = await engineClient(await store.load(name), 20_000)
  const status = await statusOf(docker, name)
  if (status.installed) return status
  const task = await serviceTask(docker)
  return task ? {...(await statusOf(docker, name, task)), service: AGENT_SERVICE} : status
}

/** The container of the global agent service's task on this engine, if one runs. */
async function serviceTask(docker: Docker): Promise<string | undefined> {
  const [task] = await docker.listContainers({
    filters: {label: [`com.docker.swarm.service.name=${AGENT_SERVICE}`]},
  })
  return task?.Id
}

/** Removes the agent container and its state volume; a machine without an agent is fine. */
export async function removeAgent(
  store: Store,
  name: string,
  reporter: Reporter,
): Promise<{name: string; removed: boolean}> {
  return store.withLock(name, 'berth agent rm', async () => {
    const docker = await engineClient(await store.load(name), 60_000)
    reporter.step('removing the agent and API filter containers')
    const [removed] = await Promise.all([
      removeContainer(docker, AGENT_CONTAINER),
      removeContainer(docker, AGENT_API_CONTAINER),
    ])
    for (const volume of [AGENT_VOLUME, AGENT_API_VOLUME, AGENT_SECRETS_VOLUME])
      await removeVolume(docker, volume)
    return {name, removed}
  })
}
