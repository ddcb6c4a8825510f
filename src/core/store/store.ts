import {homedir} from 'node:os'
import {join, resolve} from 'node:path'
import {mkdir, readdir, rm, stat} from 'node:fs/promises'
import {BerthError, ExitCode, MachineNotFoundError, oneLine} from '../errors.js'
import {validateMachineName} from '../names.js'
import {ensurePrivateDir, parseJsonQuietly, readStoreFile, StoreFileError, writeFileAtomic} from './fs.js'
import {acquireLock} from './lock.js'
import {BERTH_SCHEMA_VERSION, MachineRecord} from './record.js'

export const RECORD_FILE = 'config.json'

export function defaultStorePath(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.BERTH_STORAGE_PATH || join(homedir(), '.berth'))
}

/**
 * The machine store: certs/ holds the CA and client certificate, machines/NAME/ one machine's
 * record, keys and certificates, locks/ the per-machine lock files (outside the machine folder
 * so `rm` can delete the folder while holding the lock).
 */
export class Store {
  readonly root: string

  constructor(root: string) {
    this.root = resolve(root)
  }

  get certsDir(): string {
    return join(this.root, 'certs')
  }

  get machinesDir(): string {
    return join(this.root, 'machines')
  }

  get cacheDir(): string {
    return join(this.root, 'cache')
  }

  machineDir(name: string): string {
    return join(this.machinesDir, validateMachineName(name))
  }

  recordPath(name: string): string {
    return join(this.machineDir(name), RECORD_FILE)
  }

  async init(): Promise<void> {
    for (const dir of [this.root, this.certsDir, this.machinesDir, join(this.root, 'locks')])
      await ensurePrivateDir(dir)
  }

  /** Machine names, sorted; folders that are not valid names are ignored. */
  async names(): Promise<string[]> {
    let entries
    try {
      entries = await readdir(this.machinesDir, {withFileTypes: true})
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    return entries
      .filter((e) => e.isDirectory() && /^[a-zA-Z0-9][a-zA-Z0-9.-]*$/.test(e.name))
      .map((e) => e.name)
      .sort()
  }

  async exists(name: string): Promise<boolean> {
    try {
      return (await stat(this.machineDir(name))).isDirectory()
    } catch {
      return false
    }
  }

  async load(name: string): Promise<MachineRecord> {
    let text: string
    try {
      text = await readStoreFile(this.recordPath(name))
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT')
        throw new BerthError(
          `record of machine "${name}" is unreadable (${this.recordPath(name)}: ${err instanceof StoreFileError ? err.message : (code ?? oneLine(err))})`,
          ExitCode.failure,
          `\`berth rm -f ${name}\` removes it`,
        )
      if (await this.exists(name)) {
        throw new BerthError(
          `machine "${name}" has no record (its creation was interrupted early)`,
          ExitCode.failure,
          `\`berth rm -f ${name}\` removes it`,
        )
      }
      throw new MachineNotFoundError(name)
    }
    let record: MachineRecord
    try {
      record = parseJsonQuietly(text) as MachineRecord
      if (
        typeof record !== 'object' ||
        record === null ||
        typeof record.Driver !== 'object' ||
        !record.DriverName
      ) {
        throw new Error('not a machine record')
      }
    } catch (err) {
      throw new BerthError(
        `record of machine "${name}" is corrupt (${this.recordPath(name)}: ${oneLine(err)})`,
        ExitCode.failure,
        `\`berth rm -f ${name}\` removes it`,
      )
    }
    if ((record.Berth?.SchemaVersion ?? 0) > BERTH_SCHEMA_VERSION) {
      throw new BerthError(
        `machine "${name}" was written by a newer berth (schema ${record.Berth.SchemaVersion})`,
        ExitCode.failure,
        'upgrade berth',
      )
    }
    return record
  }

  async save(record: MachineRecord): Promise<void> {
    await writeFileAtomic(this.recordPath(record.Name), JSON.stringify(record, null, 2) + '\n')
  }

  /** Claims a new machine's folder; fails if the name is taken (mkdir is atomic). */
  async reserve(name: string): Promise<string> {
    await this.init()
    const dir = this.machineDir(name)
    try {
      await mkdir(dir, {mode: 0o700})
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new BerthError(
          `machine "${name}" already exists`,
          ExitCode.usage,
          `pick another name or \`berth rm ${name}\``,
          `Docker machine "${name}" already exists`,
        )
      }
      throw err
    }
    return dir
  }

  async removeMachineDir(name: string): Promise<void> {
    await rm(this.machineDir(name), {recursive: true, force: true})
  }

  /** Serializes commands on one machine; commands on other machines never wait for it. */
  async lock(name: string, purpose: string, waitMs = 10 * 60_000): Promise<() => Promise<void>> {
    await this.init()
    try {
      return await acquireLock(join(this.root, 'locks', `${validateMachineName(name)}.lock`), purpose, waitMs)
    } catch (err) {
      if (err instanceof BerthError)
        throw new BerthError(`machine "${name}" is ${err.message}`, err.exitCode, err.hint)
      throw err
    }
  }

  /** Runs `fn` while holding the machine's lock (`purpose` names the holder to anyone who waits). */
  async withLock<T>(name: string, purpose: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.lock(name, purpose)
    try {
      return await fn()
    } finally {
      await release()
    }
  }

  /** A store-wide lock for one-time work such as creating the CA. */
  async lockStore(what: string, purpose: string): Promise<() => Promise<void>> {
    await this.init()
    return acquireLock(join(this.root, 'locks', `_${what}.lock`), purpose, 10 * 60_000)
  }
}
