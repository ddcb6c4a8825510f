/**
 * httpRequest against a real https server whose certificate comes from a private CA, as
 * `monitor up`'s InfluxDB and Grafana have: trusted with that CA, refused without it or with
 * another machine's; and the InfluxDB query harness and Grafana client going through it.
 */
import {createServer, type Server} from 'node:https'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {createCA, issueCert, type KeyAndCert} from '../../src/core/certs/certs.js'
import {InfluxQuery} from '../../src/core/dashboards/harness.js'
import {GrafanaClient} from '../../src/core/dashboards/grafana.js'
import {httpRequest} from '../../src/core/http.js'

let ca: KeyAndCert
let other: KeyAndCert
let server: Server
let url: string
const seen: Array<{method?: string; url?: string; authorization?: string; body: string}> = []

beforeAll(async () => {
  ;[ca, other] = await Promise.all([createCA('machine A'), createCA('machine B')])
  const tls = await issueCert(ca, {kind: 'server', commonName: 'a', sans: ['127.0.0.1']})
  server = createServer({key: tls.keyPem, cert: tls.certPem}, (req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c))
    req.on('end', () => {
      seen.push({method: req.method, url: req.url, authorization: req.headers.authorization, body})
      res
        .writeHead(200, {'Content-Type': 'application/json'})
        .end(JSON.stringify({results: [{series: [{name: 'm', columns: ['time', 'v'], values: [[1, 2]]}]}]}))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  url = `https://127.0.0.1:${(server.address() as {port: number}).port}`
})

afterAll(() => new Promise<void>((r) => server.close(() => r())))

describe('httpRequest with a private CA', () => {
  it('trusts a server whose certificate the given CA signed, and sends method, headers and body', async () => {
    seen.length = 0
    const reply = await httpRequest(`${url}/query`, {
      method: 'POST',
      ca: ca.certPem,
      headers: {'Content-Type': 'application/x-www-form-urlencoded'},
      body: 'q=SHOW+USERS',
    })
    expect(reply.status).toBe(200)
    expect(JSON.parse(reply.text).results[0].series[0].values).toEqual([[1, 2]])
    expect(seen).toEqual([{method: 'POST', url: '/query', authorization: undefined, body: 'q=SHOW+USERS'}])
  })

  it("refuses it without the CA, or with another machine's CA", async () => {
    await expect(httpRequest(url)).rejects.toThrow(
      /^SELF_SIGNED_CERT_IN_CHAIN$|^UNABLE_TO_VERIFY_LEAF_SIGNATURE$/,
    )
    await expect(httpRequest(url, {ca: other.certPem})).rejects.toThrow(
      /^SELF_SIGNED_CERT_IN_CHAIN$|^UNABLE_TO_VERIFY_LEAF_SIGNATURE$/,
    )
  })

  it('InfluxQuery and GrafanaClient reach it with the CA, credentials in headers only', async () => {
    seen.length = 0
    const influx = new InfluxQuery(
      {url, database: 'berth', username: 'berth_reader'},
      {password: 'pw-reader', ca: ca.certPem},
    )
    expect(await influx.query('SELECT v FROM m')).toEqual([
      {name: 'm', columns: ['time', 'v'], values: [[1, 2]]},
    ])
    expect(seen[0]!.authorization).toBe(`Basic ${Buffer.from('berth_reader:pw-reader').toString('base64')}`)
    expect(seen[0]!.url).not.toContain('pw-reader')
    await expect(new InfluxQuery({url, database: 'berth'}).query('SELECT 1')).rejects.toThrow(
      /^cannot reach InfluxDB at https:.*: (SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/,
    )
    const grafana = new GrafanaClient({url, token: 'glsa_tok', ca: ca.certPem})
    expect((await grafana.request('GET', '/api/health')).status).toBe(200)
    expect(seen[1]).toMatchObject({method: 'GET', url: '/api/health', authorization: 'Bearer glsa_tok'})
  })
})
