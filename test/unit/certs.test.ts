import {createPrivateKey, createPublicKey, X509Certificate} from 'node:crypto'
import {mkdtemp, readFile, rm, stat} from 'node:fs/promises'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import tls from 'node:tls'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  copyClientCertsTo,
  createCA,
  ensureStoreCerts,
  issueCert,
  storeCertPaths,
} from '../../src/core/certs/certs.js'
import type {KeyAndCert} from '../../src/core/certs/certs.js'
import {Store} from '../../src/core/store/store.js'

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'

let ca: KeyAndCert
let otherCa: KeyAndCert
let server: KeyAndCert
let client: KeyAndCert
let strangerClient: KeyAndCert
const tmpDirs: string[] = []

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-certs-'))
  tmpDirs.push(dir)
  return dir
}

function mode(path: string): Promise<number> {
  return stat(path).then((s) => s.mode & 0o777)
}

beforeAll(async () => {
  ;[ca, otherCa] = await Promise.all([createCA(), createCA('other CA')])
  ;[server, client, strangerClient] = await Promise.all([
    issueCert(ca, {
      kind: 'server',
      commonName: 'dev',
      sans: ['127.0.0.1', '10.0.0.5', 'dev.example', 'localhost', '10.0.0.5'],
    }),
    issueCert(ca, {kind: 'client', commonName: 'berth client'}),
    issueCert(otherCa, {kind: 'client', commonName: 'stranger'}),
  ])
})

afterAll(async () => {
  await Promise.all(tmpDirs.map((dir) => rm(dir, {recursive: true, force: true})))
})

describe('createCA', () => {
  it('is a self-signed CA certificate', () => {
    const cert = new X509Certificate(ca.certPem)
    expect(cert.ca).toBe(true)
    expect(cert.subject).toBe(cert.issuer)
    expect(cert.subject).toContain('CN=berth CA')
    expect(cert.verify(cert.publicKey)).toBe(true)
    expect(cert.checkIssued(cert)).toBe(true)
  })

  it('its key matches its certificate', () => {
    const cert = new X509Certificate(ca.certPem)
    expect(cert.checkPrivateKey(createPrivateKey(ca.keyPem))).toBe(true)
  })

  it('is valid now (with clock-skew slack) for about ten years, with a positive serial', () => {
    const cert = new X509Certificate(ca.certPem)
    const from = Date.parse(cert.validFrom)
    const to = Date.parse(cert.validTo)
    expect(from).toBeLessThanOrEqual(Date.now() - 60_000)
    expect(from).toBeGreaterThan(Date.now() - 60 * 60_000)
    const years = (to - from) / (365.25 * 24 * 3600_000)
    expect(years).toBeGreaterThan(9.9)
    expect(years).toBeLessThan(10.1)
    expect(Number.parseInt(cert.serialNumber[0]!, 16)).toBeLessThan(8)
  })

  it('two CAs have different keys and serials', () => {
    const a = new X509Certificate(ca.certPem)
    const b = new X509Certificate(otherCa.certPem)
    expect(a.serialNumber).not.toBe(b.serialNumber)
    expect(a.publicKey.export({type: 'spki', format: 'pem'})).not.toBe(
      b.publicKey.export({type: 'spki', format: 'pem'}),
    )
  })
})

