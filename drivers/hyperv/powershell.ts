/**
 * Running PowerShell for the Hyper-V driver: `powershell.exe -NoProfile -NonInteractive -Command
 * SCRIPT` (or `pwsh`), every value in the script a single-quoted literal, results read as JSON.
 */
import {spawn} from 'node:child_process'
import {accessSync, constants} from 'node:fs'
import {delimiter, join} from 'node:path'
import {BerthError, ExitCode, oneLine} from '../../src/core/drivers/kit.js'

/** Windows PowerShell first (always there with Hyper-V), then PowerShell 7. */
const EXECUTABLES = ['powershell.exe', 'pwsh.exe', 'pwsh']

/** The PowerShell on PATH, or undefined. */
export function findPowerShell(path = process.env.PATH ?? ''): string | undefined {
  for (const name of EXECUTABLES) {
    for (const dir of path.split(delimiter).filter(Boolean)) {
      const candidate = join(dir, name)
      try {
        accessSync(candidate, constants.X_OK)
        return candidate
      } catch {
        // not in this folder
      }
    }
  }
  return undefined
}

/**
 * A PowerShell single-quoted string literal: nothing inside is expanded (`$`, backticks, `;`),
 * and a quote is escaped by doubling it. PowerShell also takes the typographic single quotes
 * U+2018..U+201B as quote characters, so those are doubled too. Double quotes are kept out of
 * the command line (Windows re-parses it, and `"` is where that goes wrong): as `[char]34`.
 */
export function psQuote(value: string): string {
  if (value.includes('\0'))
    throw new BerthError(`${JSON.stringify(value)} contains a NUL character`, ExitCode.usage)
  const parts = value.split('"').map((part) => `'${part.replace(/['\u2018-\u201B]/g, (q) => q + q)}'`)
  return parts.length === 1 ? parts[0]! : `(${parts.join(' + [char]34 + ')})`
}

/**
 * Wraps a script so any error stops it with exit code 1 and a single line on stderr (not
 * PowerShell's multi-line error record), progress bars and warnings stay off (Convert-VHD draws a
 * bar; Stop-VM warns about a VM already off, on stdout), and JSON leaves as UTF-8 (without a byte
 * order mark) whatever the console code page.
 */
export function wrapScript(script: string): string {
  return (
    "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'; $WarningPreference = 'SilentlyContinue'; " +
    '[Console]::OutputEncoding = New-Object Text.UTF8Encoding $false; ' +
    `try { ${script} } catch { [Console]::Error.WriteLine($_.Exception.Message); exit 1 }`
  )
}

/** The argument vector for one script. */
export function powerShellArgs(script: string): string[] {
  return ['-NoProfile', '-NonInteractive', '-Command', wrapScript(script)]
}

/** Serializes a pipeline's output as a JSON array on one line, also when it yields one object or none. */
export function asJsonArray(pipeline: string): string {
  return `ConvertTo-Json -Compress -Depth 4 -InputObject @(${pipeline})`
}

export interface PowerShellRunner {
  /** Runs a script and returns its stdout. */
  run(script: string, timeoutMs?: number): Promise<string>
}

const DEFAULT_TIMEOUT_MS = 120_000

export class PowerShell implements PowerShellRunner {
  constructor(readonly executable: string) {}

  run(script: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.executable, powerShellArgs(script), {
        stdio: ['ignore', 'pipe', 'pipe'],
        windowsHide: true,
      })
      const out: Buffer[] = []
      let stderr = ''
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
      // The first line is the message (the wrapper prints the exception's); keep the start.
      child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(0, 8000)))
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(
          new BerthError(
            `PowerShell did not finish within ${timeoutMs / 1000}s (${firstCmdlet(script)})`,
            ExitCode.timeout,
          ),
        )
      }, timeoutMs)
      child.on('error', (err) => {
        clearTimeout(timer)
        reject(new BerthError(`cannot run ${this.executable}: ${oneLine(err)}`))
      })
      child.on('close', (code) => {
        clearTimeout(timer)
        if (code === 0) resolve(Buffer.concat(out).toString('utf8'))
        else
          reject(
            new BerthError(`${firstCmdlet(script)} failed: ${oneLine(stderr.trim() || `exit code ${code}`)}`),
          )
      })
    })
  }
}

/** The cmdlet a script is mostly about, to name it in errors. */
function firstCmdlet(script: string): string {
  return /\b(?:Hyper-V|NetTCPIP)\\[A-Za-z-]+/.exec(script)?.[0] ?? 'PowerShell'
}

/**
 * The `count` JSON arrays a script printed, one per asJsonArray statement, in order. Other lines
 * (a WARNING a host policy forces out, a banner) are skipped; a missing or broken array is an
 * error, never an empty answer.
 */
export function parseJsonArrays(stdout: string, count: number, what: string): unknown[][] {
  const lines = stdout
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('['))
  const arrays = lines.map((line) => {
    try {
      return JSON.parse(line) as unknown
    } catch {
      return undefined
    }
  })
  if (arrays.length !== count || !arrays.every(Array.isArray)) {
    throw new BerthError(
      `PowerShell answered ${what} with ${JSON.stringify(oneLine(stdout).slice(0, 200))}, not ${count} JSON array(s)`,
    )
  }
  return arrays as unknown[][]
}
