import {constants} from 'node:fs'
import {access, mkdir, readFile, rmdir, stat} from 'node:fs/promises'
import {resolve} from 'node:path'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import {Machine} from '../machine/machine.js'
import type {Store} from '../store/store.js'
import {SftpEndpoint} from './endpoints.js'
import {entryName, Location} from './location.js'
import {knownHostsFile, lastLine, remoteSpec, runTool, sshOptions, which} from './openssh.js'

export const FUSE_DEVICE = '/dev/fuse'

export interface FuseTools {
  sshfs: string
  fusermount: string
}

/** sshfs needs the FUSE device, sshfs itself and fusermount (for unmounting); says which is missing. */
export async function fusePreflight(device = FUSE_DEVICE): Promise<FuseTools> {
  const problems: string[] = []
  try {
    await access(device, constants.R_OK | constants.W_OK)
  } catch (err) {
    problems.push(`${device} is not usable (${(err as NodeJS.ErrnoException).code ?? oneLine(err)})`)
  }
  const sshfs = await which('sshfs')
  if (!sshfs) problems.push('sshfs is not installed')
  const fusermount = (await which('fusermount3')) ?? (await which('fusermount'))
  if (!fusermount) problems.push('fusermount is not installed')
  if (problems.length > 0 || !sshfs || !fusermount) {
    throw new BerthError(
      `sshfs/FUSE not available: ${problems.join('; ')}`,
      ExitCode.failure,
      'apt-get install sshfs, and give the computer FUSE (/dev/fuse)',
    )
  }
  return {sshfs, fusermount}
}

/** The local folder a mount uses: the one given, else the remote folder's name (or the machine's) here. */
export function defaultMountPoint(location: Location, localDir?: string): string {
  return resolve(localDir ?? (entryName(location.path) || location.machine || 'mnt'))
}

/** Decodes the octal escapes /proc/self/mountinfo uses for spaces and the like. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
}

/** The mount source (user@host:path) of an sshfs mount at `dir`, or undefined. */
export async function sshfsMountAt(dir: string, mountinfo?: string): Promise<string | undefined> {
  const text = mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8'))
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ')
    if (!left || !right) continue
    const mountPoint = unescapeMountPath(left.split(' ')[4] ?? '')
    const [fsType, source] = right.split(' ')
    if (mountPoint === dir && fsType === 'fuse.sshfs') return unescapeMountPath(source ?? '')
  }
  return undefined
}

/** Mounts a machine's folder on a local folder with sshfs, the host key verified as pinned. */
export async function mountMachine(store: Store, location: Location, localDir: string): Promise<string> {
  if (!location.machine) throw new BerthError('expected MACHINE:PATH', ExitCode.usage)
  const tools = await fusePreflight()
  const machine = await Machine.open(store, location.machine)
  const state = await machine.driver.getState()
  if (state !== 'Running')
    throw new BerthError(
      `machine "${machine.name}" is ${state}`,
      ExitCode.failure,
      `\`berth start ${machine.name}\` starts it`,
    )
  const existing = await stat(localDir).catch(() => undefined)
  if (existing && !existing.isDirectory())
    throw new BerthError(`${localDir} exists and is not a folder`, ExitCode.usage)
  if (await sshfsMountAt(localDir))
    throw new BerthError(
      `${localDir} is already an sshfs mount`,
      ExitCode.usage,
      `\`berth mount -u ${location.machine}:${location.path} ${localDir}\` unmounts it`,
    )
  if (!existing) {
    const parent = await stat(resolve(localDir, '..')).catch(() => undefined)
    if (!parent?.isDirectory())
      throw new BerthError(`no such folder: ${resolve(localDir, '..')}`, ExitCode.usage)
  }
  const session = await machine.ssh(15_000)
  let remote: string
  try {
    const sftp = new SftpEndpoint(await session.sftp(), machine.name)
    try {
      const s = await sftp.stat(location.path)
      if (!s?.isDir)
        throw new BerthError(
          `${location.machine}:${location.path} is not a folder on the machine`,
          ExitCode.usage,
        )
    } finally {
      sftp.close()
    }
    remote = location.path
  } finally {
    session.close()
  }
  const target = await machine.sshTarget()
  const hostKey = machine.record.Berth?.SSHHostKey
  if (!hostKey) throw new BerthError(`machine "${machine.name}" has no pinned SSH host key`)
  for (const path of [target.privateKeyPath])
    if (path.includes(',')) throw new BerthError(`sshfs cannot take a key path with a comma: ${path}`)
  const knownHosts = await knownHostsFile([
    {host: target.host, port: target.port, user: target.user, keyPath: target.privateKeyPath, hostKey},
  ])
  if (!existing) await mkdir(localDir, {mode: 0o755})
  try {
    const options = sshOptions(knownHosts.path, target.privateKeyPath).flatMap((o) => ['-o', o])
    // ssh reads known_hosts while connecting, and sshfs connects before it returns; the file may go afterwards.
    const result = await runTool(
      tools.sshfs,
      [...options, '-p', String(target.port), remoteSpec(target, remote), localDir],
      {timeoutMs: 60_000},
    )
    if (result.code !== 0)
      throw new BerthError(`sshfs failed (exit ${result.code}): ${lastLine(result.stderr, 'no message')}`)
  } catch (err) {
    if (!existing) await rmdir(localDir).catch(() => undefined)
    throw err
  } finally {
    await knownHosts.dispose()
  }
  return localDir
}

/** Unmounts an sshfs mount made by `berth mount`. */
export async function unmountMachine(localDir: string): Promise<void> {
  const tools = await fusePreflight()
  if (!(await sshfsMountAt(localDir)))
    throw new BerthError(`${localDir} is not an sshfs mount`, ExitCode.usage)
  const result = await runTool(tools.fusermount, ['-u', localDir], {timeoutMs: 30_000})
  if (result.code !== 0)
    throw new BerthError(`unmounting ${localDir} failed: ${lastLine(result.stderr, `exit ${result.code}`)}`)
}
