/**
 * Path fields of a machine record, rewritten when a machine moves: into berth's store on import
 * from docker-machine, to paths relative to the machine folder in an export bundle, and back to
 * absolute paths when a bundle is imported.
 */
import {isAbsolute, join, posix, relative, resolve} from 'node:path'
import {BERTH_SCHEMA_VERSION, CONFIG_VERSION, MachineRecord} from '../store/record.js'
import {DEFAULT_ENGINE_PORT} from '../engine/engine.js'

/** The files a machine record points at, named as docker-machine names them in a machine folder. */
export const AUTH_FILES = {
  CaCertPath: 'ca.pem',
  CaPrivateKeyPath: 'ca-key.pem',
  ClientCertPath: 'cert.pem',
  ClientKeyPath: 'key.pem',
  ServerCertPath: 'server.pem',
  ServerKeyPath: 'server-key.pem',
} as const

export type AuthFileField = keyof typeof AUTH_FILES

export interface AdoptOptions {
  /** The machine's folder in berth's store. */
  machineDir: string
  storeRoot: string
  /** File name of the SSH private key inside machineDir. */
  sshKeyName: string
  /** Which AuthOptions files were copied into machineDir (the others become ''). */
  files: AuthFileField[]
  now?: Date
}

/**
 * A docker-machine record as berth keeps it: every path in berth's store (the certificates it was
 * made with travel with it, so its engine keeps verifying), and a Berth section (provisioned: its
 * engine already runs with TLS). An existing Berth section (a record berth wrote) is kept.
 */
export function adoptRecord(source: MachineRecord, options: AdoptOptions): MachineRecord {
  const record = structuredClone(source)
  const dir = options.machineDir
  const auth = record.HostOptions.AuthOptions
  auth.CertDir = dir
  auth.StorePath = dir
  for (const field of Object.keys(AUTH_FILES) as AuthFileField[]) {
    auth[field] = options.files.includes(field) ? join(dir, AUTH_FILES[field]) : ''
  }
  record.Driver.SSHKeyPath = join(dir, options.sshKeyName)
  record.Driver.StorePath = options.storeRoot
  record.ConfigVersion = record.ConfigVersion || CONFIG_VERSION
  const enginePort = Number(record.Driver.EnginePort) || DEFAULT_ENGINE_PORT
  record.Berth = record.Berth ?? {
    SchemaVersion: BERTH_SCHEMA_VERSION,
    CreatedAt: (options.now ?? new Date()).toISOString(),
    Phase: 'provisioned',
    EnginePort: enginePort,
    Timings: {},
    ServerTrust: 'imported-ca',
  }
  return record
}

/** Every path field a record carries, with a getter and setter, for relativizing. */
function pathFields(record: MachineRecord): {get: () => string; set: (v: string) => void}[] {
  const auth = record.HostOptions.AuthOptions
  const fields: {get: () => string; set: (v: string) => void}[] = []
  for (const key of ['CertDir', 'StorePath', ...Object.keys(AUTH_FILES)] as (keyof typeof auth)[]) {
    fields.push({get: () => auth[key] as string, set: (v) => ((auth[key] as string) = v)})
  }
  fields.push({get: () => record.Driver.SSHKeyPath, set: (v) => (record.Driver.SSHKeyPath = v)})
  fields.push({get: () => record.Driver.StorePath, set: (v) => (record.Driver.StorePath = v)})
  return fields
}

/**
 * Paths relative to the machine folder, POSIX-style ("server.pem", "." for the folder, "../.."
 * for the store). Fails on a path outside the store tree that the bundle cannot carry.
 */
export function relativizeRecord(source: MachineRecord, machineDir: string): MachineRecord {
  const record = structuredClone(source)
  for (const field of pathFields(record)) {
    const value = field.get()
    if (!value) continue
    const rel = relative(machineDir, resolve(value)).split('\\').join('/')
    field.set(rel === '' ? '.' : rel)
  }
  return record
}

/** The inverse of relativizeRecord against a new machine folder. Rejects absolute paths. */
export function absolutizeRecord(source: MachineRecord, machineDir: string): MachineRecord {
  const record = structuredClone(source)
  for (const field of pathFields(record)) {
    const value = field.get()
    if (!value) continue
    if (isAbsolute(value) || posix.isAbsolute(value))
      throw new Error(`path ${JSON.stringify(value)} in the bundled record is not relative`)
    field.set(resolve(machineDir, value))
  }
  return record
}
