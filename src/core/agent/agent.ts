/**
 * The agent on berth's machines: one container per machine, run through the machine's engine API
 * over mutual TLS. The InfluxDB password or token is copied into the container as a file before it
 * starts: it is never in argv, the environment (`docker inspect`), logs or the machine record.
 */
import {createReadStream} from 'node:fs'
import {PassThrough} from 'node:stream'
import type Docker from 'dockerode'
import tar from 'tar-stream'
import type {InfluxConnection, InfluxSecrets} from '../../../agent/src/influx.js'
import {demuxedText, engineClient} from '../engine/engine.js'
import {followProgress, isNotFound, removeContainer} from '../engine/helpers.js'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import {readSecretFile} from '../secret-file.js'
import type {Reporter} from '../machine/machine.js'
import type {Store} from '../store/store.js'
import {AGENT_ENTRYPOINT, type AgentImage} from './image.js'

export const AGENT_CONTAINER = 'berth-agent'
/** The swarm global service of `agent install --global`. */
export const AGENT_SERVICE = 'berth-agent'
/** Checkpoints, the events position and the spool: kept across reinstalls so nothing is lost or repeated. */
export const AGENT_VOLUME = 'berth-agent-state'
const SECRET_DIR = '/run/berth-agent'
export const LABEL = 'io.berth.agent'

/** Where the agent finds each secret file inside its container. */
export interface SecretPaths {
  password: string
  token: string
  ca: string
}

const CONTAINER_SECRET_PATHS: SecretPaths = {password: `${SECRET_DIR}/password`, token: `${SECRET_DIR}/token`, ca: `${SECRET_DIR}/ca.pem`}

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
  /** Extra BERTH_AGENT_* settings (tuning). */
  env?: Record<string, string>
}

