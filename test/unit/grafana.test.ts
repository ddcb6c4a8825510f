/**
 * `berth dashboards install` against Grafana's documented HTTP API (requests and responses as in
 * Grafana's data source, folder and dashboard API docs), with nock standing in for the server.
 */
import {chmod, mkdtemp, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import nock from 'nock'
import {afterEach, beforeAll, describe, expect, it} from 'vitest'
import {
  alertRules,
  allDashboards,
  DATASOURCE_UID,
  DEFAULT_ALERTS,
  DEFAULT_INFLUX,
  DEFAULT_MIN_INTERVAL,
  RULE_GROUP,
} from '../../dashboards/src/index.js'
import {apiRule, installAlerts} from '../../src/core/dashboards/grafana-alerts.js'
import {BerthError, oneLine} from '../../src/core/errors.js'
import {readSecretFile} from '../../src/core/secret-file.js'
import {
  folderUid,
  grafanaBaseUrl,
  GrafanaClient,
  installDashboards,
  readTokenFile,
} from '../../src/core/dashboards/grafana.js'

const GRAFANA = 'http://grafana.test:3000'
const TOKEN = 'glsa_berthTestToken_0123456789'
const options = {
  influx: {...DEFAULT_INFLUX, url: 'http://10.0.0.5:8086'},
  minInterval: DEFAULT_MIN_INTERVAL,
  folder: 'berth',
}
const dashboardCount = allDashboards().length
const auth = {reqheaders: {authorization: `Bearer ${TOKEN}`}}

// Response bodies as Grafana's API documentation shows them.
const datasourceReply = (version: number) => ({
  id: 7,
  uid: DATASOURCE_UID,
  orgId: 1,
  name: 'berth InfluxDB',
  type: 'influxdb',
  access: 'proxy',
  url: 'http://10.0.0.5:8086',
  database: 'berth',
  basicAuth: false,
  isDefault: false,
  jsonData: {dbName: 'berth'},
  secureJsonFields: {},
  version,
  readOnly: false,
})
const folderReply = {
  id: 3,
  uid: 'berth',
  title: 'berth',
  url: '/dashboards/f/berth/berth',
  hasAcl: false,
  canSave: true,
  canEdit: true,
  canAdmin: true,
  version: 1,
}
const dashboardReply = (uid: string, version: number) => ({
  id: 11,
  uid,
  url: `/d/${uid}/${uid}`,
  status: 'success',
  version,
  slug: uid,
})

const client = () => new GrafanaClient({url: GRAFANA, token: TOKEN})

async function failure(promise: Promise<unknown>): Promise<BerthError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
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
      .get(`/api/datasources/uid/${DATASOURCE_UID}`)
      .reply(404, {message: 'Data source not found'})
      .post(
        '/api/datasources',
        (body) =>
          body.uid === DATASOURCE_UID &&
          body.type === 'influxdb' &&
          body.access === 'proxy' &&
          body.url === 'http://10.0.0.5:8086' &&
          body.jsonData.dbName === 'berth' &&
          body.jsonData.version === 'InfluxQL' &&
          !('secureJsonData' in body),
      )
      .reply(200, {
        datasource: datasourceReply(1),
        id: 7,
        message: 'Datasource added',
        name: 'berth InfluxDB',
      })
      .get('/api/folders/berth')
      .reply(404, {message: 'folder not found'})
      .post('/api/folders', {uid: 'berth', title: 'berth'})
      .reply(200, folderReply)
      .post('/api/dashboards/db', (body) => {
        posted.push(body)
        return (
          body.overwrite === true &&
          body.folderUid === 'berth' &&
          body.dashboard.id === null &&
          typeof body.dashboard.uid === 'string'
        )
      })
      .times(dashboardCount)
      .reply(200, (_uri, body) => dashboardReply((body as {dashboard: {uid: string}}).dashboard.uid, 1))

    const progress: string[] = []
    const outcome = await installDashboards(client(), options, (m) => progress.push(m))
    expect(outcome.datasource).toEqual({uid: DATASOURCE_UID, action: 'created'})
    expect(outcome.folder).toEqual({uid: 'berth', title: 'berth', action: 'created'})
    expect(outcome.dashboards.map((d) => [d.uid, d.action, d.url])).toEqual(
      allDashboards().map((d) => [d.uid, 'created', `/d/${d.uid}/${d.uid}`]),
    )
    expect(posted.map((b) => b.dashboard.panels.length)).toEqual(allDashboards().map((d) => d.panels!.length))
    expect(progress[0]).toBe(`data source ${DATASOURCE_UID}: created`)
  })

  it('updates in place on a second run: data source PUT by uid, folder reused, dashboards overwritten by uid', async () => {
    nock(GRAFANA, auth)
      .get(`/api/datasources/uid/${DATASOURCE_UID}`)
      .reply(200, datasourceReply(1))
      .put(
        `/api/datasources/uid/${DATASOURCE_UID}`,
        (body) => body.uid === DATASOURCE_UID && body.id === 7 && body.url === 'http://10.0.0.5:8086',
      )
      .reply(200, {
        datasource: datasourceReply(2),
        id: 7,
        message: 'Datasource updated',
        name: 'berth InfluxDB',
      })
      .get('/api/folders/berth')
      .reply(200, folderReply)
      .post('/api/dashboards/db', (body) => body.overwrite === true)
      .times(dashboardCount)
      .reply(200, (_uri, body) => dashboardReply((body as {dashboard: {uid: string}}).dashboard.uid, 2))

    const outcome = await installDashboards(client(), options)
    expect(outcome.datasource.action).toBe('updated')
    expect(outcome.folder.action).toBe('existing')
    expect(outcome.dashboards.every((d) => d.action === 'updated' && d.version === 2)).toBe(true)
  })

  it('sends an InfluxDB password only as secureJsonData in the body', async () => {
    nock(GRAFANA, auth)
      .get(`/api/datasources/uid/${DATASOURCE_UID}`)
      .reply(404, {message: 'Data source not found'})
      .post(
        '/api/datasources',
        (body) => body.user === 'grafana' && body.secureJsonData?.password === 's3cret',
      )
      .reply(200, {
        datasource: datasourceReply(1),
        id: 7,
        message: 'Datasource added',
        name: 'berth InfluxDB',
      })
      .get('/api/folders/berth')
      .reply(200, folderReply)
      .post('/api/dashboards/db')
      .times(dashboardCount)
      .reply(200, (_uri, body) => dashboardReply((body as {dashboard: {uid: string}}).dashboard.uid, 1))
    await installDashboards(client(), {
      ...options,
      influx: {...options.influx, username: 'grafana'},
      influxPassword: 's3cret',
    })
  })

  it('keeps a sub-path in the Grafana URL', async () => {
    nock('http://grafana.test', auth)
      .get(`/grafana/api/datasources/uid/${DATASOURCE_UID}`)
      .reply(401, {message: 'Unauthorized'})
    await failure(
      installDashboards(new GrafanaClient({url: 'http://grafana.test/grafana/', token: TOKEN}), options),
    )
  })
})

