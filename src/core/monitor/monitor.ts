/**
 * A monitoring stack on one of berth's machines: InfluxDB and (optionally) Grafana as containers,
 * run through the machine's engine API over mutual TLS, on a network of their own so Grafana reaches
 * InfluxDB by name. Grafana starts with berth's data source and dashboards provisioned; its admin
 * password is a file in the machine's folder (0600) and reaches Grafana as a file, never as an
 * environment variable `docker inspect` would show.
 */
import {randomBytes} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import type Docker from 'dockerode'
import {tarArchive, type TarEntry} from '../archive/tar.js'
import {engineClient} from '../engine/engine.js'
import {followProgress, isNotFound, removeContainer} from '../engine/helpers.js'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import type {Reporter} from '../machine/machine.js'
import {writeFileAtomic} from '../store/fs.js'
import type {Store} from '../store/store.js'
import {CONTACT_POINT_FILE, exportFiles} from '../dashboards/export.js'
import type {AlertSettings} from '../../../dashboards/src/index.js'

export const MONITOR_NETWORK = 'berth-monitor'
export const INFLUX_CONTAINER = 'berth-influxdb'
export const GRAFANA_CONTAINER = 'berth-grafana'
export const INFLUX_VOLUME = 'berth-influxdb-data'
export const GRAFANA_VOLUME = 'berth-grafana-data'
const LABEL = 'io.berth.monitor'
/** Provisioning and dashboards outside Grafana's data volume, so every `up` replaces them. */
const GRAFANA_BERTH_DIR = '/etc/grafana/berth'
/** The official Grafana image runs as this user; the password file must be readable by it alone. */
const GRAFANA_UID = 472

export const DEFAULT_INFLUX_IMAGE = 'influxdb:1.8'
export const DEFAULT_GRAFANA_IMAGE = 'grafana/grafana-oss:11.6.0'
export const GRAFANA_PASSWORD_FILE = 'grafana-admin-password'

export interface MonitorOptions {
  influxImage: string
  /** Absent: InfluxDB only. */
  grafanaImage?: string
  database: string
  influxPort: number
  grafanaPort: number
  /** The agents' collection interval, as the data source's minimum interval. */
  minInterval: string
  alerts: AlertSettings
  /** berth's contact point; without it the rules follow Grafana's notification policies (which send nothing until set up). */
  webhookUrl?: string
}

export interface MonitorOutcome {
  machine: string
  influxUrl: string
  database: string
  grafanaUrl?: string
  /** Where the Grafana admin password is (user admin). */
  grafanaPasswordFile?: string
}

/** The image must be on the machine or pullable; checked for every image before anything changes. */
async function ensureImage(
  docker: Docker,
  machine: string,
  image: string,
  reporter: Reporter,
): Promise<void> {
  try {
    await docker.getImage(image).inspect()
    return
  } catch (err) {
    if (!isNotFound(err)) throw err
  }
  reporter.step(`pulling ${image}`)
  try {
    await followProgress(docker, await docker.pull(image))
  } catch (err) {
    throw new BerthError(
      `image ${image} is not on ${machine} and could not be pulled: ${oneLine(err)}`,
      ExitCode.failure,
      'load it onto the machine (docker load / docker import) or name another with --influx-image / --grafana-image',
    )
  }
}

async function ensureNetwork(docker: Docker): Promise<void> {
  const existing = await docker.listNetworks({filters: {name: [MONITOR_NETWORK]}})
  if (existing.some((n) => n.Name === MONITOR_NETWORK)) return
  await docker.createNetwork({Name: MONITOR_NETWORK, Labels: {[LABEL]: 'true'}})
}

async function waitFor(
  what: string,
  url: string,
  accept: (status: number) => boolean,
  ms = 90_000,
): Promise<void> {
  const deadline = Date.now() + ms
  let last = 'no answer'
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, {signal: AbortSignal.timeout(3000)})
      if (accept(response.status)) return
      last = `HTTP ${response.status}`
    } catch (err) {
      last = oneLine((err as {cause?: unknown}).cause ?? err)
    }
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new BerthError(`${what} did not answer at ${url} within ${ms / 1000}s (${last})`, ExitCode.timeout)
}

