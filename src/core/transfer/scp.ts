import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {isAbsolute, join, posix, relative as relativePath, sep} from 'node:path'
import {pipeline} from 'node:stream/promises'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import {Machine, Reporter, silentReporter} from '../machine/machine.js'
import {parseOsRelease, recipeFor} from '../provision/os.js'
import type {SshSession} from '../ssh/ssh.js'
import type {Store} from '../store/store.js'
import {Endpoint, LocalEndpoint, SftpEndpoint, tempSibling} from './endpoints.js'
import {entryName, formatLocation, Location} from './location.js'
import {knownHostsFile, lastLine, OpenSshTarget, remoteSpec, rsyncShell, runTool, which} from './openssh.js'

export interface CopyRequest {
  sources: Location[]
  destination: Location
  recursive: boolean
  /** rsync over ssh instead of SFTP: only what changed travels. */
  delta: boolean
  quiet?: boolean
}

export interface PlannedCopy {
  source: Location
  target: Location
  isDir: boolean
}

export interface CopySummary {
  files: number
  bytes: number
}

/**
 * Checks every source and the destination before anything is written and decides each
 * source's target with scp's rules: into DEST when it is a folder, as DEST otherwise; several
 * sources need a folder; folders need -r.
 */
export async function planCopies(
  endpoint: (location: Location) => Endpoint,
  request: CopyRequest,
): Promise<PlannedCopy[]> {
  const {sources, destination} = request
  if (sources.length === 0) throw new BerthError('no source given', ExitCode.usage)
  if (!destination.machine && sources.every((s) => !s.machine)) {
    throw new BerthError(
      'neither side names a machine: use MACHINE:PATH for a source or the destination',
      ExitCode.usage,
    )
  }
  const destLabel = formatLocation(destination)
  const destStat = await endpoint(destination).stat(destination.path)
  if (sources.length > 1 && !destStat?.isDir)
    throw new BerthError(`target ${destLabel} is not a folder (several sources need one)`, ExitCode.usage)
  if (!destStat) {
    const parent = posix.dirname(destination.path)
    const parentStat = await endpoint(destination).stat(parent)
    if (!parentStat?.isDir)
      throw new BerthError(
        `no such folder: ${formatLocation({...destination, path: parent})}`,
        ExitCode.usage,
      )
  }
  const plan: PlannedCopy[] = []
  for (const source of sources) {
    const label = formatLocation(source)
    const s = await endpoint(source).stat(source.path)
    if (!s) throw new BerthError(`no such file or folder: ${label}`, ExitCode.usage)
    if (s.isDir && !request.recursive)
      throw new BerthError(`${label} is a folder (use -r to copy folders)`, ExitCode.usage)
    if (!s.isDir && !s.isFile) throw new BerthError(`${label} is neither a file nor a folder`, ExitCode.usage)
    let target = destination
    if (destStat?.isDir) {
      const name = entryName(source.path)
      if (!name)
        throw new BerthError(
          `cannot tell what to name ${label} inside ${destLabel}; name the target`,
          ExitCode.usage,
        )
      target = {...destination, path: posix.join(destination.path, name)}
      const existing = await endpoint(target).stat(target.path)
      if (existing && existing.isDir !== s.isDir) {
        throw new BerthError(
          `${formatLocation(target)} exists and is ${existing.isDir ? 'a folder' : 'a file'}`,
          ExitCode.usage,
        )
      }
    } else if (destStat && s.isDir) {
      throw new BerthError(`${destLabel} is a file; cannot copy folder ${label} onto it`, ExitCode.usage)
    }
    plan.push({source, target, isDir: s.isDir})
  }
  return plan
}

/** Copies one file so it appears under its name only when complete. */
async function copyFile(
  from: Endpoint,
  source: string,
  to: Endpoint,
  target: string,
  mode: number,
  summary: CopySummary,
): Promise<void> {
  const tmp = tempSibling(target)
  try {
    await pipeline(from.read(source), to.write(tmp, 0o600))
    await to.chmod(tmp, mode & 0o777)
    await to.replace(tmp, target)
  } catch (err) {
    await to.remove(tmp).catch(() => undefined)
    throw new BerthError(`copying ${from.prefix}${source} to ${to.prefix}${target} failed: ${oneLine(err)}`)
  }
  summary.files++
}

