/**
 * VBoxManage: finding it, running it (argv arrays, LANG=C, `error:` on stderr is a failure even
 * with exit 0, transient "not ready"/"locked" errors retried) and parsing what it prints.
 */
import {spawn} from 'node:child_process'
import {accessSync, constants} from 'node:fs'
import {delimiter, join} from 'node:path'
import {BerthError, ExitCode} from '../../src/core/drivers/kit.js'

export const MINIMUM_VERSION = {major: 6, minor: 1}

export interface VBoxVersion {
  major: number
  minor: number
  patch: number
  text: string
}

const EXECUTABLE = process.platform === 'win32' ? 'VBoxManage.exe' : 'VBoxManage'

function isExecutable(path: string): boolean {
  try {
    accessSync(path, process.platform === 'win32' ? constants.F_OK : constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** VBoxManage on PATH, else in VBOX_INSTALL_PATH / VBOX_MSI_INSTALL_PATH (set by the Windows installers). */
export function findVBoxManage(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = [
    ...(env.PATH ?? '').split(delimiter),
    ...(env.VBOX_INSTALL_PATH ?? '').split(delimiter),
    ...(env.VBOX_MSI_INSTALL_PATH ?? '').split(delimiter),
  ].filter(Boolean)
  for (const dir of dirs) {
    const candidate = join(dir, EXECUTABLE)
    if (isExecutable(candidate)) return candidate
  }
  return undefined
}

/** `7.0.20r163906` (warnings about kernel modules may come first). */
export function parseVersion(output: string): VBoxVersion | undefined {
  for (const line of output.split('\n').reverse()) {
    const match = /^(\d+)\.(\d+)\.(\d+)\S*/.exec(line.trim())
    if (match)
      return {major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]), text: match[0]}
  }
  return undefined
}

export function isSupported(version: VBoxVersion): boolean {
  return (
    version.major > MINIMUM_VERSION.major ||
    (version.major === MINIMUM_VERSION.major && version.minor >= MINIMUM_VERSION.minor)
  )
}

/** The message of VBoxManage's first `error:` line, e.g. "Could not find a registered machine named 'x'". */
export function errorMessage(stderr: string): string | undefined {
  const line = stderr.split('\n').find((l) => /error:/i.test(l))
  return line?.replace(/^.*?error:\s*/i, '').trim()
}

/** Errors that go away when tried again: a session still closing, a machine still locked. */
const TRANSIENT = [
  /object is not ready/i,
  /is already locked for a session/i,
  /is already locked by a session/i,
  /being unlocked/i,
]

export class VBoxManageError extends BerthError {
  constructor(
    readonly subcommand: string,
    readonly detail: string,
  ) {
    super(`VBoxManage ${subcommand} failed: ${detail}`)
  }

  get notFound(): boolean {
    return /Could not find a registered machine|VBOX_E_OBJECT_NOT_FOUND|Could not find file for the medium/i.test(
      this.detail,
    )
  }
}

export interface RunOptions {
  /** How often a transient error is tried again (default 5), and the pause between tries. */
  retries?: number
  retryDelayMs?: number
}

export interface VBoxManageRunner {
  run(args: string[], options?: RunOptions): Promise<string>
}

export class VBoxManage implements VBoxManageRunner {
  constructor(readonly path: string) {}

  /** Locates VBoxManage or fails with the pre-create check's error. */
  static locate(env: NodeJS.ProcessEnv = process.env): VBoxManage {
    const path = findVBoxManage(env)
    if (!path) {
      throw new BerthError(
        'VirtualBox is not installed: VBoxManage is neither on PATH nor in VBOX_INSTALL_PATH / VBOX_MSI_INSTALL_PATH',
        ExitCode.preCreateCheck,
        `install VirtualBox ${MINIMUM_VERSION.major}.${MINIMUM_VERSION.minor} or later from https://www.virtualbox.org/wiki/Downloads`,
      )
    }
    return new VBoxManage(path)
  }

  private once(args: string[]): Promise<{code: number; stdout: string; stderr: string}> {
    return new Promise((resolve, reject) => {
      // LANG=C: messages are matched in English.
      const child = spawn(this.path, args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {...process.env, LANG: 'C', LC_ALL: 'C'},
      })
      const out: Buffer[] = []
      const err: Buffer[] = []
      child.stdout.on('data', (c: Buffer) => out.push(c))
      child.stderr.on('data', (c: Buffer) => err.push(c))
      child.on('error', (e) => reject(new BerthError(`cannot run ${this.path}: ${e.message}`)))
      child.on('close', (code) =>
        resolve({
          code: code ?? 1,
          stdout: Buffer.concat(out).toString(),
          stderr: Buffer.concat(err).toString(),
        }),
      )
    })
  }

  async run(args: string[], options: RunOptions = {}): Promise<string> {
    const retries = options.retries ?? 5
    for (let attempt = 0; ; attempt++) {
      const result = await this.once(args)
      const message = errorMessage(result.stderr)
      if (result.code === 0 && message === undefined) return result.stdout
      const detail = message ?? (result.stderr.trim().split('\n').pop() || `exit code ${result.code}`)
      if (attempt < retries && TRANSIENT.some((re) => re.test(result.stderr))) {
        await new Promise((r) => setTimeout(r, options.retryDelayMs ?? 1000))
        continue
      }
      throw new VBoxManageError(args[0] ?? '', detail)
    }
  }
}