/** A file for Grafana's container: text content, owned by root unless uid says otherwise. */
export type ArchiveFile = TarEntry & {content: string}

/** The Grafana admin password: made once per machine, kept 0600 in the machine's folder. */
async function grafanaPassword(store: Store, name: string): Promise<{path: string; password: string}> {
  const path = join(store.machineDir(name), GRAFANA_PASSWORD_FILE)
  try {
    return {path, password: (await readFile(path, 'utf8')).trim()}
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const password = randomBytes(18).toString('base64url')
  await writeFileAtomic(path, password + '\n', 0o600)
  return {path, password}
}

async function startContainer(
  docker: Docker,
  spec: Docker.ContainerCreateOptions,
  archive?: Buffer,
): Promise<void> {
  const container = await docker.createContainer(spec)
  try {
    if (archive) await container.putArchive(archive, {path: '/'})
    await container.start()
  } catch (err) {
    await container.remove({force: true}).catch(() => undefined)
    throw new BerthError(`the ${spec.name} container did not start: ${oneLine(err)}`)
  }
}

/**
 * Grafana's container: berth's provisioning (data source reaching InfluxDB by container name,
 * dashboards provider) and dashboards under GRAFANA_BERTH_DIR, and the admin password as a file
 * readable by Grafana's user alone; nothing secret in the container's environment.
 */
export function grafanaContainer(
  options: MonitorOptions,
  image: string,
  password: string,
): {spec: Docker.ContainerCreateOptions; files: ArchiveFile[]} {
  const root = GRAFANA_BERTH_DIR.slice(1)
  const exported = exportFiles({
    influx: {url: `http://${INFLUX_CONTAINER}:8086`, database: options.database},
    minInterval: options.minInterval,
    dashboardsPath: `${GRAFANA_BERTH_DIR}/dashboards`,
    folder: 'berth',
    alerts: options.alerts,
    webhookUrl: options.webhookUrl,
  })
  const files: ArchiveFile[] = [...exported].map(([file, content]) => ({
    name: file.startsWith('json/') ? `${root}/dashboards/${file.slice('json/'.length)}` : `${root}/${file}`,
    content,
    // The webhook URL may carry a token: readable by Grafana's user alone, like the password.
    ...(file === CONTACT_POINT_FILE ? {mode: 0o400, uid: GRAFANA_UID} : {}),
  }))
  files.push({name: `${root}/admin-password`, content: password, mode: 0o400, uid: GRAFANA_UID})
  const spec = {
    name: GRAFANA_CONTAINER,
    Image: image,
    Env: [
      `GF_PATHS_PROVISIONING=${GRAFANA_BERTH_DIR}/provisioning`,
      `GF_SECURITY_ADMIN_PASSWORD__FILE=${GRAFANA_BERTH_DIR}/admin-password`,
      'GF_ANALYTICS_REPORTING_ENABLED=false',
    ],
    Labels: {[LABEL]: 'grafana'},
    ExposedPorts: {'3000/tcp': {}},
    HostConfig: {
      RestartPolicy: {Name: 'unless-stopped'},
      NetworkMode: MONITOR_NETWORK,
      PortBindings: {'3000/tcp': [{HostPort: String(options.grafanaPort)}]},
      Binds: [`${GRAFANA_VOLUME}:/var/lib/grafana`],
    },
  } as Docker.ContainerCreateOptions
  return {spec, files}
}

/**
 * Starts (or restarts with the given settings) the stack on machine `name`. Data stays in volumes
 * across runs; the database is created if missing. Returns where InfluxDB and Grafana answer.
 */
export async function monitorUp(
  store: Store,
  name: string,
  options: MonitorOptions,
  reporter: Reporter,
): Promise<MonitorOutcome> {
  const record = await store.load(name)
  const ip = record.Driver.IPAddress
  if (!ip) throw new BerthError(`machine "${name}" has no IP address yet`)
  const host = ip.includes(':') ? `[${ip}]` : ip
  const docker = await engineClient(record, 120_000)
  for (const image of [options.influxImage, options.grafanaImage])
    if (image) await ensureImage(docker, name, image, reporter)

  reporter.step('starting InfluxDB')
  await ensureNetwork(docker)
  await removeContainer(docker, INFLUX_CONTAINER)
  await startContainer(docker, {
    name: INFLUX_CONTAINER,
    Image: options.influxImage,
    // The official image's paths, spelled out so an image without its config file (a plain influxd) keeps data in the volume too.
    Env: [
      'INFLUXDB_META_DIR=/var/lib/influxdb/meta',
      'INFLUXDB_DATA_DIR=/var/lib/influxdb/data',
      'INFLUXDB_DATA_WAL_DIR=/var/lib/influxdb/wal',
      'INFLUXDB_REPORTING_DISABLED=true',
    ],
    Labels: {[LABEL]: 'influxdb'},
    ExposedPorts: {'8086/tcp': {}},
    HostConfig: {
      RestartPolicy: {Name: 'unless-stopped'},
      NetworkMode: MONITOR_NETWORK,
      PortBindings: {'8086/tcp': [{HostPort: String(options.influxPort)}]},
      Binds: [`${INFLUX_VOLUME}:/var/lib/influxdb`],
    },
    NetworkingConfig: {EndpointsConfig: {[MONITOR_NETWORK]: {Aliases: ['influxdb']}}},
  } as Docker.ContainerCreateOptions)
  const influxUrl = `http://${host}:${options.influxPort}`
  await waitFor('InfluxDB', `${influxUrl}/ping`, (status) => status === 204)
  const created = await fetch(
    `${influxUrl}/query?${new URLSearchParams({q: `CREATE DATABASE "${options.database.replace(/"/g, '\\"')}"`})}`,
    {method: 'POST'},
  )
  if (!created.ok)
    throw new BerthError(
      `InfluxDB on ${name} did not create database ${options.database}: HTTP ${created.status} ${oneLine(await created.text())}`,
    )
  const outcome: MonitorOutcome = {machine: name, influxUrl, database: options.database}

  await removeContainer(docker, GRAFANA_CONTAINER)
  if (!options.grafanaImage) return outcome
  reporter.step('starting Grafana')
  const {path, password} = await grafanaPassword(store, name)
  const grafana = grafanaContainer(options, options.grafanaImage, password)
  await startContainer(docker, grafana.spec, await tarArchive(grafana.files))
  const grafanaUrl = `http://${host}:${options.grafanaPort}`
  await waitFor('Grafana', `${grafanaUrl}/api/health`, (status) => status === 200)
  return {...outcome, grafanaUrl, grafanaPasswordFile: path}
}

/** Removes the stack's containers and network; its data volumes too with `volumes`. */
export async function monitorDown(
  store: Store,
  name: string,
  options: {volumes: boolean},
  reporter: Reporter,
): Promise<{machine: string; removed: string[]}> {
  const docker = await engineClient(await store.load(name), 60_000)
  const removed: string[] = []
  reporter.step('removing the monitoring containers')
  for (const container of [GRAFANA_CONTAINER, INFLUX_CONTAINER])
    if (await removeContainer(docker, container)) removed.push(container)
  const networks = await docker.listNetworks({filters: {name: [MONITOR_NETWORK]}})
  for (const network of networks.filter((n) => n.Name === MONITOR_NETWORK)) {
    await docker.getNetwork(network.Id).remove()
    removed.push(MONITOR_NETWORK)
  }
  if (options.volumes) {
    for (const volume of [INFLUX_VOLUME, GRAFANA_VOLUME]) {
      try {
        await docker.getVolume(volume).remove()
        removed.push(volume)
      } catch (err) {
        if (!isNotFound(err)) throw err
      }
    }
  }
  return {machine: name, removed}
}
