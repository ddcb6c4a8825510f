/**
 * A machine as one file for moving it to another workstation: a tar.gz holding a manifest, the
 * record with paths relative to its folder, its SSH key and its certificates (never a CA private
 * key: it would let the receiver mint certificates for every machine of the sending store).
 */
import {createHash} from 'node:crypto'
import {lstat, readFile, stat} from 'node:fs/promises'
import {basename, resolve} from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'
import tar from 'tar-stream'
import {tarArchive} from '../archive/tar.js'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import {validateMachineName} from '../names.js'
import {parseJsonQuietly, writeFileAtomic} from '../store/fs.js'
import type {MachineRecord} from '../store/record.js'
import {RECORD_FILE, Store} from '../store/store.js'
import {fileMode, installMachine, MachineFile} from './install.js'
import {absolutizeRecord, adoptRecord, AUTH_FILES, AuthFileField, relativizeRecord} from './record-paths.js'
import {keyMatchesCert, validateSans} from '../certs/trust.js'
import {validateEngineOptions} from '../provision/daemon.js'

export const BUNDLE_FORMAT = 'berth-machine-bundle'
export const BUNDLE_VERSION = 1
export const MANIFEST = 'berth-bundle.json'
const MAX_BUNDLE_BYTES = 64 * 1024 * 1024
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

export interface BundleManifest {
  format: string
  version: number
  name: string
  exportedAt: string
  /** File name to sha256 (hex), config.json included. */
  files: Record<string, string>
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

/** Builds the bundle's contents for a record: its files read from wherever the record points. */
export async function bundleContents(
  record: MachineRecord,
): Promise<{manifest: BundleManifest; files: MachineFile[]}> {
  const auth = record.HostOptions.AuthOptions
  const files: MachineFile[] = []
  const fields: AuthFileField[] = []
  for (const field of Object.keys(AUTH_FILES) as AuthFileField[]) {
    if (field === 'CaPrivateKeyPath' || !auth[field]) continue
    let data: Buffer
    try {
      data = await readFile(auth[field])
    } catch (err) {
      if (field === 'ServerCertPath' || field === 'ServerKeyPath') continue
      throw new BerthError(`machine "${record.Name}": cannot read ${auth[field]} (${oneLine(err)})`)
    }
    files.push({name: AUTH_FILES[field], data, mode: fileMode(AUTH_FILES[field])})
    fields.push(field)
  }
  const keyPath = record.Driver.SSHKeyPath
  const sshKeyName = basename(keyPath || 'id_rsa')
  if (!FILE_NAME.test(sshKeyName) || files.some((f) => f.name === sshKeyName) || sshKeyName === RECORD_FILE) {
    throw new BerthError(
      `machine "${record.Name}": unexpected SSH key file name ${JSON.stringify(sshKeyName)}`,
    )
  }
  try {
    files.push({name: sshKeyName, data: await readFile(keyPath), mode: 0o600})
  } catch (err) {
    throw new BerthError(`machine "${record.Name}": cannot read its SSH key ${keyPath} (${oneLine(err)})`)
  }
  const pub = await readFile(`${keyPath}.pub`).catch(() => undefined)
  if (pub) files.push({name: `${sshKeyName}.pub`, data: pub, mode: 0o644})
  // Normalized as if in a store at /bundle, then made relative to the machine folder.
  const virtualDir = `/bundle/machines/${record.Name}`
  const normalized = adoptRecord(record, {
    machineDir: virtualDir,
    storeRoot: '/bundle',
    sshKeyName,
    files: fields,
  })
  const relativeRecord = relativizeRecord(normalized, virtualDir)
  const config = Buffer.from(JSON.stringify(relativeRecord, null, 2) + '\n')
  files.push({name: RECORD_FILE, data: config, mode: 0o600})
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    name: record.Name,
    exportedAt: new Date().toISOString(),
    files: Object.fromEntries(files.map((f) => [f.name, sha256(f.data)])),
  }
  return {manifest, files}
}

