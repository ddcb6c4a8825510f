/**
 * `berth dashboards install` against Grafana's documented HTTP API (requests and responses as in
 * Grafana's data source, folder and dashboard API docs), with nock standing in for the server.
 */
import {mkdtemp, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import nock from 'nock'
import {afterEach, beforeAll, describe, expect, it} from 'vitest'
import {allDashboards, DATASOURCE_UID, DEFAULT_INFLUX, DEFAULT_MIN_INTERVAL} from '../../dashboards/src/index.js'
import {BerthError, oneLine} from '../../src/core/errors.js'
import {folderUid, grafanaBaseUrl, GrafanaClient, installDashboards, readTokenFile} from '../../src/core/dashboards/grafana.js'

const GRAFANA = 'http://grafana.test:3000'
const TOKEN = 'glsa_berthTestToken_0123456789'
const options = {influx: {...DEFAULT_INFLUX, url: 'http://10.0.0.5:8086'}, minInterval: DEFAULT_MIN_INTERVAL, folder: 'berth'}
const dashboardCount = allDashboards().length
const auth = {reqheaders: {authorization: `Bearer ${TOKEN}`}}

// Response bodies as Grafana's API documentation shows them.
const datasourceReply = (version: number) => ({id: 7, uid: DATASOURCE_UID, orgId: 1, name: 'berth InfluxDB', type: 'influxdb', access: 'proxy', url: 'http://10.0.0.5:8086',
  database: 'berth', basicAuth: false, isDefault: false, jsonData: {dbName: 'berth'}, secureJsonFields: {}, version, readOnly: false})
const folderReply = {id: 3, uid: 'berth', title: 'berth', url: '/dashboards/f/berth/berth', hasAcl: false, canSave: true, canEdit: true, canAdmin: true, version: 1}
const dashboardReply = (uid: string, version: number) => ({id: 11, uid, url: `/d/${uid}/${uid}`, status: 'success', version, slug: uid})

const client = () => new GrafanaClient({url: GRAFANA, token: TOKEN})

async function failure(promise: Promise<unknown>): Promise<BerthError> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(BerthError)
  expect(oneLine(err)).toBe((err as Error).message) // one line, nothing more
  return err as BerthError
}

beforeAll(() => nock.disableNetConnect())
afterEach(() => {
  const pending = nock.pendingMocks()
  nock.cleanAll()
  expect(pending, 'every documented request was made').toEqual([])
})

describe('installing into Grafana', () => {
  it('creates the data source, the folder and every dashboard on a fresh Grafana', async () => {
    const posted: Array<Record<string, any>> = [] // eslint-disable-line @typescript-eslint/no-explicit-any
    nock(GRAFANA, auth)
      .get(`/api/datasources/uid/${DATASOURCE_UID}`).reply(404, {message: 'Data source not found'})
      .post('/api/datasources', (body) => body.uid === DATASOURCE_UID && body.type === 'influxdb' && body.access === 'proxy' &&
        body.url === 'http://10.0.0.5:8086' && body.jsonData.dbName === 'berth' && body.jsonData.version === 'InfluxQL' && !('secureJsonData' in body))
      .reply(200, {datasource: datasourceReply(1), id: 7, message: 'Datasource added', name: 'berth InfluxDB'})
      .get('/api/folders/berth').reply(404, {message: 'folder not found'})
      .post('/api/folders', {uid: 'berth', title: 'berth'}).reply(200, folderReply)
      .post('/api/dashboards/db', (body) => {
        posted.push(body)
        return body.overwrite === true && body.folderUid === 'berth' && body.dashboard.id === null && typeof body.dashboard.uid === 'string'
      })
      .times(dashboardCount)
      .reply(200, (_uri, body) => dashboardReply((body as {dashboard: {uid: string}}).dashboard.uid, 1))

    const progress: string[] = []
    const outcome = await installDashboards(client(), options, (m) => progress.push(m))
    expect(outcome.datasource).toEqual({uid: DATASOURCE_UID, action: 'created'})
    expect(outcome.folder).toEqual({uid: 'berth', title: 'berth', action: 'created'})
    expect(outcome.dashboards.map((d) => [d.uid, d.action, d.url])).toEqual(allDashboards().map((d) => [d.uid, 'created', `/d/${d.uid}/${d.uid}`]))
    expect(posted.map((b) => b.dashboard.panels.length)).toEqual(allDashboards().map((d) => d.panels!.length))
    expect(progress[0]).toBe(`data source ${DATASOURCE_UID}: created`)
  })

  it('updates in place on a second run: data source PUT by uid, folder reused, dashboards overwritten by uid', async () => {
    nock(GRAFANA, auth)
      .get(`/api/datasources/uid/${DATASOURCE_UID}`).reply(200, datasourceReply(1))
      .put(`/api/datasources/uid/${DATASOURCE_UID}`, (body) => body.uid === DATASOURCE_UID && body.id === 7 && body.url === 'http://10.0.0.5:8086')
      .reply(200, {datasource: datasourceReply(2), id: 7, message: 'Datasource updated', name: 'berth InfluxDB'})
      .get('/api/folders/berth').reply(200, folderReply)
      .post('/api/dashboards/db', (body) => body.overwrite === true).times(dashboardCount)
      .reply(200, (_uri, body) => dashboardReply((body as {dashboard: {uid: string}}).dashboard.uid, 2))

    const outcome = await installDashboards(client(), options)
    expect(outcome.datasource.action).toBe('updated')
    expect(outcome.folder.action).toBe('existing')
    expect(outcome.dashboards.every((d) => d.action === 'updated' && d.version === 2)).toBe(true)
  })

  it('sends an InfluxDB password only as secureJsonData in the body', async () => {
    nock(GRAFANA, auth)
      .get(`/api/datasources/uid/${DATASOURCE_UID}`).reply(404, {message: 'Data source not found'})
      .post('/api/datasources', (body) => body.user === 'grafana' && body.secureJsonData?.password === 's3cret')
      .reply(200, {datasource: datasourceReply(1), id: 7, message: 'Datasource added', name: 'berth InfluxDB'})
      .get('/api/folders/berth').reply(200, folderReply)
      .post('/api/dashboards/db').times(dashboardCount).reply(200, (_uri, body) => dashboardReply((body as {dashboard: {uid: string}}).dashboard.uid, 1))
    await installDashboards(client(), {...options, influx: {...options.influx, username: 'grafana'}, influxPassword: 's3cret'})
  })

  it('keeps a sub-path in the Grafana URL', async () => {
    nock('http://grafana.test', auth).get(`/grafana/api/datasources/uid/${DATASOURCE_UID}`).reply(401, {message: 'Unauthorized'})
    await failure(installDashboards(new GrafanaClient({url: 'http://grafana.test/grafana/', token: TOKEN}), options))
  })
})

