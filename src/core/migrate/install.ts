import {randomBytes} from 'node:crypto'
import {rename, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {BerthError, ExitCode} from '../errors.js'
import {validateMachineName} from '../names.js'
import {ensurePrivateDir} from '../store/fs.js'
import type {MachineRecord} from '../store/record.js'
import {RECORD_FILE, Store} from '../store/store.js'

export interface MachineFile {
  name: string
  data: Buffer
  mode: number
}

/** Keys and anything not a certificate stay private. */
export function fileMode(name: string): number {
  return /^(ca|cert|server)\.pem$|\.pub$/.test(name) ? 0o644 : 0o600
}

/**
 * Puts a whole machine folder into the store at once: written in a hidden staging folder next to
 * the others, then renamed into place under the machine's lock, so a failure leaves nothing and
 * a reader never sees half a machine. `build` gets the final folder path to write into the record.
 */
export async function installMachine(
  store: Store,
  name: string,
  files: MachineFile[],
  build: (machineDir: string) => MachineRecord,
): Promise<string> {
  validateMachineName(name)
  await store.init()
  const staging = join(store.machinesDir, `.import-${name}-${randomBytes(4).toString('hex')}`)
  return store.withLock(name, 'berth import', async () => {
    try {
      if (await store.exists(name))
        throw new BerthError(
          `machine "${name}" already exists in ${store.root}`,
          ExitCode.usage,
          `remove it first or import into another store`,
        )
      const machineDir = store.machineDir(name)
      const record = build(machineDir)
      await ensurePrivateDir(staging)
      for (const file of files)
        await writeFile(join(staging, file.name), file.data, {mode: file.mode, flag: 'wx'})
      await writeFile(join(staging, RECORD_FILE), JSON.stringify(record, null, 2) + '\n', {
        mode: 0o600,
        flag: 'wx',
      })
      await rename(staging, machineDir)
      return machineDir
    } catch (err) {
      await rm(staging, {recursive: true, force: true})
      throw err
    }
  })
}
