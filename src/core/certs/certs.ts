import {generateKeyPair, randomBytes, sign} from 'node:crypto'
import {isIP} from 'node:net'
import {promisify} from 'node:util'
import {readFile, copyFile, chmod} from 'node:fs/promises'
import {join} from 'node:path'
import type forge from 'node-forge'
import {writeFileAtomic} from '../store/fs.js'
import type {Store} from '../store/store.js'

const generateKeyPairAsync = promisify(generateKeyPair)

type Forge = typeof forge
/** node-forge loads with the first certificate: most commands issue none, and it is 45 files. */
let loadedForge: Promise<Forge> | undefined
const loadForge = () => (loadedForge ??= import('node-forge').then((m) => m.default))

export interface KeyAndCert {
  keyPem: string
  certPem: string
}

/** The store's CA and client certificate files, named as docker-machine names them. */
export function storeCertPaths(store: Store) {
  return {
    caCert: join(store.certsDir, 'ca.pem'),
    caKey: join(store.certsDir, 'ca-key.pem'),
    clientCert: join(store.certsDir, 'cert.pem'),
    clientKey: join(store.certsDir, 'key.pem'),
  }
}

/**
 * Signs with node:crypto (native): forge builds the to-be-signed structure, but its pure-JS RSA
 * private-key operation is the slow part of issuing a certificate.
 */
function signNative(forge: Forge, cert: forge.pki.Certificate, issuerKeyPem: string): void {
  const oid = forge.pki.oids.sha256WithRSAEncryption!
  cert.signatureOid = oid
  cert.siginfo.algorithmOid = oid
  const tbs = (
    forge.pki as unknown as {getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1}
  ).getTBSCertificate(cert)
  const der = Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary')
  ;(cert as forge.pki.Certificate & {tbsCertificate: forge.asn1.Asn1}).tbsCertificate = tbs
  cert.signature = sign('sha256', der, issuerKeyPem).toString('binary')
}

/** RSA keys come from node:crypto (native); forge only assembles certificates. */
async function newRsaKey(forge: Forge): Promise<{pem: string; forgePublic: forge.pki.rsa.PublicKey}> {
  const {privateKey, publicKey} = await generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: {type: 'pkcs1', format: 'pem'},
    publicKeyEncoding: {type: 'spki', format: 'pem'},
  })
  return {pem: privateKey, forgePublic: forge.pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey}
}

function baseCert(
  forge: Forge,
  publicKey: forge.pki.PublicKey,
  commonName: string,
  years: number,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate()
  cert.publicKey = publicKey
  // Positive 16-byte serial: a leading 0x00..0x7f byte keeps the DER integer non-negative.
  const serial = randomBytes(16)
  serial[0] &= 0x7f
  cert.serialNumber = serial.toString('hex')
  const notBefore = new Date(Date.now() - 5 * 60_000) // tolerate small clock skew between hosts
  const notAfter = new Date(notBefore)
  notAfter.setFullYear(notAfter.getFullYear() + years)
  cert.validity.notBefore = notBefore
  cert.validity.notAfter = notAfter
  cert.setSubject([
    {name: 'commonName', value: commonName},
    {name: 'organizationName', value: 'berth'},
  ])
  return cert
}

export async function createCA(commonName = 'berth CA'): Promise<KeyAndCert> {
  const forge = await loadForge()
  const key = await newRsaKey(forge)
  const cert = baseCert(forge, key.forgePublic, commonName, 10)
  cert.setIssuer(cert.subject.attributes)
  cert.setExtensions([
    {name: 'basicConstraints', cA: true, critical: true},
    {name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true},
    {name: 'subjectKeyIdentifier'},
  ])
  signNative(forge, cert, key.pem)
  return {keyPem: key.pem, certPem: forge.pki.certificateToPem(cert)}
}

export type CertKind = 'client' | 'server'

export interface IssueOptions {
  kind: CertKind
  commonName: string
  /** IP addresses and DNS names; each goes into subjectAltName with its proper type. */
  sans?: string[]
  years?: number
}

export async function issueCert(ca: KeyAndCert, options: IssueOptions): Promise<KeyAndCert> {
  const forge = await loadForge()
  const caCert = forge.pki.certificateFromPem(ca.certPem)
  const key = await newRsaKey(forge)
  const cert = baseCert(forge, key.forgePublic, options.commonName, options.years ?? 3)
  cert.setIssuer(caCert.subject.attributes)
  const extensions: object[] = [
    {name: 'basicConstraints', cA: false},
    {name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true},
    options.kind === 'server'
      ? {name: 'extKeyUsage', serverAuth: true}
      : {name: 'extKeyUsage', clientAuth: true},
    {name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes()},
  ]
  const sans = [...new Set(options.sans ?? [])]
  if (sans.length > 0) {
    extensions.push({
      name: 'subjectAltName',
      altNames: sans.map((san) => (isIP(san) ? {type: 7, ip: san} : {type: 2, value: san})),
    })
  }
  cert.setExtensions(extensions)
  signNative(forge, cert, ca.keyPem)
  return {keyPem: key.pem, certPem: forge.pki.certificateToPem(cert)}
}

async function readPair(certPath: string, keyPath: string): Promise<KeyAndCert | undefined> {
  try {
    return {certPem: await readFile(certPath, 'utf8'), keyPem: await readFile(keyPath, 'utf8')}
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Creates the store's CA and client certificate once; concurrent callers wait for the first. */
export async function ensureStoreCerts(store: Store): Promise<{ca: KeyAndCert; client: KeyAndCert}> {
  const paths = storeCertPaths(store)
  const existing = async () => {
    const ca = await readPair(paths.caCert, paths.caKey)
    const client = await readPair(paths.clientCert, paths.clientKey)
    return ca && client ? {ca, client} : undefined
  }
  const found = await existing()
  if (found) return found
  const release = await store.lockStore('certs', 'creating the CA')
  try {
    const again = await existing()
    if (again) return again
    const ca = await createCA()
    const client = await issueCert(ca, {kind: 'client', commonName: 'berth client'})
    // Keys first: a cert file without its key would be taken for a finished CA.
    await writeFileAtomic(paths.caKey, ca.keyPem, 0o600)
    await writeFileAtomic(paths.clientKey, client.keyPem, 0o600)
    await writeFileAtomic(paths.clientCert, client.certPem, 0o644)
    await writeFileAtomic(paths.caCert, ca.certPem, 0o644)
    return {ca, client}
  } finally {
    await release()
  }
}

/**
 * Copies the client certificate and key into a machine folder, so with the machine's own ca.pem it
 * works as DOCKER_CERT_PATH. The store's CA is not copied: it is no machine's server trust.
 */
export async function copyClientCertsTo(store: Store, dir: string): Promise<void> {
  const paths = storeCertPaths(store)
  await copyFile(paths.clientCert, join(dir, 'cert.pem'))
  await copyFile(paths.clientKey, join(dir, 'key.pem'))
  await chmod(join(dir, 'key.pem'), 0o600)
}
