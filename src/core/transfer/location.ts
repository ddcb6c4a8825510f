import {posix} from 'node:path'
import {BerthError, ExitCode} from '../errors.js'

const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9.-]*$/

/** One side of a copy: a path on this computer, or `machine:path` on a machine. */
export interface Location {
  /** The machine's name; absent for a local path. */
  machine?: string
  path: string
}

/**
 * Parses a scp-style argument. `NAME:PATH` names a machine when NAME is a valid machine name;
 * anything starting with `/`, `.` or `~`, or with a `/` before the first colon, is a local path
 * (so `./a:b` and `/tmp/x:y` stay local). An empty remote path means the login user's home, and
 * `~/x` on a machine is `x` relative to that home (SFTP paths are relative to it).
 */
export function parseLocation(arg: string): Location {
  if (arg === '') throw new BerthError('empty path', ExitCode.usage)
  const colon = arg.indexOf(':')
  if (colon <= 0 || /^[/.~]/.test(arg) || arg.slice(0, colon).includes('/')) return {path: arg}
  const machine = arg.slice(0, colon)
  if (!NAME_PATTERN.test(machine)) return {path: arg}
  return {machine, path: remotePath(arg.slice(colon + 1))}
}

/** SFTP resolves relative paths from the login directory: `~` and `~/` mean exactly that. */
export function remotePath(path: string): string {
  if (path === '' || path === '~' || path === '~/') return '.'
  if (path.startsWith('~/')) return path.slice(2) || '.'
  return path
}

export function formatLocation(location: Location): string {
  return location.machine ? `${location.machine}:${location.path}` : location.path
}

/** The name a copied file or folder keeps inside a destination folder. */
export function entryName(path: string): string {
  const base = posix.basename(posix.normalize(path))
  return base === '' || base === '.' || base === '..' ? '' : base
}