describe('Grafana errors are one line', () => {
  it('401: the token is refused, with a hint about the token file', async () => {
    nock(GRAFANA)
      .get(`/api/datasources/uid/${DATASOURCE_UID}`)
      .reply(401, {message: 'Invalid API key', messageId: 'api-key.invalid', statusCode: 401, traceID: ''})
    const err = await failure(installDashboards(client(), options))
    expect(err.message).toBe(
      `Grafana at ${GRAFANA} refused the token while trying to read data source "${DATASOURCE_UID}" (401: Invalid API key)`,
    )
    expect(err.hint).toMatch(/service account token/)
    expect(err.exitCode).toBe(1)
  })

  it("412 version-mismatch on a dashboard names the dashboard and Grafana's reason", async () => {
    const first = allDashboards()[0]
    nock(GRAFANA, auth)
      .get(`/api/datasources/uid/${DATASOURCE_UID}`)
      .reply(200, datasourceReply(1))
      .put(`/api/datasources/uid/${DATASOURCE_UID}`)
      .reply(200, {
        datasource: datasourceReply(2),
        id: 7,
        message: 'Datasource updated',
        name: 'berth InfluxDB',
      })
      .get('/api/folders/berth')
      .reply(200, folderReply)
      .post('/api/dashboards/db')
      .reply(412, {message: 'The dashboard has been changed by someone else', status: 'version-mismatch'})
    const err = await failure(installDashboards(client(), options))
    expect(err.message).toBe(
      `Grafana could not save dashboard "${first.title}" (412 version-mismatch: The dashboard has been changed by someone else)`,
    )
  })

  it('409: a data source of the same name under another uid', async () => {
    nock(GRAFANA, auth)
      .get(`/api/datasources/uid/${DATASOURCE_UID}`)
      .reply(404, {message: 'Data source not found'})
      .post('/api/datasources')
      .reply(409, {message: 'data source with the same name already exists'})
    const err = await failure(installDashboards(client(), options))
    expect(err.message).toMatch(
      /could not create data source "berth-influxdb" \(409: data source with the same name already exists\)/,
    )
  })

  it('403 on the folder: the token lacks the permission', async () => {
    nock(GRAFANA, auth)
      .get(`/api/datasources/uid/${DATASOURCE_UID}`)
      .reply(200, datasourceReply(1))
      .put(`/api/datasources/uid/${DATASOURCE_UID}`)
      .reply(200, {
        datasource: datasourceReply(2),
        id: 7,
        message: 'Datasource updated',
        name: 'berth InfluxDB',
      })
      .get('/api/folders/berth')
      .reply(404, {message: 'folder not found'})
      .post('/api/folders')
      .reply(403, {
        message:
          "You'll need additional permissions to perform this action. Permissions needed: folders:create",
      })
    const err = await failure(installDashboards(client(), options))
    expect(err.message).toMatch(
      /^Grafana denied the token permission to create folder "berth" \(403: You'll need additional permissions/,
    )
  })

  it('an unreachable Grafana', async () => {
    nock(GRAFANA)
      .get(`/api/datasources/uid/${DATASOURCE_UID}`)
      // As node:http reports it: an Error with the system's code.
      .replyWithError(Object.assign(new Error('connect ECONNREFUSED 10.0.0.9:3000'), {code: 'ECONNREFUSED'}))
    const err = await failure(installDashboards(client(), options))
    expect(err.message).toBe(`cannot reach Grafana at ${GRAFANA}: ECONNREFUSED`)
  })
})

describe('install inputs', () => {
  it('reads the token from a file, trimmed, and refuses empty or multi-line files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-token-'))
    await writeFile(join(dir, 'ok'), `${TOKEN}\n`, {mode: 0o600})
    await writeFile(join(dir, 'empty'), '\n', {mode: 0o600})
    await writeFile(join(dir, 'two'), 'a\nb\n', {mode: 0o600})
    expect(await readTokenFile(join(dir, 'ok'))).toBe(TOKEN)
    expect((await failure(readTokenFile(join(dir, 'empty')))).message).toMatch(/is empty/)
    expect((await failure(readTokenFile(join(dir, 'two')))).message).toMatch(/more than one line/)
    expect((await failure(readTokenFile(join(dir, 'missing')))).message).toMatch(
      /cannot read the token file .*: ENOENT/,
    )
  })

  it('refuses a token file that group or others can read, naming its mode, never its content (as ssh does for keys)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-token-'))
    for (const mode of [0o640, 0o604, 0o644, 0o660, 0o666]) {
      const path = join(dir, `t${mode.toString(8)}`)
      await writeFile(path, `${TOKEN}\n`)
      await chmod(path, mode)
      const err = await failure(readTokenFile(path))
      expect(err.message).toBe(`the token file ${path} is readable by others (mode 0${mode.toString(8)})`)
      expect(err.exitCode).toBe(2)
      expect(`${err.message} ${err.hint}`).not.toContain(TOKEN)
    }
    // A CA certificate travels the same way but is no secret: any mode.
    await writeFile(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n', {
      mode: 0o644,
    })
    expect(await readSecretFile(join(dir, 'ca.pem'), 'CA', undefined, true)).toMatch(/^-----BEGIN/)
    await chmod(join(dir, 't644'), 0o400) // read-only for its owner is fine
    expect(await readTokenFile(join(dir, 't644'))).toBe(TOKEN)
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

