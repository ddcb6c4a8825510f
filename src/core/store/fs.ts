import {randomBytes} from 'node:crypto'
import {mkdir, open, rename, rm, chmod} from 'node:fs/promises'
import {dirname, join, basename} from 'node:path'

/** Creates a folder (and parents) readable only by its owner. */
export async function ensurePrivateDir(path: string): Promise<void> {
  await mkdir(path, {recursive: true, mode: 0o700})
  await chmod(path, 0o700)
}

/**
 * Writes a file so readers see either the old or the new content, never half of it:
 * a temp file in the same folder, fsync, then rename over the target.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`)
  const handle = await open(tmp, 'wx', mode)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } catch (err) {
    await handle.close()
    await rm(tmp, {force: true})
    throw err
  }
  await handle.close()
  try {
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, {force: true})
    throw err
  }
}
