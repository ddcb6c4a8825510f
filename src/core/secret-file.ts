import {readFile} from 'node:fs/promises'
import {BerthError, ExitCode, oneLine} from './errors.js'

/**
 * Reads a secret (a token, a password) from a file: never from argv, where every process would see it.
 * A secret is one line; `multiLine` allows more for a file such as a PEM CA certificate.
 */
export async function readSecretFile(
  path: string,
  what: string,
  hint?: string,
  multiLine = false,
): Promise<string> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new BerthError(
      `cannot read the ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? oneLine(err)}`,
      ExitCode.usage,
    )
  }
  const secret = text.trim()
  if (!secret) throw new BerthError(`the ${what} file ${path} is empty`, ExitCode.usage, hint)
  if (!multiLine && /[\r\n]/.test(secret))
    throw new BerthError(`the ${what} file ${path} holds more than one line`, ExitCode.usage, hint)
  return secret
}