/** `key="value"` and `key=value` lines of `--machinereadable` output; quoted keys unquoted. */
export function parseMachineReadable(output: string): Record<string, string> {
  const values: Record<string, string> = {}
  for (const line of output.split('\n')) {
    const match = /^("(?:[^"\\]|\\.)*"|[^=]+)=(.*)$/.exec(line.trimEnd())
    if (!match) continue
    const unquote = (s: string) =>
      s.startsWith('"') && s.endsWith('"') && s.length >= 2 ? s.slice(1, -1).replace(/\\(.)/g, '$1') : s
    values[unquote(match[1]!)] = unquote(match[2]!)
  }
  return values
}

/** `"name" {uuid}` lines of `list vms`. */
export function parseVmList(output: string): Array<{name: string; uuid: string}> {
  return output.split('\n').flatMap((line) => {
    const match = /^"(.*)" \{([0-9a-fA-F-]+)\}\s*$/.exec(line)
    return match ? [{name: match[1]!, uuid: match[2]!}] : []
  })
}

/** Blank-line separated `Key: value` blocks (`list hostonlyifs`, `list hostonlynets`, `list dhcpservers`). */
export function parseBlocks(output: string): Array<Record<string, string>> {
  const blocks: Array<Record<string, string>> = []
  let current: Record<string, string> = {}
  for (const line of [...output.split('\n'), '']) {
    const match = /^([^:]+):\s*(.*)$/.exec(line.trimEnd())
    if (match) current[match[1]!.trim()] = match[2]!.trim()
    else if (line.trim() === '' && Object.keys(current).length > 0) {
      blocks.push(current)
      current = {}
    }
  }
  return blocks
}

/** VMState of `showvminfo --machinereadable`, in berth's terms. */
export function machineState(
  vmState: string | undefined,
): 'Running' | 'Stopped' | 'Paused' | 'Saved' | 'Starting' | 'Stopping' | 'Error' {
  switch (vmState) {
    case 'running':
      return 'Running'
    case 'paused':
      return 'Paused'
    case 'saved':
      return 'Saved'
    case 'poweroff':
    case 'aborted':
      return 'Stopped'
    case 'starting':
    case 'restoring':
      return 'Starting'
    case 'stopping':
    case 'saving':
      return 'Stopping'
    default:
      return 'Error'
  }
}
