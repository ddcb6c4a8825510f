/**
 * A monitoring stack on one of berth's machines: InfluxDB and (optionally) Grafana as containers,
 * run through the machine's engine API over mutual TLS, on a network of their own so Grafana reaches
 * InfluxDB by name. Private by default: both serve https with certificates from the machine's own
 * CA (its folder's ca.pem verifies them), are published on the machine's address only, and
 * InfluxDB wants a user: berth makes an admin, a writer for the agents and a reader for Grafana and
 * `dashboards check`, with generated passwords kept 0600 in the machine's folder. Secrets reach the
 * containers as files copied in before they start, never as environment variables `docker inspect`
 * would show, command lines or URLs (InfluxDB statements go in request bodies; it logs them with
 * passwords redacted).
 */
import {randomBytes} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {isIP} from 'node:net'
import {join} from 'node:path'
import type Docker from 'dockerode'
import {tarArchive, type TarEntry} from '../archive/tar.js'
import {issueCert, type KeyAndCert} from '../certs/certs.js'
import {serverSigner} from '../certs/trust.js'
import {engineClient} from '../engine/engine.js'
import {followProgress, isNotFound, removeContainer} from '../engine/helpers.js'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import type {Reporter} from '../machine/machine.js'
import {httpRequest} from '../http.js'
import {poll} from '../poll.js'
import {ensurePrivateDir, writeFileAtomic} from '../store/fs.js'
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
/** The machine folder's subfolder (0700) holding InfluxDB's generated passwords (0600). */
export const MONITOR_SECRETS_DIR = 'monitor'
/** InfluxDB's users: berth's admin, the agents' writer (WRITE on the database), Grafana's reader (READ). */
export const INFLUX_USERS = {admin: 'berth_admin', writer: 'berth_writer', reader: 'berth_reader'} as const
export type InfluxRole = keyof typeof INFLUX_USERS
/** Where InfluxDB's certificate and key are copied in its container. */
const INFLUX_TLS_DIR = '/etc/berth-influxdb'

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
  /** Address the ports are published on (default: the machine's); 0.0.0.0 or :: publishes on every interface. */
  listenAddress?: string
}

/** A generated InfluxDB credential: the user and the file (0600) holding its password. */
export interface InfluxCredential {
  username: string
  passwordFile: string
}

export interface MonitorOutcome {
  machine: string
  influxUrl: string
  database: string
  /** The machine's CA (its folder's ca.pem), which verifies InfluxDB's and Grafana's certificates. */
  caFile: string
  /** The address the ports are published on. */
  listenAddress: string
  influxCredentials: Record<InfluxRole, InfluxCredential>
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
  ca: string,
  accept: (status: number) => boolean,
  ms = 90_000,
): Promise<void> {
  let last = 'no answer'
  await poll(
    async (remainingMs) => {
      try {
        const response = await httpRequest(url, {ca, timeoutMs: Math.max(1, Math.min(3000, remainingMs))})
        if (accept(response.status)) return true
        last = `HTTP ${response.status}`
      } catch (err) {
        last = oneLine(err)
      }
      return undefined
    },
    {
      timeoutMs: ms,
      intervalMs: 500,
      onTimeout: () => {
        throw new BerthError(
          `${what} did not answer at ${url} within ${ms / 1000}s (${last})`,
          ExitCode.timeout,
        )
      },
    },
  )
}

/** A file for Grafana's container: text content, owned by root unless uid says otherwise. */
export type ArchiveFile = TarEntry & {content: string}

/** A generated password: made once, kept 0600 at `path` (whose folder is the machine's, 0700). */
async function generatedPassword(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const password = randomBytes(18).toString('base64url')
  await writeFileAtomic(path, password + '\n', 0o600)
  return password
}

