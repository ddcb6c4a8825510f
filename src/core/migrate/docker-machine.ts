/**
 * Adopting machines from a docker-machine store (<dir>/certs, <dir>/machines/NAME/config.json):
 * each machine's files are copied into berth's store, the originals are only read.
 */
import {lstat, readdir, readFile, realpath} from 'node:fs/promises'
import {homedir} from 'node:os'
import {basename, isAbsolute, join, relative, resolve} from 'node:path'
import {keyMatchesCert, validateSans} from '../certs/trust.js'
import {validateEngineOptions} from '../provision/daemon.js'
import {emptyEngineOptions} from '../store/record.js'
import {parseJsonQuietly, readStoreFile} from '../store/fs.js'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import {driverDescriptors, driverPlugin} from '../drivers/registry.js'
import {validateMachineName} from '../names.js'
import type {MachineRecord} from '../store/record.js'
import type {Store} from '../store/store.js'
import {fileMode, installMachine, MachineFile} from './install.js'
import {adoptRecord, AUTH_FILES, AuthFileField} from './record-paths.js'

/** Drivers whose docker-machine state berth keeps as it is; others need their plugin's fromDockerMachine. */
const SAME_SHAPE_DRIVERS = ['generic', 'container']

/** Drivers berth can manage after import; others would leave machines berth cannot start, stop or reach. */
function adoptableDrivers(): string[] {
  return [
    ...SAME_SHAPE_DRIVERS,
    ...driverDescriptors()
      .filter((d) => d.adoptsDockerMachine)
      .map((d) => d.name),
  ]
}

export function defaultDockerMachineStore(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.MACHINE_STORAGE_PATH || join(homedir(), '.docker', 'machine'))
}

/** What one machine's import will do, decided before anything is written. */
export interface ImportPlan {
  name: string
  driver: string
  source: string
  record: MachineRecord
  files: MachineFile[]
  fields: AuthFileField[]
  sshKeyName: string
  /** Lines for the user about what the driver's mapping left out (AWS keys, say). */
  notes: string[]
}

const MAX_FILE_BYTES = 1024 * 1024

/**
 * The first of `paths` that exists, read only if it is a regular file (not a symlink) whose real
 * path lies in the docker-machine store `root`: a record naming /etc/shadow, berth's own CA key or
 * a link to either is refused, not copied.
 */
async function readFirst(root: string, paths: (string | undefined)[]): Promise<Buffer | undefined> {
  const realRoot = await realpath(root)
  for (const given of paths) {
    if (!given) continue
    const path = resolve(given)
    const info = await lstat(path).catch(() => undefined)
    if (!info) continue
    const real = await realpath(path).catch(() => path)
    const rel = relative(realRoot, real)
    if (
      info.isSymbolicLink() ||
      !info.isFile() ||
      rel.startsWith('..') ||
      isAbsolute(rel) ||
      info.size > MAX_FILE_BYTES
    ) {
      throw new BerthError(
        `${path} is not a file inside the docker-machine store ${root}; not imported`,
        ExitCode.usage,
      )
    }
    return readFile(real)
  }
  return undefined
}

/** Machine names in a docker-machine store (folders holding a config.json). */
export async function dockerMachineNames(dir: string): Promise<string[]> {
  let entries
  try {
    entries = await readdir(join(dir, 'machines'), {withFileTypes: true})
  } catch (err) {
    throw new BerthError(
      `${dir} is not a docker-machine store (${oneLine(err)})`,
      ExitCode.usage,
      'pass --from DIR (default ~/.docker/machine)',
    )
  }
  return entries
    .filter((e) => e.isDirectory() && /^[a-zA-Z0-9][a-zA-Z0-9.-]*$/.test(e.name))
    .map((e) => e.name)
    .sort()
}

