import {basename} from 'node:path'
import {BerthError, ExitCode} from '../errors.js'

export const SHELLS = [
  'bash',
  'zsh',
  'sh',
  'fish',
  'powershell',
  'pwsh',
  'cmd',
  'tcsh',
  'csh',
  'emacs',
] as const
export type Shell = (typeof SHELLS)[number]

/** The shell to render for: the flag, else the login shell, else POSIX sh (cmd on Windows). */
export function detectShell(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  platform = process.platform,
): Shell {
  const name = flag ?? (env.SHELL ? basename(env.SHELL) : platform === 'win32' ? 'powershell' : 'sh')
  if (!(SHELLS as readonly string[]).includes(name)) {
    if (flag) throw new BerthError(`unknown shell "${flag}" (one of: ${SHELLS.join(', ')})`, ExitCode.usage)
    return 'sh'
  }
  return name as Shell
}

function quote(shell: Shell, value: string): string {
  switch (shell) {
    case 'powershell':
    case 'pwsh':
      return `"${value.replace(/[`"$]/g, '`$&')}"`
    case 'fish':
      return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
    case 'emacs':
      return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
    case 'cmd':
      return value
    case 'tcsh':
    case 'csh':
      // csh expands $ (and ! and `) even inside double quotes; single quotes are literal.
      return /[$!`"]/.test(value) ? `'${value.replace(/'/g, `'\\''`)}'` : `"${value}"`
    default:
      return `"${value.replace(/(["\\$`])/g, '\\$1')}"`
  }
}

export function setLine(shell: Shell, name: string, value: string): string {
  const v = quote(shell, value)
  switch (shell) {
    case 'fish':
      return `set -gx ${name} ${v};`
    case 'powershell':
    case 'pwsh':
      return `$Env:${name} = ${v}`
    case 'cmd':
      return `SET ${name}=${v}`
    case 'tcsh':
    case 'csh':
      return `setenv ${name} ${v};`
    case 'emacs':
      return `(setenv "${name}" ${v})`
    default:
      return `export ${name}=${v}`
  }
}

export function unsetLine(shell: Shell, name: string): string {
  switch (shell) {
    case 'fish':
      return `set -e ${name};`
    case 'powershell':
    case 'pwsh':
      return `Remove-Item Env:\\${name}`
    case 'cmd':
      return `SET ${name}=`
    case 'tcsh':
    case 'csh':
      return `unsetenv ${name};`
    case 'emacs':
      return `(setenv "${name}" nil)`
    default:
      return `unset ${name}`
  }
}

function usageHint(shell: Shell, command: string): string {
  switch (shell) {
    case 'fish':
      return `# Run this command to configure your shell:\n# eval (${command})`
    case 'powershell':
    case 'pwsh':
      return `# Run this command to configure your shell:\n# & ${command} | Invoke-Expression`
    case 'cmd':
      return `REM Run this command to configure your shell:\nREM @FOR /f "tokens=*" %i IN ('${command}') DO @%i`
    case 'emacs':
      return `;; Run this command to configure your shell:\n;; (with-temp-buffer (shell-command "${command}" (current-buffer)) (eval-buffer))`
    case 'tcsh':
    case 'csh':
      return `# Run this command to configure your shell:\n# eval \`${command}\``
    default:
      return `# Run this command to configure your shell:\n# eval "$(${command})"`
  }
}

/** Adds `ip` to a NO_PROXY list once. */
export function withNoProxy(current: string | undefined, ip: string): string {
  const entries = (current ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (!entries.includes(ip)) entries.push(ip)
  return entries.join(',')
}

export type EnvVars = Array<[string, string]>

export function renderEnv(shell: Shell, vars: EnvVars, command: string): string {
  return [...vars.map(([name, value]) => setLine(shell, name, value)), usageHint(shell, command), ''].join(
    '\n',
  )
}

export function renderUnset(shell: Shell, names: string[], command: string): string {
  return [...names.map((name) => unsetLine(shell, name)), usageHint(shell, command), ''].join('\n')
}