/** Names a listing may hand over on this computer: one path segment, never a way out of its folder. */
const NOT_A_PLAIN_NAME = process.platform === 'win32' ? /[/\\:\0]/ : /[/\0]/

/**
 * A name from a folder listing, refused unless it names an entry inside that folder: a hostile
 * machine's SFTP server may list `../../x` or `a/b` (the class of CVE-2019-6111).
 */
export function listedName(name: string, from: Endpoint, folder: string): string {
  if (name === '' || name === '.' || name === '..' || NOT_A_PLAIN_NAME.test(name)) {
    throw new BerthError(
      `${from.prefix}${folder} lists an entry named ${JSON.stringify(name)}, which is not a plain file name; refusing to copy it`,
    )
  }
  return name
}

/** Whether `path` is `root` or lies under it (both absolute or both relative, already resolved). */
export function isUnder(root: string, path: string): boolean {
  const relative = relativePath(root, path)
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${sep}`) && !isAbsolute(relative))
}

/** Copies a file or folder tree; every folder it writes into must resolve (symlinks followed) under `root`, the copy's target. */
export async function copyTree(
  from: Endpoint,
  source: string,
  to: Endpoint,
  target: string,
  summary: CopySummary,
  root?: string,
): Promise<void> {
  const s = await from.stat(source)
  if (!s) throw new BerthError(`${from.prefix}${JSON.stringify(source)} disappeared while copying`)
  if (s.isFile) {
    summary.bytes += s.size
    return copyFile(from, source, to, target, s.mode, summary)
  }
  if (!s.isDir) return // sockets, fifos and devices are not copied (as scp)
  const existing = await to.stat(target)
  if (!existing) await to.mkdir(target, (s.mode & 0o777) | 0o700)
  else if (!existing.isDir)
    throw new BerthError(`${to.prefix}${JSON.stringify(target)} exists and is not a folder`)
  const real = await to.realpath(target)
  root ??= real
  if (!isUnder(root, real))
    throw new BerthError(
      `${to.prefix}${JSON.stringify(target)} leads outside ${to.prefix}${root} (to ${real}); refusing to write there`,
    )
  const names = (await from.readdir(source)).map((name) => listedName(name, from, source))
  for (const name of names)
    await copyTree(from, posix.join(source, name), to, posix.join(target, name), summary, root)
}

interface Connected {
  machine: Machine
  session: SshSession
  endpoint?: SftpEndpoint
}

/** Opens each machine named in the request once, with its host key verified as pinned. */
async function connectAll(store: Store, names: string[]): Promise<Map<string, Connected>> {
  const connected = new Map<string, Connected>()
  try {
    for (const name of names) {
      const machine = await Machine.open(store, name)
      const state = await machine.driver.getState()
      if (state !== 'Running')
        throw new BerthError(
          `machine "${name}" is ${state}`,
          ExitCode.failure,
          `\`berth start ${name}\` starts it`,
        )
      connected.set(name, {machine, session: await machine.ssh(15_000)})
    }
  } catch (err) {
    for (const c of connected.values()) c.session.close()
    throw err
  }
  return connected
}

/** Copies files between this computer and machines, or between machines (through this computer). */
export async function copy(
  store: Store,
  request: CopyRequest,
  reporter: Reporter = silentReporter,
): Promise<CopySummary> {
  const names = [
    ...new Set(
      [...request.sources, request.destination].map((l) => l.machine).filter((m): m is string => Boolean(m)),
    ),
  ]
  if (request.delta && !(await which('rsync'))) {
    throw new BerthError(
      'rsync is not installed on this computer; --delta needs it on both sides',
      ExitCode.failure,
      'apt-get install rsync',
    )
  }
  const local = new LocalEndpoint()
  const connected = await connectAll(store, names)
  try {
    for (const c of connected.values()) c.endpoint = new SftpEndpoint(await c.session.sftp(), c.machine.name)
    const endpoint = (l: Location): Endpoint => (l.machine ? connected.get(l.machine)!.endpoint! : local)
    const plan = await planCopies(endpoint, request)
    const summary: CopySummary = {files: 0, bytes: 0}
    if (request.delta) {
      await copyWithRsync(connected, plan, request, reporter)
      return summary
    }
    for (const item of plan) {
      reporter.step(`Copying ${formatLocation(item.source)} to ${formatLocation(item.target)}`)
      await copyTree(
        endpoint(item.source),
        item.source.path,
        endpoint(item.target),
        item.target.path,
        summary,
      )
    }
    return summary
  } finally {
    for (const c of connected.values()) {
      c.endpoint?.close()
      c.session.close()
    }
  }
}