/** Reads and checks one docker-machine machine; refuses drivers berth does not have. */
export async function planImport(dir: string, name: string): Promise<ImportPlan> {
  validateMachineName(name)
  const machineDir = join(dir, 'machines', name)
  let record: MachineRecord
  try {
    record = parseJsonQuietly(await readStoreFile(join(machineDir, 'config.json'))) as MachineRecord
    if (
      typeof record !== 'object' ||
      !record ||
      typeof record.Driver !== 'object' ||
      typeof record.DriverName !== 'string' ||
      typeof record.HostOptions?.AuthOptions !== 'object'
    )
      throw new Error('not a docker-machine record')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT')
      throw new BerthError(`no machine "${name}" in the docker-machine store ${dir}`, ExitCode.notFound)
    throw new BerthError(`record of "${name}" in ${dir} is unreadable: ${oneLine(err)}`, ExitCode.failure)
  }
  record.Name = name // docker-machine itself goes by the folder
  let notes: string[] = []
  if (!SAME_SHAPE_DRIVERS.includes(record.DriverName)) {
    const adopts = driverDescriptors().some((d) => d.name === record.DriverName && d.adoptsDockerMachine)
    const adopt = adopts ? (await driverPlugin(record.DriverName)).fromDockerMachine : undefined
    if (!adopt) {
      const managed = adoptableDrivers()
      throw new BerthError(
        `machine "${name}" uses docker-machine's ${record.DriverName} driver, whose machines berth cannot adopt; not imported`,
        ExitCode.usage,
        `berth adopts ${managed.slice(0, -1).join(', ')} and ${managed.at(-1)} machines; keep using docker-machine for this one`,
      )
    }
    const adopted = adopt(record.Driver as unknown as Record<string, unknown>, name)
    record.Driver = adopted.state
    notes = adopted.notes
  }
  const auth = record.HostOptions.AuthOptions
  const files: MachineFile[] = []
  const fields: AuthFileField[] = []
  const candidates: Record<AuthFileField, (string | undefined)[]> = {
    CaCertPath: [join(machineDir, 'ca.pem'), auth.CaCertPath, join(dir, 'certs', 'ca.pem')],
    CaPrivateKeyPath: [auth.CaPrivateKeyPath, join(dir, 'certs', 'ca-key.pem')],
    ClientCertPath: [join(machineDir, 'cert.pem'), auth.ClientCertPath, join(dir, 'certs', 'cert.pem')],
    ClientKeyPath: [join(machineDir, 'key.pem'), auth.ClientKeyPath, join(dir, 'certs', 'key.pem')],
    ServerCertPath: [join(machineDir, 'server.pem'), auth.ServerCertPath],
    ServerKeyPath: [join(machineDir, 'server-key.pem'), auth.ServerKeyPath],
  }
  for (const field of Object.keys(AUTH_FILES) as AuthFileField[]) {
    const data = await readFirst(dir, candidates[field])
    if (!data) {
      if (field === 'CaCertPath' || field === 'ClientCertPath' || field === 'ClientKeyPath') {
        throw new BerthError(
          `machine "${name}" in ${dir} has no ${AUTH_FILES[field]} (looked in its folder and ${join(dir, 'certs')})`,
        )
      }
      continue
    }
    files.push({name: AUTH_FILES[field], data, mode: fileMode(AUTH_FILES[field])})
    fields.push(field)
  }
  const caKey = files.find((f) => f.name === AUTH_FILES.CaPrivateKeyPath)
  if (caKey && !keyMatchesCert(caKey.data, files.find((f) => f.name === AUTH_FILES.CaCertPath)!.data)) {
    throw new BerthError(
      `machine "${name}" in ${dir}: its CA key is not the key of its ca.pem; not imported`,
      ExitCode.usage,
    )
  }
  try {
    if (!Array.isArray(auth.ServerCertSANs ?? [])) throw new Error('ServerCertSANs is not a list')
    validateSans(auth.ServerCertSANs ?? [], 'ServerCertSANs')
    validateEngineOptions({...emptyEngineOptions(), ...record.HostOptions.EngineOptions})
  } catch (err) {
    throw new BerthError(`record of "${name}" in ${dir}: ${oneLine(err)}; not imported`, ExitCode.usage)
  }
  const keyPath = record.Driver.SSHKeyPath
  const sshKeyName = keyPath ? basename(keyPath) : 'id_rsa'
  if (
    !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(sshKeyName) ||
    Object.values(AUTH_FILES).includes(sshKeyName as never) ||
    sshKeyName === 'config.json'
  ) {
    throw new BerthError(`machine "${name}": unexpected SSH key file name ${JSON.stringify(sshKeyName)}`)
  }
  const key = await readFirst(dir, [keyPath, join(machineDir, sshKeyName)])
  if (!key)
    throw new BerthError(
      `machine "${name}" in ${dir} has no SSH key (${keyPath || join(machineDir, sshKeyName)})`,
    )
  files.push({name: sshKeyName, data: key, mode: 0o600})
  const pub = await readFirst(dir, [keyPath && `${keyPath}.pub`, join(machineDir, `${sshKeyName}.pub`)])
  if (pub) files.push({name: `${sshKeyName}.pub`, data: pub, mode: 0o644})
  return {name, driver: record.DriverName, source: machineDir, record, files, fields, sshKeyName, notes}
}

/** Copies one planned machine into berth's store with its paths rewritten. */
export async function applyImport(store: Store, plan: ImportPlan): Promise<string> {
  return installMachine(store, plan.name, plan.files, (machineDir) =>
    adoptRecord(plan.record, {
      machineDir,
      storeRoot: store.root,
      sshKeyName: plan.sshKeyName,
      files: plan.fields,
    }),
  )
}