/** Checks the connection as a whole (one-line errors, exit 2) and reads the secret files, before any machine is touched. */
export async function prepareInflux(settings: InfluxConnection, files: InfluxSecretFiles): Promise<InfluxSecrets> {
  let url: URL
  try {
    url = new URL(settings.url)
  } catch {
    throw new BerthError(`--influx-url is not a URL: ${settings.url}`, ExitCode.usage)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BerthError(`--influx-url must be http or https, not ${url.protocol}`, ExitCode.usage)
  if (url.username || url.password) throw new BerthError('--influx-url must not carry credentials', ExitCode.usage, 'use --influx-username with --influx-password-file, or --token-file')
  const v2 = settings.bucket !== undefined
  if (v2 && settings.database) throw new BerthError('--database (InfluxDB 1.x) and --bucket (v2 API) exclude each other', ExitCode.usage)
  if (!v2 && !settings.database) throw new BerthError('say where to write: --database NAME, or --bucket NAME --org ORG --token-file FILE', ExitCode.usage)
  if (v2 && (!settings.org || !files.tokenFile)) throw new BerthError('--bucket needs --org and --token-file', ExitCode.usage)
  if (files.passwordFile && !settings.username) throw new BerthError('--influx-password-file needs --influx-username', ExitCode.usage)
  return {
    password: files.passwordFile ? await readSecretFile(files.passwordFile, 'password') : undefined,
    token: files.tokenFile ? await readSecretFile(files.tokenFile, 'token') : undefined,
    ca: files.caFile ? await readSecretFile(files.caFile, 'CA', undefined, true) : undefined,
  }
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
  spoolBytes?: number
  lagMs?: number
  lastError?: string
  /** Set when the agent here is a task of this swarm service rather than the berth-agent container. */
  service?: string
}

/** The agent's environment: settings and the paths of its secret files, never a secret itself. */
export function agentEnv(host: string, options: InstallOptions, secrets: InfluxSecrets, paths: SecretPaths = CONTAINER_SECRET_PATHS): string[] {
  const influx = options.influx
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
    ...options.env,
  }
  return Object.entries(env).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}=${v}`)
}

/** A tar of the secret files (0400, in a 0700 folder) for PUT /containers/{id}/archive. */
async function secretsArchive(secrets: InfluxSecrets): Promise<Buffer | undefined> {
  const files = Object.entries({password: secrets.password, token: secrets.token, 'ca.pem': secrets.ca}).filter(([, v]) => v !== undefined)
  if (files.length === 0) return undefined
  const pack = tar.pack()
  pack.entry({name: 'run/', type: 'directory', mode: 0o755})
  pack.entry({name: `${SECRET_DIR.slice(1)}/`, type: 'directory', mode: 0o700})
  for (const [file, value] of files) pack.entry({name: `${SECRET_DIR.slice(1)}/${file}`, mode: 0o400}, value + '\n')
  pack.finalize()
  const chunks: Buffer[] = []
  for await (const chunk of pack) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}


/** Makes sure the machine has the image: loads berth's own build, or pulls the one given. */
export async function ensureImage(docker: Docker, options: InstallOptions, image: () => Promise<AgentImage>, reporter: Reporter): Promise<string> {
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

async function execIn(docker: Docker, container: Docker.Container, cmd: string[]): Promise<{code: number; stdout: string; stderr: string}> {
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
export async function installAgent(store: Store, name: string, options: InstallOptions, secrets: InfluxSecrets, image: () => Promise<AgentImage>, version: string, reporter: Reporter): Promise<AgentStatus> {
  return store.withLock(name, 'berth agent install', () => install(store, name, options, secrets, image, version, reporter))
}

async function install(store: Store, name: string, options: InstallOptions, secrets: InfluxSecrets, image: () => Promise<AgentImage>, version: string, reporter: Reporter): Promise<AgentStatus> {
  const record = await store.load(name)
  const docker = await engineClient(record, 120_000)
  // One agent per host: a task of the global service here would write every point twice.
  if (await serviceTask(docker)) throw new BerthError(`${name} runs a task of the global agent service`, ExitCode.failure, '`berth agent rm --global MANAGER` first')
  const imageRef = await ensureImage(docker, options, image, reporter)
  reporter.step('starting the agent container')
  await removeContainer(docker, AGENT_CONTAINER) // an older agent; its state volume stays
  const container = await docker.createContainer({
    name: AGENT_CONTAINER,
    Image: imageRef,
    Env: agentEnv(name, options, secrets),
    Labels: {[LABEL]: 'true', [`${LABEL}.version`]: version},
    HostConfig: {
      NetworkMode: 'host',
      PidMode: 'host',
      CgroupnsMode: 'host',
      RestartPolicy: {Name: 'unless-stopped'},
      Binds: ['/var/run/docker.sock:/var/run/docker.sock:ro', '/sys/fs/cgroup:/host/sys/fs/cgroup:ro', '/proc:/host/proc:ro', '/:/host/root:ro', `${AGENT_VOLUME}:/var/lib/berth-agent`],
      LogConfig: {Type: 'json-file', Config: {'max-size': '10m', 'max-file': '2'}},
    },
  } as Docker.ContainerCreateOptions)
  try {
    const archive = await secretsArchive(secrets)
    if (archive) await container.putArchive(archive, {path: '/'})
    await container.start()
  } catch (err) {
    await container.remove({force: true}).catch(() => undefined)
    throw new BerthError(`the agent container on ${name} did not start: ${oneLine(err)}`)
  }
  reporter.step('waiting for the agent to report')
  // The first write (or its failure) takes one flush; wait a little longer for a verdict.
  const deadline = Date.now() + 20_000
  for (;;) {
    const status = await statusOf(docker, name)
    if (status.state === 'exited' || status.state === 'restarting') {
      const reason = await lastLogLine(container)
      await container.remove({force: true}).catch(() => undefined)
      throw new BerthError(`the agent on ${name} stopped: ${reason}`)
    }
    // "unknown": the health endpoint is not up yet.
    if ((status.health && status.health !== 'starting' && status.health !== 'unknown') || Date.now() > deadline) return status
    await new Promise((r) => setTimeout(r, 500))
  }
}

/** The agent in one container (berth-agent, or a global service's task container) and its own health. */
export async function statusOf(docker: Docker, name: string, containerId = AGENT_CONTAINER): Promise<AgentStatus> {
  const container = docker.getContainer(containerId)
  let inspected: Docker.ContainerInspectInfo
  try {
    inspected = await container.inspect()
  } catch (err) {
    if (isNotFound(err)) return {name, installed: false, running: false, state: 'not installed'}
    throw err
  }
  const status: AgentStatus = {name, installed: true, running: inspected.State.Running && !inspected.State.Restarting, state: inspected.State.Status,
    version: inspected.Config.Labels?.[`${LABEL}.version`]}
  if (!status.running) return status
  const result = await execIn(docker, container, [...AGENT_ENTRYPOINT, 'health']).catch((err: unknown) => ({code: 1, stdout: '', stderr: oneLine(err)}))
  if (result.code !== 0) return {...status, health: 'unknown', lastError: result.stderr.trim().split('\n').pop()?.replace(/^berth agent: /, '') ?? 'the agent did not answer'}
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
  }
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
  const [task] = await docker.listContainers({filters: {label: [`com.docker.swarm.service.name=${AGENT_SERVICE}`]}})
  return task?.Id
}

/** Removes the agent container and its state volume; a machine without an agent is fine. */
export async function removeAgent(store: Store, name: string, reporter: Reporter): Promise<{name: string; removed: boolean}> {
  return store.withLock(name, 'berth agent rm', async () => {
    const docker = await engineClient(await store.load(name), 60_000)
    reporter.step('removing the agent container')
    const removed = await removeContainer(docker, AGENT_CONTAINER)
    try {
      await docker.getVolume(AGENT_VOLUME).remove()
    } catch (err) {
      if (!isNotFound(err)) throw err
    }
    return {name, removed}
  })
}
