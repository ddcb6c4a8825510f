/**
 * Per-machine server trust. Each machine's folder holds its own trust anchor (ca.pem): a CA of that
 * machine alone, whose key (ca-key.pem) stays on the workstation and signs only that machine's
 * server certificates. The store's CA (certs/ca.pem) signs only the store's client certificate, and
 * engines trust it to verify clients. So holding one machine's files gives no certificate that
 * another machine's ca.pem accepts.
 */
import {createPublicKey, X509Certificate} from 'node:crypto'
import {isIP} from 'node:net'
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {certNotAfter, expiresSoon} from './expiry.js'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import {writeFileAtomic} from '../store/fs.js'
import type {MachineRecord} from '../store/record.js'
import type {Store} from '../store/store.js'
import {PER_MACHINE_TRUST, STORE_LAYOUT_FILE} from './trust-layout.js'
import {createCA, storeCertPaths, type KeyAndCert} from './certs.js'

/** A DNS name (labels of letters, digits and dashes) or an IP address; nothing else goes into a SAN. */
const DNS_NAME =
  /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

export function isValidSan(value: string): boolean {
  return isIP(value) !== 0 || DNS_NAME.test(value)
}

export function validateSans(sans: readonly string[], what = '--tls-san'): void {
  for (const san of sans) {
    if (typeof san !== 'string' || !isValidSan(san)) {
      throw new BerthError(
        `${what} ${JSON.stringify(san)} is neither an IP address nor a DNS name`,
        ExitCode.usage,
      )
    }
  }
}

/** True when the private key is the one whose public half the certificate carries. */
export function keyMatchesCert(keyPem: string | Buffer, certPem: string | Buffer): boolean {
  try {
    const fromKey = createPublicKey(keyPem).export({type: 'spki', format: 'der'})
    const fromCert = new X509Certificate(certPem).publicKey.export({type: 'spki', format: 'der'})
    return fromKey.equals(fromCert)
  } catch {
    return false
  }
}

/** True when `issuerPem` signed `certPem`. */
export function issuedBy(certPem: string | Buffer, issuerPem: string | Buffer): boolean {
  try {
    const cert = new X509Certificate(certPem)
    const issuer = new X509Certificate(issuerPem)
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey)
  } catch {
    return false
  }
}

export function machineCaPaths(machineDir: string): {cert: string; key: string} {
  return {cert: join(machineDir, 'ca.pem'), key: join(machineDir, 'ca-key.pem')}
}

async function readOptional(path: string): Promise<string | undefined> {
  if (!path) return undefined
  try {
    return await readFile(path, 'utf8')
  } catch {
    return undefined
  }
}

/** What signs a machine's server certificate, and whether it must be written to the folder first. */
export interface ServerSigner {
  ca: KeyAndCert
  /** A new machine CA, written to the folder only once the engine holds a certificate it signed. */
  fresh: boolean
}

/**
 * The CA that signs the machine's server certificate: its own machine CA (made now when it has none
 * yet, or when its folder holds a pinned certificate from before per-machine trust), or for a
 * machine adopted from docker-machine the CA it came with, whose key must match its certificate.
 * A machine CA that expires within 30 days is replaced too, so `regenerate-certs` renews it with the
 * server certificate (a new certificate from a CA about to end would end with it).
 */
export async function serverSigner(record: MachineRecord, now = Date.now()): Promise<ServerSigner> {
  const auth = record.HostOptions.AuthOptions
  if (record.Berth?.ServerTrust === 'imported-ca') {
    const [certPem, keyPem] = [await readOptional(auth.CaCertPath), await readOptional(auth.CaPrivateKeyPath)]
    if (!certPem || !keyPem) {
      throw new BerthError(
        `machine "${record.Name}" came without its CA's private key, so berth cannot issue it a server certificate`,
        ExitCode.failure,
        'keep its IP (an Elastic IP on EC2), or manage it from the store that holds its CA key',
      )
    }
    if (!keyMatchesCert(keyPem, certPem))
      throw new BerthError(
        `machine "${record.Name}": ${auth.CaPrivateKeyPath} is not the key of ${auth.CaCertPath}`,
      )
    return {ca: {certPem, keyPem}, fresh: false}
  }
  const paths = machineCaPaths(auth.StorePath)
  if (record.Berth?.ServerTrust === 'machine-ca') {
    const [certPem, keyPem] = [await readOptional(paths.cert), await readOptional(paths.key)]
    const notAfter = certPem ? certNotAfter(certPem) : undefined
    if (certPem && keyPem && keyMatchesCert(keyPem, certPem) && notAfter && !expiresSoon(notAfter, now))
      return {ca: {certPem, keyPem}, fresh: false}
  }
  return {ca: await createCA(`berth CA for ${record.Name}`), fresh: true}
}

/**
 * Records the machine CA as the machine's trust (after its engine got a certificate it signed):
 * key first, 0600, then ca.pem, which the docker CLI reads through env, config and contexts.
 */