/** Writes a machine's bundle to `file` (0600, atomically: a failure leaves no file). */
export async function exportMachine(
  store: Store,
  name: string,
  file: string,
  force = false,
): Promise<BundleManifest> {
  const target = resolve(file)
  const existing = await lstat(target).catch(() => undefined)
  if (existing?.isDirectory())
    throw new BerthError(`${file} is a folder; give a file name for the bundle`, ExitCode.usage)
  const exists = () => new BerthError(`${file} exists`, ExitCode.usage, 'pass --force to replace it')
  if (existing && !force) throw exists()
  const parent = await stat(resolve(target, '..')).catch(() => undefined)
  if (!parent?.isDirectory()) throw new BerthError(`no such folder: ${resolve(target, '..')}`, ExitCode.usage)
  return store.withLock(name, 'berth export', async () => {
    const record = await store.load(name)
    const {manifest, files} = await bundleContents(record)
    const manifestFile = {
      name: MANIFEST,
      data: Buffer.from(JSON.stringify(manifest, null, 2) + '\n'),
      mode: 0o600,
    }
    await writeFileAtomic(
      target,
      gzipSync(
        await tarArchive(
          [manifestFile, ...files].map((f) => ({
            name: f.name,
            content: f.data,
            mode: f.mode,
            mtime: new Date(manifest.exportedAt),
          })),
        ),
      ),
      0o600,
      force,
    ).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'EEXIST' ? exists() : err // made meanwhile: still not overwritten
    })
    return manifest
  })
}

function unpackTar(data: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolvePromise, reject) => {
    const extract = tar.extract()
    const files = new Map<string, Buffer>()
    extract.on('entry', (header, stream, next) => {
      if (header.type !== 'file')
        return reject(new Error(`entry ${JSON.stringify(header.name)} is not a file`))
      if (!FILE_NAME.test(header.name))
        return reject(new Error(`entry name ${JSON.stringify(header.name)} is not allowed`))
      if (files.has(header.name)) return reject(new Error(`entry ${header.name} appears twice`))
      const chunks: Buffer[] = []
      stream.on('data', (c) => chunks.push(c as Buffer))
      stream.on('end', () => {
        files.set(header.name, Buffer.concat(chunks))
        next()
      })
      stream.on('error', reject)
    })
    extract.on('finish', () => resolvePromise(files))
    extract.on('error', reject)
    extract.end(data)
  })
}

/**
 * A bundled record may name only the files the bundle holds, by their fixed names in the machine
 * folder: no absolute path, no `..`, no CA key but the one of its own ca.pem. Its certificate names
 * and engine options are held to what `create` accepts. Driver.StorePath is rewritten on import.
 */
function checkBundledRecord(record: MachineRecord, entries: Map<string, Buffer>): void {
  const auth = record.HostOptions.AuthOptions
  const named = (what: string, value: unknown, expected: string[]) => {
    if (value === '' || value === undefined) return
    if (typeof value !== 'string' || !expected.includes(value)) {
      throw new Error(
        `its record names ${JSON.stringify(value)} as ${what}, which is not a file in the machine's folder`,
      )
    }
  }
  named('CertDir', auth.CertDir, ['.'])
  named('StorePath', auth.StorePath, ['.'])
  for (const field of Object.keys(AUTH_FILES) as AuthFileField[]) {
    named(field, auth[field], entries.has(AUTH_FILES[field]) ? [AUTH_FILES[field]] : [])
  }
  const sshKey = record.Driver.SSHKeyPath
  const certNames: string[] = Object.values(AUTH_FILES)
  named(
    'SSHKeyPath',
    sshKey,
    typeof sshKey === 'string' && FILE_NAME.test(sshKey) && !certNames.includes(sshKey) && entries.has(sshKey)
      ? [sshKey]
      : [],
  )
  if (
    auth.CaPrivateKeyPath &&
    !keyMatchesCert(entries.get(AUTH_FILES.CaPrivateKeyPath)!, entries.get(AUTH_FILES.CaCertPath) ?? '')
  ) {
    throw new Error(`its ${AUTH_FILES.CaPrivateKeyPath} is not the key of its ${AUTH_FILES.CaCertPath}`)
  }
  if (!Array.isArray(auth.ServerCertSANs)) throw new Error('its ServerCertSANs is not a list')
  validateSans(auth.ServerCertSANs, 'ServerCertSANs')
  validateEngineOptions(record.HostOptions.EngineOptions)
  const trust = record.Berth?.ServerTrust
  if (trust !== undefined && !['machine-ca', 'pinned-certificate', 'imported-ca'].includes(trust))
    throw new Error(`unknown ServerTrust ${JSON.stringify(trust)}`)
}

