import {open} from 'node:fs/promises'
import {BerthError, ExitCode, oneLine} from './errors.js'

/**
 * Reads a secret (a token, a password) from a file: never from argv, where every process would see it.
 * A secret is one line, in a file only its owner can read (refused otherwise, as ssh refuses such a key: a
 * secret others can read is no longer one); `multiLine` allows more, and any mode, for a file that is not a
 * secret but travels like one, such as a PEM CA certificate.
 */
export async function readSecretFile(
  path: string,
  what: string,
  hint?: string,
  multiLine = false,
): Promise<string> {
  let text: string
  let mode: number
  try {
    const handle = await open(path, 'r')
    try {
      mode = (await handle.stat()).mode
      text = await handle.readFile('utf8')
    } finally {
      await handle.close()
    }
  } catch (err) {
    throw new BerthError(
      `cannot read the ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? oneLine(err)}`,
      ExitCode.usage,
    )
  }
  // Windows has no such bits (Node reports 0666 for every file): its ACLs are the user's to set.
  if (!multiLine && process.platform !== 'win32' && mode & 0o077)
    throw new BerthError(
      `the ${what} file ${path} is readable by others (mode ${(mode & 0o777).toString(8).padStart(4, '0')})`,
      ExitCode.usage,
      `run \`chmod 600 ${path}\``,
    )
  const secret = text.trim()
  if (!secret) throw new BerthError(`the ${what} file ${path} is empty`, ExitCode.usage, hint)
  if (!multiLine && /[\r\n]/.test(secret))
    throw new BerthError(`the ${what} file ${path} holds more than one line`, ExitCode.usage, hint)
  return secret
}