export async function adoptMachineCa(record: MachineRecord, ca: KeyAndCert): Promise<void> {
  const paths = machineCaPaths(record.HostOptions.AuthOptions.StorePath)
  await writeFileAtomic(paths.key, ca.keyPem, 0o600)
  await writeFileAtomic(paths.cert, ca.certPem, 0o644)
  record.HostOptions.AuthOptions.CaCertPath = paths.cert
  record.HostOptions.AuthOptions.CaPrivateKeyPath = paths.key
  record.Berth.ServerTrust = 'machine-ca'
}

/**
 * The CA the engine verifies clients against (its --tlscacert): the one that signed the machine's
 * client certificate, of the CA it came with (a docker-machine adoptee) and the store's; undefined
 * when neither did (a machine from another workstation's bundle keeps what its engine has).
 */
export async function clientCaFor(store: Store, record: MachineRecord): Promise<string | undefined> {
  const auth = record.HostOptions.AuthOptions
  const clientCert = await readOptional(auth.ClientCertPath)
  if (!clientCert) return undefined
  const candidates = [
    record.Berth?.ServerTrust === 'imported-ca' ? auth.CaCertPath : '',
    storeCertPaths(store).caCert,
  ]
  for (const path of candidates) {
    const ca = await readOptional(path)
    if (ca && issuedBy(clientCert, ca)) return ca
  }
  return undefined
}

/**
 * Moves a store of an earlier berth (one CA signing every engine's certificate, its ca.pem in every
 * machine folder) to per-machine trust, without touching a machine: each provisioned machine's
 * ca.pem becomes its current server certificate itself (pinned: the docker CLI accepts exactly that
 * certificate) until its next renewal issues one from its own CA; a machine not yet provisioned gets
 * its CA now; a machine adopted from docker-machine keeps the CA it came with. Docker contexts berth
 * made are updated. Returns the line for the user, or undefined when there was nothing to do.
 */
export async function migrateStoreTrust(
  store: Store,
  updateContext: (record: MachineRecord) => Promise<unknown>,
): Promise<string | undefined> {
  const marker = join(store.root, STORE_LAYOUT_FILE)
  if ((await readOptional(marker))?.trim() === PER_MACHINE_TRUST) return undefined
  const names = await store.names()
  if (names.length === 0 && (await readOptional(storeCertPaths(store).caCert)) === undefined) return undefined
  const storeCa = storeCertPaths(store).caCert
  const pinned: string[] = []
  const migrated: string[] = []
  const skipped: string[] = []
  let complete = true
  let berthRecords = 0
  for (const name of names) {
    // Most records need nothing: read without the lock, so commands running at once never queue here.
    const first = await store.load(name).catch(() => undefined)
    if (!first) {
      complete = false // an unreadable record is tried again next time; the command that needs it reports it
      continue
    }
    if (first.Berth === undefined) continue // docker-machine's own (berth as docker-machine on its store)
    berthRecords++
    if (first.Berth.ServerTrust !== undefined) continue
    let release: () => Promise<void>
    try {
      release = await store.lock(name, 'migrating to per-machine server trust', 5000)
    } catch (err) {
      complete = false
      skipped.push(`${name} (${oneLine(err)})`)
      continue
    }
    try {
      const record = await store.load(name)
      if (record.Berth === undefined || record.Berth.ServerTrust !== undefined) continue // migrated meanwhile
      const auth = record.HostOptions.AuthOptions
      const dir = store.machineDir(name)
      if (auth.CaCertPath !== storeCa) {
        record.Berth.ServerTrust = 'imported-ca'
      } else {
        const serverPem = await readOptional(auth.ServerCertPath)
        if (serverPem && issuedBy(serverPem, await readFile(storeCa))) {
          await writeFileAtomic(join(dir, 'ca.pem'), serverPem, 0o644)
          auth.CaCertPath = join(dir, 'ca.pem')
          auth.CaPrivateKeyPath = ''
          record.Berth.ServerTrust = 'pinned-certificate'
          pinned.push(name)
        } else {
          auth.StorePath = dir
          await adoptMachineCa(record, await createCA(`berth CA for ${name}`))
        }
        migrated.push(name)
        if (record.Berth.DockerContext)
          await updateContext(record).catch((err) =>
            skipped.push(`${name}'s docker context (${oneLine(err)})`),
          )
      }
      await store.save(record)
    } catch {
      complete = false // an unreadable record is tried again next time; the command that needs it reports it
    } finally {
      await release()
    }
  }
  // Nothing is written into a store that holds only docker-machine's own records.
  if (complete && berthRecords > 0) await writeFileAtomic(marker, PER_MACHINE_TRUST + '\n', 0o644)
  if (migrated.length === 0) return undefined
  const done =
    pinned.length > 0
      ? `migrated ${store.root} to per-machine server trust: ${pinned.join(', ')} now trust${pinned.length === 1 ? 's' : ''} only ${pinned.length === 1 ? 'its' : 'their'} current engine certificate until \`berth regenerate-certs\` issues one from ${pinned.length === 1 ? 'its' : 'their'} own CA`
      : `migrated ${store.root} to per-machine server trust`
  return skipped.length > 0 ? `${done}; not yet: ${skipped.join('; ')} (retried next time)` : done
}
