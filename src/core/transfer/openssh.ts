/**
 * Running OpenSSH-based tools (rsync, sshfs) against a machine with its host key verified as
 * berth pinned it: a known_hosts file written from the pinned key, StrictHostKeyChecking=yes,
 * and the key passed by path (never its content on a command line).
 */
import {spawn} from 'node:child_process'
import {access, constants, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {delimiter, join} from 'node:path'
import {BerthError, ExitCode} from '../errors.js'

export interface OpenSshTarget {
  host: string
  port: number
  user: string
  keyPath: string
  /** "ssh-ed25519 AAAA...", as pinned in the record. */
  hostKey: string
}

/**
 * A host or user name from a machine's record (a driver's answer, an imported record) as OpenSSH tools
 * take it: a leading `-` would be read as an option (`-oProxyCommand=...`), a space or newline would add
 * words or known_hosts lines, `@` or `:` would move where the user or the path begins.
 */
export function checkSshName(value: string, what: 'host' | 'user'): string {
  const pattern = what === 'host' ? /^[A-Za-z0-9_.:%][A-Za-z0-9_.:%-]*$/ : /^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/
  if (!pattern.test(value))
    throw new BerthError(`SSH ${what} ${JSON.stringify(value)} is not a valid ${what} name`)
  return value
}

/** A known_hosts line for the pinned key: `host key`, or `[host]:port key` off port 22. */
export function knownHostsLine(host: string, port: number, hostKey: string): string {
  checkSshName(host, 'host')
  if (!/^[a-z0-9@.-]+ [A-Za-z0-9+/=]+$/.test(hostKey))
    throw new BerthError(`pinned host key of ${host} is malformed`)
  const name = port === 22 ? host : `[${host}]:${port}`
  return `${name} ${hostKey}\n`
}

/** ssh's `-o` options that make it trust only the pinned key and use only the machine's key. */
export function sshOptions(knownHostsPath: string, keyPath: string): string[] {
  return [
    `IdentityFile=${keyPath}`,
    'IdentitiesOnly=yes',
    `UserKnownHostsFile=${knownHostsPath}`,
    'GlobalKnownHostsFile=/dev/null',
    'StrictHostKeyChecking=yes',
    'UpdateHostKeys=no',
    'BatchMode=yes',
    'ConnectTimeout=15',
    'LogLevel=ERROR',
  ]
}

/** Quotes one word for rsync's `-e` splitting (spaces separate words; quotes protect, backslashes do not). */
export function rsyncWord(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word
  if (!word.includes("'")) return `'${word}'`
  if (!word.includes('"')) return `"${word}"`
  throw new BerthError(
    `path ${JSON.stringify(word)} holds both quote characters; rsync cannot pass it to ssh`,
    ExitCode.usage,
  )
}

/** The `-e` value for rsync: ssh with the pinned host key, the machine's key file and its port. */
export function rsyncShell(target: OpenSshTarget, knownHostsPath: string): string {
  const words = ['ssh', '-i', target.keyPath, '-p', String(target.port)]
  for (const option of sshOptions(knownHostsPath, target.keyPath)) words.push('-o', option)
  return words.map(rsyncWord).join(' ')
}

/** `user@host:path` for rsync and sshfs (IPv6 addresses in brackets). */
export function remoteSpec(target: Pick<OpenSshTarget, 'host' | 'user'>, path: string): string {
  const host = checkSshName(target.host, 'host')
  return `${checkSshName(target.user, 'user')}@${host.includes(':') ? `[${host}]` : host}:${path}`
}

/** A private folder holding known_hosts files for the given targets; `dispose` removes it. */
export async function knownHostsFile(
  targets: OpenSshTarget[],
): Promise<{path: string; dispose: () => Promise<void>}> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-kh-'))
  const path = join(dir, 'known_hosts')
  await writeFile(path, targets.map((t) => knownHostsLine(t.host, t.port, t.hostKey)).join(''), {mode: 0o600})
  return {path, dispose: () => rm(dir, {recursive: true, force: true})}
}

/** The full path of a program on PATH, or undefined. */
export async function which(program: string, path = process.env.PATH ?? ''): Promise<string | undefined> {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, program)
    try {
      await access(candidate, constants.X_OK)
      return candidate
    } catch {
      // next
    }
  }
  return undefined
}

export interface ToolResult {
  code: number
  stderr: string
}

/** Runs a local tool with an argv array; its stdout goes to our stderr (stdout is for data) or nowhere, stderr is collected. */
export function runTool(
  program: string,
  args: string[],
  options: {passStdout?: boolean; timeoutMs?: number} = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {stdio: ['ignore', options.passStdout ? 2 : 'ignore', 'pipe']})
    const err: Buffer[] = []
    child.stderr!.on('data', (c: Buffer) => err.push(c))
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGTERM'), options.timeoutMs) : undefined
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({code: code ?? (signal ? 128 : 255), stderr: Buffer.concat(err).toString('utf8')})
    })
  })
}

/** The last meaningful line of a tool's stderr, for a one-line error. */
export function lastLine(text: string, fallback: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .pop() ?? fallback
  )
}