describe('installing the alert rules (alerting provisioning API)', () => {
  const settings = DEFAULT_ALERTS
  const rules = alertRules({settings, folder: 'berth'})
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const ruleReply = (body: any, id: number) => ({
    id,
    ...body,
    updated: '2026-12-04T12:00:00Z',
    provenance: 'api',
  })
  const groupPath = `/api/v1/provisioning/folder/berth/rule-groups/${encodeURIComponent(RULE_GROUP)}`

  it("creates every rule by its uid in the dashboards' folder on a fresh Grafana, then sets the group's interval", async () => {
    const posted: any[] = [] // eslint-disable-line @typescript-eslint/no-explicit-any
    const scope = nock(GRAFANA, auth)
    for (const rule of rules) scope.get(`/api/v1/provisioning/alert-rules/${rule.uid}`).reply(404)
    scope
      .post('/api/v1/provisioning/alert-rules', (body) => {
        posted.push(body)
        return (
          body.folderUID === 'berth' &&
          body.ruleGroup === RULE_GROUP &&
          body.orgID === 1 &&
          body.condition === 'C' &&
          body.data[0].datasourceUid === DATASOURCE_UID
        )
      })
      .times(rules.length)
      .reply(201, (_uri, body) => ruleReply(body, 1))
    scope
      .put(
        groupPath,
        (body) =>
          body.interval === 60 &&
          body.folderUid === 'berth' &&
          body.title === RULE_GROUP &&
          body.rules.length === rules.length,
      )
      .reply(200, {})
    const progress: string[] = []
    const outcome = await installAlerts(client(), {folderUid: 'berth', folderTitle: 'berth', settings}, (m) =>
      progress.push(m),
    )
    expect(posted.map((b) => b.uid)).toEqual(rules.map((r) => r.uid))
    expect(posted.every((b) => b.notification_settings === undefined)).toBe(true)
    expect(outcome.rules.every((r) => r.action === 'created')).toBe(true)
    expect(outcome.contactPoint).toBeUndefined()
    expect(progress).toContain('alert rule Machine not reporting: created')
  })

  it('updates each rule in place with PUT by uid on a second run, never POSTing a copy', async () => {
    const scope = nock(GRAFANA, auth)
    for (const rule of rules) {
      scope
        .get(`/api/v1/provisioning/alert-rules/${rule.uid}`)
        .reply(200, ruleReply(apiRule(rule, 'berth'), 3))
      scope
        .put(
          `/api/v1/provisioning/alert-rules/${rule.uid}`,
          (body) => body.uid === rule.uid && body.folderUID === 'berth',
        )
        .reply(200, (_uri, body) => ruleReply(body, 3))
    }
    scope.put(groupPath).reply(200, {})
    const outcome = await installAlerts(client(), {
      folderUid: 'berth',
      folderTitle: 'berth',
      settings: {...settings, cpuPercent: 95},
    })
    expect(outcome.rules.map((r) => r.action)).toEqual(rules.map(() => 'updated'))
  })

  it("with a webhook: berth's contact point first (created, or updated by uid), every rule routed to it", async () => {
    const url = 'https://hooks.example/alerts?token=abc'
    for (const existing of [false, true]) {
      const scope = nock(GRAFANA, auth)
        .get('/api/v1/provisioning/contact-points')
        .query({name: 'berth'})
        .reply(
          200,
          existing
            ? [
                {
                  uid: 'berth-webhook',
                  name: 'berth',
                  type: 'webhook',
                  settings: {url: '[REDACTED]'},
                  disableResolveMessage: false,
                },
              ]
            : [],
        )
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const contact = (body: any) =>
        body.uid === 'berth-webhook' &&
        body.name === 'berth' &&
        body.type === 'webhook' &&
        body.settings.url === url
      if (existing)
        scope
          .put('/api/v1/provisioning/contact-points/berth-webhook', contact)
          .reply(202, {message: 'contactpoint updated'})
      else scope.post('/api/v1/provisioning/contact-points', contact).reply(202, {uid: 'berth-webhook'})
      for (const rule of rules) scope.get(`/api/v1/provisioning/alert-rules/${rule.uid}`).reply(404)
      scope
        .post('/api/v1/provisioning/alert-rules', (body) => body.notification_settings?.receiver === 'berth')
        .times(rules.length)
        .reply(201, (_uri, body) => ruleReply(body, 1))
      scope.put(groupPath).reply(200, {})
      const outcome = await installAlerts(client(), {
        folderUid: 'berth',
        folderTitle: 'berth',
        settings,
        webhookUrl: url,
      })
      expect(outcome.contactPoint).toEqual({
        name: 'berth',
        uid: 'berth-webhook',
        action: existing ? 'updated' : 'created',
      })
    }
  })

  it("a rule Grafana refuses is one line naming the rule and Grafana's reason", async () => {
    nock(GRAFANA, auth)
      .get(`/api/v1/provisioning/alert-rules/${rules[0]!.uid}`)
      .reply(404)
      .post('/api/v1/provisioning/alert-rules')
      .reply(400, {
        message: "invalid rule specification at index [0]: failed to build query 'A': data source not found",
      })
    const err = await failure(installAlerts(client(), {folderUid: 'berth', folderTitle: 'berth', settings}))
    expect(err.message).toBe(
      'Grafana could not create alert rule "Machine not reporting" (400: invalid rule specification at index [0]: failed to build query \'A\': data source not found)',
    )
  })
})