describe('Grafana errors are one line', () => {
  it('401: the token is refused, with a hint about the token file', async () => {
    nock(GRAFANA).get(`/api/datasources/uid/${DATASOURCE_UID}`).reply(401, {message: 'Invalid API key', messageId: 'api-key.invalid', statusCode: 401, traceID: ''})
    const err = await failure(installDashboards(client(), options))
    expect(err.message).toBe(`Grafana at ${GRAFANA} refused the token while trying to read data source "${DATASOURCE_UID}" (401: Invalid API key)`)
    expect(err.hint).toMatch(/service account token/)
    expect(err.exitCode).toBe(1)
  })

  it('412 version-mismatch on a dashboard names the dashboard and Grafana\'s reason', async () => {
    const first = allDashboards()[0]
    nock(GRAFANA, auth)
      .get(`/api/datasources/uid/${DATASOURCE_UID}`).reply(200, datasourceReply(1))
      .put(`/api/datasources/uid/${DATASOURCE_UID}`).reply(200, {datasource: datasourceReply(2), id: 7, message: 'Datasource updated', name: 'berth InfluxDB'})
      .get('/api/folders/berth').reply(200, folderReply)
      .post('/api/dashboards/db').reply(412, {message: 'The dashboard has been changed by someone else', status: 'version-mismatch'})
    const err = await failure(installDashboards(client(), options))
    expect(err.message).toBe(`Grafana could not save dashboard "${first.title}" (412 version-mismatch: The dashboard has been changed by someone else)`)
  })

  it('409: a data source of the same name under another uid', async () => {
    nock(GRAFANA, auth)
      .get(`/api/datasources/uid/${DATASOURCE_UID}`).reply(404, {message: 'Data source not found'})
      .post('/api/datasources').reply(409, {message: 'data source with the same name already exists'})
    const err = await failure(installDashboards(client(), options))
    expect(err.message).toMatch(/could not create data source "berth-influxdb" \(409: data source with the same name already exists\)/)
  })

  it('403 on the folder: the token lacks the permission', async () => {
    nock(GRAFANA, auth)
      .get(`/api/datasources/uid/${DATASOURCE_UID}`).reply(200, datasourceReply(1))
      .put(`/api/datasources/uid/${DATASOURCE_UID}`).reply(200, {datasource: datasourceReply(2), id: 7, message: 'Datasource updated', name: 'berth InfluxDB'})
      .get('/api/folders/berth').reply(404, {message: 'folder not found'})
      .post('/api/folders').reply(403, {message: 'You\'ll need additional permissions to perform this action. Permissions needed: folders:create'})
    const err = await failure(installDashboards(client(), options))
    expect(err.message).toMatch(/^Grafana denied the token permission to create folder "berth" \(403: You'll need additional permissions/)
  })

  it('an unreachable Grafana', async () => {
    nock(GRAFANA).get(`/api/datasources/uid/${DATASOURCE_UID}`).replyWithError({code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 10.0.0.9:3000'})
    const err = await failure(installDashboards(client(), options))
    expect(err.message).toMatch(new RegExp(`^cannot reach Grafana at ${GRAFANA}: `))
  })
})

describe('install inputs', () => {
  it('reads the token from a file, trimmed, and refuses empty or multi-line files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-token-'))
    await writeFile(join(dir, 'ok'), `${TOKEN}\n`)
    await writeFile(join(dir, 'empty'), '\n')
    await writeFile(join(dir, 'two'), 'a\nb\n')
    expect(await readTokenFile(join(dir, 'ok'))).toBe(TOKEN)
    expect((await failure(readTokenFile(join(dir, 'empty')))).message).toMatch(/is empty/)
    expect((await failure(readTokenFile(join(dir, 'two')))).message).toMatch(/more than one line/)
    expect((await failure(readTokenFile(join(dir, 'missing')))).message).toMatch(/cannot read the token file .*: ENOENT/)
  })

  it('checks the Grafana URL and derives a stable folder uid', () => {
    expect(grafanaBaseUrl('https://g.example/grafana/')).toBe('https://g.example/grafana')
    expect(() => grafanaBaseUrl('grafana:3000')).toThrow(/must be http/)
    expect(() => grafanaBaseUrl('not a url')).toThrow(/is not a URL/)
    expect(() => grafanaBaseUrl('http://admin:pw@g.example')).toThrow(/must not carry credentials/)
    expect(folderUid('Fleet / Production')).toBe('fleet-production')
    expect(() => folderUid('///')).toThrow(/no letters or digits/)
  })
})
