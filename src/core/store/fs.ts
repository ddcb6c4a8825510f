import {randomBytes} from 'node:crypto'
import {constants} from 'node:fs'
import {mkdir, open, rename, rm, chmod, link, lstat} from 'node:fs/promises'
import {dirname, join, basename} from 'node:path'

/** Creates a folder (and parents) readable only by its owner. */
export async function ensurePrivateDir(path: string): Promise<void> {
  await mkdir(path, {recursive: true, mode: 0o700})
  await chmod(path, 0o700)
}

/**
 * Writes a file so readers see either the old or the new content, never half of it:
 * a temp file in the same folder, fsync, then rename over the target. With `replace` false it is linked
 * into place instead, which fails with EEXIST when something (even a dangling symlink) is already there.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o600,
  replace = true,
): Promise<void> {
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
    if (replace) await rename(tmp, path)
    else await link(tmp, path)
  } finally {
    await rm(tmp, {force: true})
  }
}

/** The largest machine record berth reads (docker-machine's are a few KiB). */
export const MAX_RECORD_BYTES = 1024 * 1024

/**
 * Reads a file kept in a store (a machine record): only a regular file, never through a symlink, which
 * could point at anything the user can read (/etc/shadow). Its errors are an errno code or a short reason,
 * never any of the file's bytes.
 */
export async function readStoreFile(path: string, maxBytes = MAX_RECORD_BYTES): Promise<string> {
  // O_NOFOLLOW closes the gap between the lstat and the open; the lstat alone serves where it is 0 (Windows).
  if ((await lstat(path)).isSymbolicLink()) throw new StoreFileError('is a symlink', 'ELOOP')
  const handle = await open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0)).catch((err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code
    throw code === 'ELOOP' ? new StoreFileError('is a symlink', code) : err
  })
  try {
    const info = await handle.stat()
    if (!info.isFile()) throw new StoreFileError('is not a regular file')
    if (info.size > maxBytes) throw new StoreFileError(`is larger than ${maxBytes} bytes`)
    return await handle.readFile('utf8')
  } finally {
    await handle.close()
  }
}

export class StoreFileError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message)
  }
}

/**
 * JSON.parse whose error tells where, never what: V8's own message quotes the text around the fault,
 * which for a record that is not one (a symlink, a stray file) would print another file's bytes.
 */
export function parseJsonQuietly(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    const at = /at position (\d+)/.exec((err as Error).message)?.[1]
    throw new Error(at === undefined ? 'not valid JSON' : `not valid JSON (at byte ${at})`)
  }
}