describe('issueCert', () => {
  it('the server certificate is signed by the CA and is not a CA', () => {
    const cert = new X509Certificate(server.certPem)
    const caCert = new X509Certificate(ca.certPem)
    expect(cert.verify(caCert.publicKey)).toBe(true)
    expect(cert.checkIssued(caCert)).toBe(true)
    expect(cert.ca).toBe(false)
    expect(cert.subject).toContain('CN=dev')
    expect(cert.issuer).toBe(caCert.subject)
  })

  it('is not verified by another CA', () => {
    const cert = new X509Certificate(server.certPem)
    const other = new X509Certificate(otherCa.certPem)
    expect(cert.verify(other.publicKey)).toBe(false)
    expect(cert.checkIssued(other)).toBe(false)
  })

  it('SANs carry IPs as IP Address and names as DNS, without duplicates', () => {
    const san = new X509Certificate(server.certPem).subjectAltName ?? ''
    const entries = san.split(', ')
    expect(entries).toContain('IP Address:127.0.0.1')
    expect(entries).toContain('IP Address:10.0.0.5')
    expect(entries).toContain('DNS:dev.example')
    expect(entries).toContain('DNS:localhost')
    expect(entries).not.toContain('DNS:10.0.0.5')
    expect(entries).not.toContain('DNS:127.0.0.1')
    expect(entries.filter((e) => e === 'IP Address:10.0.0.5')).toHaveLength(1)
    expect(entries).toHaveLength(4)
  })

  it('hostname checks use the SANs', () => {
    const cert = new X509Certificate(server.certPem)
    expect(cert.checkIP('10.0.0.5')).toBe('10.0.0.5')
    expect(cert.checkIP('10.0.0.6')).toBeUndefined()
    expect(cert.checkHost('dev.example')).toBe('dev.example')
    expect(cert.checkHost('other.example')).toBeUndefined()
  })

  it('IPv6 SANs are IP addresses too', async () => {
    const v6 = await issueCert(ca, {kind: 'server', commonName: 'v6', sans: ['::1', 'fd00::5']})
    const san = new X509Certificate(v6.certPem).subjectAltName ?? ''
    expect(san).toContain('IP Address:0:0:0:0:0:0:0:1')
    expect(san).not.toContain('DNS:')
  })

  it('without SANs there is no subjectAltName', () => {
    expect(new X509Certificate(client.certPem).subjectAltName).toBeUndefined()
  })

  it('server certificates are for serverAuth only, client certificates for clientAuth only', () => {
    expect(new X509Certificate(server.certPem).keyUsage).toEqual([SERVER_AUTH])
    expect(new X509Certificate(client.certPem).keyUsage).toEqual([CLIENT_AUTH])
  })

  it('the client certificate is signed by the CA and its key matches', () => {
    const cert = new X509Certificate(client.certPem)
    expect(cert.checkIssued(new X509Certificate(ca.certPem))).toBe(true)
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true)
    expect(cert.checkPrivateKey(createPrivateKey(client.keyPem))).toBe(true)
  })

  it('defaults to three years and honours years', async () => {
    const span = (pem: string) => {
      const cert = new X509Certificate(pem)
      return (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / (365.25 * 24 * 3600_000)
    }
    expect(span(client.certPem)).toBeCloseTo(3, 1)
    const one = await issueCert(ca, {kind: 'client', commonName: 'short', years: 1})
    expect(span(one.certPem)).toBeCloseTo(1, 1)
  })

  it('every certificate gets its own key', () => {
    const spki = (pem: string) => createPublicKey(pem).export({type: 'spki', format: 'pem'})
    expect(spki(server.keyPem)).not.toBe(spki(client.keyPem))
    expect(spki(server.keyPem)).not.toBe(spki(ca.keyPem))
  })
})

interface Attempt {
  data: string
  error?: string
}

/** Connects, waits for the server's greeting or a failure. */
function attempt(port: number, options: tls.ConnectionOptions): Promise<Attempt> {
  return new Promise((resolve) => {
    let data = ''
    let error: string | undefined
    const socket = tls.connect({host: '127.0.0.1', port, ca: ca.certPem, ...options})
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (data += chunk))
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message))
    socket.on('close', () => resolve({data, error}))
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')))
  })
}