/** Reads and checks a bundle completely (format, checksums, record, referenced files) before anything is written. */
export async function readBundle(
  file: string,
): Promise<{manifest: BundleManifest; record: MachineRecord; files: MachineFile[]}> {
  let raw: Buffer
  try {
    const s = await stat(file)
    if (!s.isFile()) throw new Error('not a file')
    if (s.size > MAX_BUNDLE_BYTES) throw new Error(`larger than ${MAX_BUNDLE_BYTES / 1024 / 1024} MiB`)
    raw = await readFile(file)
  } catch (err) {
    throw new BerthError(`cannot read bundle ${file}: ${oneLine(err)}`, ExitCode.usage)
  }
  const corrupt = (why: string) =>
    new BerthError(`${file} is not a valid berth machine bundle: ${why}`, ExitCode.usage)
  let entries: Map<string, Buffer>
  try {
    entries = await unpackTar(gunzipSync(raw, {maxOutputLength: MAX_BUNDLE_BYTES}))
  } catch (err) {
    throw corrupt(oneLine(err))
  }
  let manifest: BundleManifest
  try {
    manifest = JSON.parse(entries.get(MANIFEST)?.toString('utf8') ?? 'null') as BundleManifest
  } catch {
    throw corrupt('its manifest is not JSON')
  }
  if (!manifest || manifest.format !== BUNDLE_FORMAT) throw corrupt(`no ${MANIFEST} manifest`)
  if (manifest.version !== BUNDLE_VERSION)
    throw corrupt(`bundle version ${manifest.version} (this berth reads ${BUNDLE_VERSION})`)
  const names = new Set([...entries.keys()].filter((n) => n !== MANIFEST))
  if (names.size !== Object.keys(manifest.files ?? {}).length)
    throw corrupt('its files do not match its manifest')
  for (const [name, hash] of Object.entries(manifest.files)) {
    const data = entries.get(name)
    if (!data || sha256(data) !== hash) throw corrupt(`${name} is missing or damaged (checksum mismatch)`)
  }
  let record: MachineRecord
  try {
    record = parseJsonQuietly(entries.get(RECORD_FILE)!.toString('utf8')) as MachineRecord
    if (
      typeof record?.Driver !== 'object' ||
      typeof record.HostOptions?.AuthOptions !== 'object' ||
      typeof record.DriverName !== 'string'
    ) {
      throw new Error('not a machine record')
    }
    validateMachineName(record.Name)
    if (record.Name !== manifest.name) throw new Error('record and manifest name different machines')
    checkBundledRecord(record, entries)
  } catch (err) {
    throw corrupt(oneLine(err))
  }
  const files = [...names]
    .filter((n) => n !== RECORD_FILE)
    .map((name) => ({name, data: entries.get(name)!, mode: fileMode(name)}))
  return {manifest, record, files}
}

/** Restores a bundle into the store, its paths rewritten to the machine's new folder. */
export async function importBundle(store: Store, file: string): Promise<MachineRecord> {
  const {record, files} = await readBundle(file)
  let installed: MachineRecord | undefined
  await installMachine(store, record.Name, files, (machineDir) => {
    installed = absolutizeRecord({...record, Driver: {...record.Driver, StorePath: ''}}, machineDir)
    installed.Driver.StorePath = store.root
    // A bundle of an earlier berth carries the CA it was made with, like a docker-machine machine.
    if (installed.Berth) installed.Berth.ServerTrust ??= 'imported-ca'
    return installed
  })
  return installed!
}
