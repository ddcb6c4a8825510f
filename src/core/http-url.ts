import {redactUrl} from '../../agent/src/url.js'
import {BerthError, ExitCode} from './errors.js'

/**
 * A URL given on the command line, checked before anything is sent: only the schemes given (http and https
 * by default: `file://` would read local files), and no `user:password@`, which belongs in a file, not argv.
 * Errors never repeat credentials.
 */
export function checkUrl(
  value: string,
  flag: string,
  options: {schemes?: string[]; credentialsHint?: string} = {},
): URL {
  const schemes = options.schemes ?? ['http:', 'https:']
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new BerthError(`${flag} is not a URL: ${JSON.stringify(redactUrl(value))}`, ExitCode.usage)
  }
  if (!schemes.includes(url.protocol))
    throw new BerthError(
      `${flag} must be ${schemes.map((s) => `${s}//`).join(' or ')}, not ${url.protocol}`,
      ExitCode.usage,
    )
  if (url.username || url.password)
    throw new BerthError(`${flag} must not carry credentials`, ExitCode.usage, options.credentialsHint)
  return url
}