/** Installs rsync on a machine that lacks it (Debian and Ubuntu recipes). */
async function ensureRemoteRsync(c: Connected, reporter: Reporter): Promise<void> {
  if ((await c.session.exec('command -v rsync >/dev/null 2>&1')).code === 0) return
  reporter.step(`Installing rsync on ${c.machine.name}`)
  // The package lists from provisioning usually still serve; refreshing them is the slow part.
  const quick =
    'command -v apt-get >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 --no-install-recommends install rsync'
  if ((await c.session.exec(quick)).code === 0) return
  let recipe
  try {
    recipe = recipeFor(parseOsRelease(await c.session.run('cat /etc/os-release', 'reading /etc/os-release')))
  } catch (err) {
    throw new BerthError(
      `rsync is missing on ${c.machine.name} and berth cannot install it (${oneLine(err)})`,
      ExitCode.failure,
      'install rsync on the machine, or copy without --delta',
    )
  }
  await c.session.run(recipe.install(['rsync']), 'installing rsync')
}

async function openSshTarget(c: Connected): Promise<OpenSshTarget> {
  const target = await c.machine.sshTarget()
  const hostKey = c.machine.record.Berth?.SSHHostKey
  if (!hostKey) throw new BerthError(`machine "${c.machine.name}" has no pinned SSH host key`)
  return {host: target.host, port: target.port, user: target.user, keyPath: target.privateKeyPath, hostKey}
}

async function copyWithRsync(
  connected: Map<string, Connected>,
  plan: PlannedCopy[],
  request: CopyRequest,
  reporter: Reporter,
): Promise<void> {
  const targets = new Map<string, OpenSshTarget>()
  for (const [name, c] of connected) {
    await ensureRemoteRsync(c, reporter)
    targets.set(name, await openSshTarget(c))
  }
  const knownHosts = await knownHostsFile([...targets.values()])
  const stage = await mkdtemp(join(tmpdir(), 'berth-scp-'))
  try {
    const base = [request.recursive ? '-rlpt' : '-lpt', ...(request.quiet ? ['-q'] : [])]
    const rsync = async (from: Location, to: Location, isDir: boolean) => {
      const machine = from.machine ?? to.machine
      const spec = (l: Location) => {
        const path = isDir ? l.path.replace(/\/*$/, '/') : l.path
        return l.machine ? remoteSpec(targets.get(l.machine)!, path) : path
      }
      const args = [
        ...base,
        ...(machine ? ['-e', rsyncShell(targets.get(machine)!, knownHosts.path)] : []),
        '--', // a local path starting with - is a path, not an option
        spec(from),
        spec(to),
      ]
      const result = await runTool('rsync', args, {passStdout: !request.quiet})
      if (result.code !== 0) {
        throw new BerthError(
          `rsync ${formatLocation(from)} to ${formatLocation(to)} failed (exit ${result.code}): ${lastLine(result.stderr, 'no message')}`,
        )
      }
    }
    for (const [index, item] of plan.entries()) {
      reporter.step(`Syncing ${formatLocation(item.source)} to ${formatLocation(item.target)}`)
      if (item.source.machine && item.target.machine) {
        // rsync cannot copy between two remote hosts; the data goes through a local stage.
        const staged = {path: join(stage, String(index))}
        await rsync(item.source, staged, item.isDir)
        await rsync(staged, item.target, item.isDir)
      } else {
        await rsync(item.source, item.target, item.isDir)
      }
    }
  } finally {
    await rm(stage, {recursive: true, force: true})
    await knownHosts.dispose()
  }
}