/** InfluxDB's three credentials, made once per machine under its folder's monitor/ (0700). */
async function influxCredentials(
  store: Store,
  name: string,
): Promise<Record<InfluxRole, InfluxCredential & {password: string}>> {
  const dir = join(store.machineDir(name), MONITOR_SECRETS_DIR)
  await ensurePrivateDir(dir)
  const credential = async (role: InfluxRole) => {
    const passwordFile = join(dir, `influx-${role}-password`)
    return {username: INFLUX_USERS[role], passwordFile, password: await generatedPassword(passwordFile)}
  }
  return {
    admin: await credential('admin'),
    writer: await credential('writer'),
    reader: await credential('reader'),
  }
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

/** Where a port is published: on the listen address alone, unless it is a wildcard. */
function portBinding(options: MonitorOptions, port: number): Array<{HostIp?: string; HostPort: string}> {
  const address = options.listenAddress
  return [{...(address && !isWildcard(address) ? {HostIp: address} : {}), HostPort: String(port)}]
}

const isWildcard = (address: string) => address === '0.0.0.0' || address === '::'

/** `--listen-address`: an IP address (a wildcard publishes on every interface), or a usage error. */
export function checkListenAddress(address: string): string {
  if (isIP(address) === 0)
    throw new BerthError(
      `--listen-address must be an IP address of the machine (or 0.0.0.0 for every interface), not ${JSON.stringify(address)}`,
      ExitCode.usage,
    )
  return address
}

/** What goes into a container beside its image: the TLS pair (key readable by `uid` alone) and other files. */
function tlsFiles(dir: string, tls: KeyAndCert, uid: number): ArchiveFile[] {
  return [
    {name: `${dir}/tls/cert.pem`, content: tls.certPem},
    {name: `${dir}/tls/key.pem`, content: tls.keyPem, mode: 0o400, uid},
  ]
}

/** The secrets Grafana's container gets as files. */
export interface GrafanaSecrets {
  adminPassword: string
  /** Password of InfluxDB's reader, for the data source. */
  influxPassword: string
  /** The machine's CA: verifies InfluxDB's certificate. */
  caCert: string
  /** Grafana's own certificate and key (https). */
  tls: KeyAndCert
}

/**
 * Grafana's container: berth's provisioning (data source reaching InfluxDB by container name over
 * https, as the reader, dashboards provider) and dashboards under GRAFANA_BERTH_DIR; its own https
 * certificate; the admin password, InfluxDB's password and the TLS key as files readable by
 * Grafana's user alone; nothing secret in the container's environment.
 */
export function grafanaContainer(
  options: MonitorOptions,
  image: string,
  secrets: GrafanaSecrets,
): {spec: Docker.ContainerCreateOptions; files: ArchiveFile[]} {
  const root = GRAFANA_BERTH_DIR.slice(1)
  const exported = exportFiles({
    influx: {
      url: `https://${INFLUX_CONTAINER}:8086`,
      database: options.database,
      username: INFLUX_USERS.reader,
    },
    minInterval: options.minInterval,
    dashboardsPath: `${GRAFANA_BERTH_DIR}/dashboards`,
    folder: 'berth',
    alerts: options.alerts,
    webhookUrl: options.webhookUrl,
    // Grafana expands $__file{} in provisioning values (as in grafana.ini): the password stays in its own file.
    datasourceSecrets: {password: `$__file{${GRAFANA_BERTH_DIR}/influx-password}`, caCert: secrets.caCert},
  })
  const files: ArchiveFile[] = [...exported].map(([file, content]) => ({
    name: file.startsWith('json/') ? `${root}/dashboards/${file.slice('json/'.length)}` : `${root}/${file}`,
    content,
    // The webhook URL may carry a token: readable by Grafana's user alone, like the password.
    ...(file === CONTACT_POINT_FILE ? {mode: 0o400, uid: GRAFANA_UID} : {}),
  }))
  files.push(
    {name: `${root}/admin-password`, content: secrets.adminPassword, mode: 0o400, uid: GRAFANA_UID},
    {name: `${root}/influx-password`, content: secrets.influxPassword, mode: 0o400, uid: GRAFANA_UID},
    ...tlsFiles(root, secrets.tls, GRAFANA_UID),
  )
  const spec = {
    name: GRAFANA_CONTAINER,
    Image: image,
    Env: [
      `GF_PATHS_PROVISIONING=${GRAFANA_BERTH_DIR}/provisioning`,
      `GF_SECURITY_ADMIN_PASSWORD__FILE=${GRAFANA_BERTH_DIR}/admin-password`,
      'GF_SERVER_PROTOCOL=https',
      `GF_SERVER_CERT_FILE=${GRAFANA_BERTH_DIR}/tls/cert.pem`,
      `GF_SERVER_CERT_KEY=${GRAFANA_BERTH_DIR}/tls/key.pem`,
      'GF_ANALYTICS_REPORTING_ENABLED=false',
    ],
    Labels: {[LABEL]: 'grafana'},
    ExposedPorts: {'3000/tcp': {}},
    HostConfig: {
      RestartPolicy: {Name: 'unless-stopped'},
      NetworkMode: MONITOR_NETWORK,
      PortBindings: {'3000/tcp': portBinding(options, options.grafanaPort)},
      Binds: [`${GRAFANA_VOLUME}:/var/lib/grafana`],
    },
  } as Docker.ContainerCreateOptions
  return {spec, files}
}

/**
 * InfluxDB's container: authentication on, https with its certificate (key readable by root alone:
 * the official 1.x image runs influxd as root), published on the listen address.
 */
export function influxContainer(
  options: MonitorOptions,
  tls: KeyAndCert,
): {spec: Docker.ContainerCreateOptions; files: ArchiveFile[]} {
  const spec = {
    name: INFLUX_CONTAINER,
    Image: options.influxImage,
    // The official image's paths, spelled out so an image without its config file (a plain influxd) keeps data in the volume too.
    Env: [
      'INFLUXDB_META_DIR=/var/lib/influxdb/meta',
      'INFLUXDB_DATA_DIR=/var/lib/influxdb/data',
      'INFLUXDB_DATA_WAL_DIR=/var/lib/influxdb/wal',
      'INFLUXDB_REPORTING_DISABLED=true',
      'INFLUXDB_HTTP_AUTH_ENABLED=true',
      'INFLUXDB_HTTP_HTTPS_ENABLED=true',
      `INFLUXDB_HTTP_HTTPS_CERTIFICATE=${INFLUX_TLS_DIR}/tls/cert.pem`,
      `INFLUXDB_HTTP_HTTPS_PRIVATE_KEY=${INFLUX_TLS_DIR}/tls/key.pem`,
    ],
    Labels: {[LABEL]: 'influxdb'},
    ExposedPorts: {'8086/tcp': {}},
    HostConfig: {
      RestartPolicy: {Name: 'unless-stopped'},
      NetworkMode: MONITOR_NETWORK,
      PortBindings: {'8086/tcp': portBinding(options, options.influxPort)},
      Binds: [`${INFLUX_VOLUME}:/var/lib/influxdb`],
    },
    NetworkingConfig: {EndpointsConfig: {[MONITOR_NETWORK]: {Aliases: ['influxdb']}}},
  } as Docker.ContainerCreateOptions
  return {spec, files: tlsFiles(INFLUX_TLS_DIR.slice(1), tls, 0)}
}

/** One InfluxQL statement, in the request body: InfluxDB logs URLs as they are, statements with passwords redacted. */
async function influxStatement(
  url: string,
  ca: string,
  statement: string,
  auth?: {username: string; password: string},
): Promise<{ok: boolean; detail: string; series: Array<{values?: unknown[][]}>}> {
  const response = await httpRequest(`${url}/query`, {
    method: 'POST',
    ca,
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      ...(auth
        ? {Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`}
        : {}),
    },
    body: new URLSearchParams({q: statement}).toString(),
  }).catch((err: unknown) => {
    throw new BerthError(`cannot reach InfluxDB at ${url}: ${oneLine(err)}`)
  })
  let body: {error?: string; results?: Array<{error?: string; series?: Array<{values?: unknown[][]}>}>} = {}
  try {
    body = JSON.parse(response.text) as typeof body
  } catch {
    // not JSON: the status says what went wrong
  }
  const error = body.error ?? body.results?.find((r) => r.error)?.error
  return {
    ok: response.status === 200 && !error,
    detail: `HTTP ${response.status}${error ? ` ${oneLine(error)}` : ''}`,
    series: body.results?.flatMap((r) => r.series ?? []) ?? [],
  }
}

/**
 * Makes InfluxDB's users: the admin first (InfluxDB lets anyone create the first admin of an empty
 * instance and nothing else, so an admin berth did not make means someone else holds it: refused),
 * then the database, the writer and the reader, each with its password from the machine's folder.
 */
async function bootstrapInflux(
  name: string,
  url: string,
  ca: string,
  database: string,
  users: Record<InfluxRole, InfluxCredential & {password: string}>,
): Promise<void> {
  const quote = (id: string) => `"${id.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
  const literal = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
  const admin = users.admin
  let existing = await influxStatement(url, ca, 'SHOW USERS', admin)
  if (!existing.ok) {
    const created = await influxStatement(
      url,
      ca,
      `CREATE USER ${quote(admin.username)} WITH PASSWORD ${literal(admin.password)} WITH ALL PRIVILEGES`,
    )
    if (!created.ok)
      throw new BerthError(
        `InfluxDB on ${name} has an admin that is not berth's: the password in ${admin.passwordFile} does not work (${existing.detail})`,
        ExitCode.failure,
        'its data volume holds users berth did not make: `berth monitor down --volumes` starts afresh',
      )
    existing = await influxStatement(url, ca, 'SHOW USERS', admin)
  }
  const names = new Set(existing.series.flatMap((s) => (s.values ?? []).map((row) => row[0])))
  const statements = [`CREATE DATABASE ${quote(database)}`]
  for (const [role, privilege] of [
    ['writer', 'WRITE'],
    ['reader', 'READ'],
  ] as const) {
    const {username, password} = users[role]
    statements.push(
      names.has(username)
        ? `SET PASSWORD FOR ${quote(username)} = ${literal(password)}`
        : `CREATE USER ${quote(username)} WITH PASSWORD ${literal(password)}`,
      `GRANT ${privilege} ON ${quote(database)} TO ${quote(username)}`,
    )
  }
  for (const statement of statements) {
    const done = await influxStatement(url, ca, statement, admin)
    if (!done.ok)
      throw new BerthError(
        `InfluxDB on ${name} refused "${statement.replace(/'[^']*'/g, "'…'")}": ${done.detail}`,
      )
  }
}

/** The machine's own CA (key and certificate), which signs the stack's certificates. */
async function machineCa(store: Store, name: string): Promise<{ca: KeyAndCert; caFile: string}> {
  const record = await store.load(name)
  const signer = await serverSigner(record)
  if (signer.fresh)
    throw new BerthError(
      `machine "${name}" has no CA of its own yet to issue the monitoring stack's certificates`,
      ExitCode.failure,
      `run \`berth regenerate-certs ${name}\` first`,
    )
  return {ca: signer.ca, caFile: record.HostOptions.AuthOptions.CaCertPath}
}

/**
 * Starts (or restarts with the given settings) the stack on machine `name`. Data stays in volumes
 * across runs; the database and users are created if missing. Returns where InfluxDB and Grafana
 * answer and where the credentials are.
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
  const listenAddress = options.listenAddress ?? ip
  const address = isWildcard(listenAddress) ? ip : listenAddress
  const host = address.includes(':') ? `[${address}]` : address
  const {ca, caFile} = await machineCa(store, name)
  const docker = await engineClient(record, 120_000)
  for (const image of [options.influxImage, options.grafanaImage])
    if (image) await ensureImage(docker, name, image, reporter)
  const settings = {...options, listenAddress}
  const sans = [...new Set([ip, address, name])]

  reporter.step('starting InfluxDB')
  const users = await influxCredentials(store, name)
  await ensureNetwork(docker)
  await removeContainer(docker, INFLUX_CONTAINER)
  const influx = influxContainer(
    settings,
    await issueCert(ca, {
      kind: 'server',
      commonName: `${name} InfluxDB`,
      sans: [...sans, INFLUX_CONTAINER, 'influxdb'],
    }),
  )
  await startContainer(docker, influx.spec, await tarArchive(influx.files))
  const influxUrl = `https://${host}:${options.influxPort}`
  await waitFor('InfluxDB', `${influxUrl}/ping`, ca.certPem, (status) => status === 204)
  await bootstrapInflux(name, influxUrl, ca.certPem, options.database, users)
  const credential = ({username, passwordFile}: InfluxCredential) => ({username, passwordFile})
  const outcome: MonitorOutcome = {
    machine: name,
    influxUrl,
    database: options.database,
    caFile,
    listenAddress,
    influxCredentials: {
      admin: credential(users.admin),
      writer: credential(users.writer),
      reader: credential(users.reader),
    },
  }

  await removeContainer(docker, GRAFANA_CONTAINER)
  if (!options.grafanaImage) return outcome
  reporter.step('starting Grafana')
  const passwordFile = join(store.machineDir(name), GRAFANA_PASSWORD_FILE)
  const grafana = grafanaContainer(settings, options.grafanaImage, {
    adminPassword: await generatedPassword(passwordFile),
    influxPassword: users.reader.password,
    caCert: ca.certPem,
    tls: await issueCert(ca, {kind: 'server', commonName: `${name} Grafana`, sans}),
  })
  await startContainer(docker, grafana.spec, await tarArchive(grafana.files))
  const grafanaUrl = `https://${host}:${options.grafanaPort}`
  await waitFor('Grafana', `${grafanaUrl}/api/health`, ca.certPem, (status) => status === 200)
  return {...outcome, grafanaUrl, grafanaPasswordFile: passwordFile}
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