describe('mutual TLS with the issued certificates', () => {
  let tlsServer: tls.Server
  let port: number
  /** Common names of the clients the server accepted. */
  const accepted: string[] = []

  beforeAll(async () => {
    tlsServer = tls.createServer(
      {key: server.keyPem, cert: server.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true},
      (socket) => {
        const cn = String(socket.getPeerCertificate().subject.CN)
        accepted.push(cn)
        socket.end('hello ' + cn)
      },
    )
    tlsServer.on('tlsClientError', () => {})
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve))
    port = (tlsServer.address() as AddressInfo).port
  })

  afterAll(async () => {
    await new Promise((resolve) => tlsServer.close(resolve))
  })

  async function refused(options: tls.ConnectionOptions): Promise<void> {
    const before = accepted.length
    const result = await attempt(port, options)
    expect(result.data).toBe('')
    expect(accepted).toHaveLength(before)
  }

  it('a client with the client certificate connects and the server sees it', async () => {
    const result = await attempt(port, {key: client.keyPem, cert: client.certPem})
    expect(result.error).toBeUndefined()
    expect(result.data).toBe('hello berth client')
    expect(accepted).toContain('berth client')
  })

  it('the client verifies the server: by its CA and by its IP SAN', async () => {
    const wrongCa = await attempt(port, {key: client.keyPem, cert: client.certPem, ca: otherCa.certPem})
    expect(wrongCa.error).toMatch(
      /^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/,
    )
    expect(wrongCa.data).toBe('')
    const wrongIp = await attempt(port, {
      key: client.keyPem,
      cert: client.certPem,
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity('10.9.9.9', cert),
    })
    expect(wrongIp.error).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
    const rightName = await attempt(port, {
      key: client.keyPem,
      cert: client.certPem,
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity('dev.example', cert),
    })
    expect(rightName.data).toBe('hello berth client')
  })

  it('a client without a certificate is refused', async () => {
    await refused({})
  })

  it('a client certificate from another CA is refused', async () => {
    await refused({key: strangerClient.keyPem, cert: strangerClient.certPem})
  })

  it('the server certificate (serverAuth only) is refused as a client certificate', async () => {
    await refused({key: server.keyPem, cert: server.certPem})
  })
})

describe('ensureStoreCerts', () => {
  // RSA keys take a while: one store serves the write, idempotence and copy checks.
  let store: Store
  let first: Awaited<ReturnType<typeof ensureStoreCerts>>

  beforeAll(async () => {
    store = new Store(await tempDir())
    first = await ensureStoreCerts(store)
  })

  it('writes the CA and client pair with private keys 0600 in 0700 folders', async () => {
    const paths = storeCertPaths(store)
    expect(await readFile(paths.caCert, 'utf8')).toBe(first.ca.certPem)
    expect(await readFile(paths.caKey, 'utf8')).toBe(first.ca.keyPem)
    expect(await readFile(paths.clientCert, 'utf8')).toBe(first.client.certPem)
    expect(await readFile(paths.clientKey, 'utf8')).toBe(first.client.keyPem)
    expect(await mode(paths.caKey)).toBe(0o600)
    expect(await mode(paths.clientKey)).toBe(0o600)
    expect(await mode(store.root)).toBe(0o700)
    expect(await mode(store.certsDir)).toBe(0o700)
    expect(new X509Certificate(first.ca.certPem).ca).toBe(true)
    const clientCert = new X509Certificate(first.client.certPem)
    expect(clientCert.checkIssued(new X509Certificate(first.ca.certPem))).toBe(true)
    expect(clientCert.checkPrivateKey(createPrivateKey(first.client.keyPem))).toBe(true)
    expect(clientCert.keyUsage).toEqual([CLIENT_AUTH])
  })

  it('is idempotent: a second call returns the same CA and client', async () => {
    const second = await ensureStoreCerts(store)
    expect(second.ca.certPem).toBe(first.ca.certPem)
    expect(second.ca.keyPem).toBe(first.ca.keyPem)
    expect(second.client.certPem).toBe(first.client.certPem)
    expect(second.client.keyPem).toBe(first.client.keyPem)
    // a fresh Store object on the same folder too
    expect((await ensureStoreCerts(new Store(store.root))).ca.certPem).toBe(first.ca.certPem)
  })

  it('copyClientCertsTo puts cert.pem and a 0600 key.pem in a machine folder, and not the store CA', async () => {
    const dir = await store.reserve('dev')
    await copyClientCertsTo(store, dir)
    await expect(readFile(join(dir, 'ca.pem'))).rejects.toThrow(/ENOENT/)
    expect(await readFile(join(dir, 'cert.pem'), 'utf8')).toBe(first.client.certPem)
    expect(await readFile(join(dir, 'key.pem'), 'utf8')).toBe(first.client.keyPem)
    expect(await mode(join(dir, 'key.pem'))).toBe(0o600)
  })

  it('concurrent calls create one CA', async () => {
    const root = await tempDir()
    const results = await Promise.all([1, 2, 3, 4].map(() => ensureStoreCerts(new Store(root))))
    const onDisk = await readFile(storeCertPaths(new Store(root)).caCert, 'utf8')
    for (const result of results) {
      expect(result.ca.certPem).toBe(onDisk)
      expect(result.client.certPem).toBe(results[0]!.client.certPem)
    }
  })
})
