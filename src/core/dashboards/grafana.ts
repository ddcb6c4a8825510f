/**
 * Installs berth's data source, folder and dashboards through Grafana's HTTP API (the documented
 * /api/datasources, /api/folders and /api/dashboards/db endpoints), idempotently: the fixed uids
 * make a second run update what the first created.
 */
import type {InfluxConnection} from '../../../agent/src/influx.js'
import {
  allDashboards,
  datasourceModel,
  datasourceSecrets,
  DATASOURCE_UID,
} from '../../../dashboards/src/index.js'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import {httpRequest} from '../http.js'
import {readSecretFile} from '../secret-file.js'
import {checkUrl} from '../http-url.js'

const TOKEN_HINT = 'the token file must hold a Grafana service account token with the Admin role'

export interface GrafanaClientOptions {
  url: string
  token: string
  timeoutMs?: number
  /** PEM of a CA to trust for an https Grafana (a machine's own, for `monitor up`'s). */
  ca?: string
}

interface Reply {
  status: number
  body: Record<string, unknown>
}

/** A Grafana base URL (a sub-path such as https://host/grafana is kept), or a usage error. */
export function grafanaBaseUrl(value: string): string {
  const url = checkUrl(value, '--grafana-url', {credentialsHint: 'put the token in --token-file'})
  return url.toString().replace(/\/+$/, '')
}

export const readTokenFile = (path: string) => readSecretFile(path, 'token', TOKEN_HINT)

export class GrafanaClient {
  private readonly base: string
  constructor(private readonly options: GrafanaClientOptions) {
    this.base = grafanaBaseUrl(options.url)
  }

  async request(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<Reply> {
    let response: {status: number; text: string}
    try {
      // node:http follows no redirect: a redirect is reported, never followed with the token.
      response = await httpRequest(this.base + path, {
        method,
        headers: {
          Authorization: `Bearer ${this.options.token}`,
          Accept: 'application/json',
          ...(body === undefined ? {} : {'Content-Type': 'application/json'}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs: this.options.timeoutMs,
        ca: this.options.ca,
      })
    } catch (err) {
      throw new BerthError(`cannot reach Grafana at ${this.base}: ${oneLine(err)}`, ExitCode.failure)
    }
    const text = response.text
    let parsed: Record<string, unknown> = {}
    try {
      parsed = text ? JSON.parse(text) : {}
    } catch {
      parsed = {message: text.slice(0, 200)}
    }
    return {status: response.status, body: parsed}
  }

  /** A reply Grafana did not answer with 2xx, as the one line a user sees. */
  failure(what: string, reply: Reply): BerthError {
    const message = oneLine(String(reply.body.message ?? 'no message'))
    const status = typeof reply.body.status === 'string' ? ` ${reply.body.status}` : ''
    if (reply.status === 401)
      return new BerthError(
        `Grafana at ${this.base} refused the token while trying to ${what} (401: ${message})`,
        ExitCode.failure,
        TOKEN_HINT,
      )
    if (reply.status === 403)
      return new BerthError(
        `Grafana denied the token permission to ${what} (403: ${message})`,
        ExitCode.failure,
        TOKEN_HINT,
      )
    if (reply.status >= 300 && reply.status < 400)
      return new BerthError(
        `Grafana at ${this.base} redirected (${reply.status}) while trying to ${what}`,
        ExitCode.failure,
        "check --grafana-url: it must be Grafana's root URL, including any sub-path",
      )
    return new BerthError(
      `Grafana could not ${what} (${reply.status}${status}: ${message})`,
      ExitCode.failure,
    )
  }
}

export type Action = 'created' | 'updated' | 'existing'

export interface InstallOptions {
  /** InfluxDB as Grafana's server reaches it. */
  influx: InfluxConnection
  /** The data source's smallest $__interval: the agents' collection interval. */
  minInterval: string
  /** Sent as the data source's secureJsonData password; Grafana stores it encrypted. */
  influxPassword?: string
  /** Sent as the data source's `Authorization: Token ...` header, stored encrypted the same way. */
  influxToken?: string
  folder: string
}

export interface InstallOutcome {
  datasource: {uid: string; action: Action}
  folder: {uid: string; title: string; action: Action}
  dashboards: Array<{uid: string; title: string; url: string; version: number; action: Action}>
}

/** Folder uid from its title: stable across runs, so the folder is found again. */
export function folderUid(title: string): string {
  const slug = title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
  if (!slug)
    throw new BerthError(
      `--folder "${title}" has no letters or digits to make a folder uid from`,
      ExitCode.usage,
    )
  return slug
}

export async function upsertDatasource(
  grafana: GrafanaClient,
  influx: InfluxConnection,
  minInterval: string,
  password?: string,
  token?: string,
): Promise<{uid: string; action: Action}> {
  const path = `/api/datasources/uid/${DATASOURCE_UID}`
  const model = {...datasourceModel(influx, minInterval), ...datasourceSecrets(influx, password, token)}
  const existing = await grafana.request('GET', path)
  if (existing.status === 200) {
    const updated = await grafana.request('PUT', path, {...model, id: existing.body.id})
    if (updated.status !== 200) throw grafana.failure(`update data source "${DATASOURCE_UID}"`, updated)
    return {uid: DATASOURCE_UID, action: 'updated'}
  }
  if (existing.status !== 404) throw grafana.failure(`read data source "${DATASOURCE_UID}"`, existing)
  const created = await grafana.request('POST', '/api/datasources', model)
  if (created.status !== 200) throw grafana.failure(`create data source "${DATASOURCE_UID}"`, created)
  return {uid: DATASOURCE_UID, action: 'created'}
}

export async function ensureFolder(
  grafana: GrafanaClient,
  title: string,
): Promise<{uid: string; title: string; action: Action}> {
  const uid = folderUid(title)
  const existing = await grafana.request('GET', `/api/folders/${uid}`)
  if (existing.status === 200) return {uid, title: String(existing.body.title ?? title), action: 'existing'}
  if (existing.status !== 404) throw grafana.failure(`read folder "${uid}"`, existing)
  const created = await grafana.request('POST', '/api/folders', {uid, title})
  if (created.status !== 200) throw grafana.failure(`create folder "${title}"`, created)
  return {uid, title, action: 'created'}
}

/** Creates or replaces one dashboard by its uid (overwrite: a newer copy in Grafana is replaced too). */
export async function uploadDashboard(
  grafana: GrafanaClient,
  dashboard: {uid: string; title: string},
  folder: string,
): Promise<InstallOutcome['dashboards'][number]> {
  const reply = await grafana.request('POST', '/api/dashboards/db', {
    dashboard: {...dashboard, id: null},
    folderUid: folder,
    overwrite: true,
    message: 'berth dashboards install',
  })
  if (reply.status !== 200) throw grafana.failure(`save dashboard "${dashboard.title}"`, reply)
  const version = Number(reply.body.version)
  return {
    uid: dashboard.uid,
    title: dashboard.title,
    url: String(reply.body.url ?? ''),
    version,
    action: version === 1 ? 'created' : 'updated',
  }
}

export async function installDashboards(
  grafana: GrafanaClient,
  options: InstallOptions,
  progress: (message: string) => void = () => {},
): Promise<InstallOutcome> {
  const datasource = await upsertDatasource(
    grafana,
    options.influx,
    options.minInterval,
    options.influxPassword,
    options.influxToken,
  )
  progress(`data source ${datasource.uid}: ${datasource.action}`)
  const folder = await ensureFolder(grafana, options.folder)
  progress(`folder ${folder.title}: ${folder.action}`)
  const dashboards: InstallOutcome['dashboards'] = []
  for (const dashboard of allDashboards()) {
    const saved = await uploadDashboard(grafana, dashboard as {uid: string; title: string}, folder.uid)
    progress(`dashboard ${saved.title}: ${saved.action} (version ${saved.version})`)
    dashboards.push(saved)
  }
  return {datasource, folder, dashboards}
}
