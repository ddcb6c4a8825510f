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

/**
 * docker-machine's `env` bytes (commands/env.go): each variable is PREFIX NAME DELIMITER VALUE SUFFIX (envTmpl),
 * with the shell's pieces from shellCfgSet and shellCfgUnset, then GenerateUsageHint's two comment lines. Its
 * shells are fish, powershell, cmd, tcsh and emacs; any other name gets the POSIX lines.
 */
export type DockerMachineShell = 'fish' | 'powershell' | 'cmd' | 'tcsh' | 'emacs' | 'posix'

/** commands/env.go: getShell; libmachine/shell/shell.go: Detect (the base name of $SHELL). */
export function dockerMachineShell(flag: string | undefined, env: NodeJS.ProcessEnv): DockerMachineShell {
  const name = flag || (env.SHELL ? basename(env.SHELL) : undefined)
  if (name === undefined) {
    const message = 'Error: Unknown shell' // libmachine/shell/shell.go: ErrUnknownShell
    throw new BerthError(message, ExitCode.failure, undefined, message)
  }
  return (['fish', 'powershell', 'cmd', 'tcsh', 'emacs'] as const).find((s) => s === name) ?? 'posix'
}

/** What Detect prints on standard output before failing when $SHELL is unset. */
export const UNKNOWN_SHELL_NOTE =
  "The default lines below are for a sh/bash shell, you can specify the shell you're using, with the --shell flag.\n\n"

type Pieces = [prefix: string, delimiter: string, suffix: string]
const SET_PIECES: Record<DockerMachineShell, Pieces> = {
  fish: ['set -gx ', ' "', '";\n'],
  powershell: ['$Env:', ' = "', '"\n'],
  cmd: ['SET ', '=', '\n'],
  tcsh: ['setenv ', ' "', '";\n'],
  emacs: ['(setenv "', '" "', '")\n'],
  posix: ['export ', '="', '"\n'],
}
const UNSET_PIECES: Record<DockerMachineShell, Pieces> = {
  fish: ['set -e ', '', ';\n'],
  powershell: ['Remove-Item Env:\\\\', '', '\n'], // a Go raw string: two backslashes, as docker-machine prints
  cmd: ['SET ', '=', '\n'],
  tcsh: ['unsetenv ', '', ';\n'],
  emacs: ['(setenv "', '" nil', ')\n'],
  posix: ['unset ', '', '\n'],
}

/**
 * docker-machine writes values between its quotes as they are. Values it could produce itself (addresses,
 * paths, names) come out byte for byte; a character that would end the quotes or be expanded by the shell
 * (a hostile record's address, an odd store path) is escaped as that shell reads it inside those quotes.
 */
function escapeInQuotes(shell: DockerMachineShell, value: string): string {
  switch (shell) {
    case 'posix':
      return value.replace(/["\\$`]/g, '\\$&')
    case 'fish':
      return value.replace(/["\\$]/g, '\\$&')
    case 'powershell':
      return value.replace(/[`"$]/g, '`$&')
    case 'emacs':
      return value.replace(/["\\]/g, '\\$&')
    case 'cmd':
      return value.replace(/[\^&|<>()%!"]/g, '^$&')
    case 'tcsh':
      // csh has no escape inside double quotes for $, ! or `: such a value is refused rather than run.
      if (/["$!`\\\n]/.test(value))
        throw new BerthError(`the value ${JSON.stringify(value)} cannot be written safely for tcsh`)
      return value
  }
}

/** commands/env.go: GenerateUsageHint, with `args` the command line as typed (os.Args). */
export function dockerMachineUsageHint(shell: DockerMachineShell, args: string[]): string {
  const words = [...args]
  if (/[ \\]/.test(words[0] ?? '')) words[0] = `"${words[0]}"`
  const line = words.join(' ')
  const [comment, command] = {
    fish: ['#', `eval (${line})`],
    powershell: ['#', `& ${line} | Invoke-Expression`],
    cmd: ['REM', `\t@FOR /f "tokens=*" %i IN ('${line}') DO @%i`],
    emacs: [';;', `(with-temp-buffer (shell-command "${line}" (current-buffer)) (eval-buffer))`],
    tcsh: [':', `eval \`${line}\``],
    posix: ['#', `eval $(${line})`],
  }[shell]
  return `${comment} Run this command to configure your shell: \n${comment} ${command}\n`
}

export function renderDockerMachineEnv(shell: DockerMachineShell, vars: EnvVars, args: string[]): string {
  const [prefix, delimiter, suffix] = SET_PIECES[shell]
  const lines = vars.map(([name, value]) => prefix + name + delimiter + escapeInQuotes(shell, value) + suffix)
  return lines.join('') + dockerMachineUsageHint(shell, args)
}

/**
 * `env -u`: docker-machine's template also prints the NO_PROXY value after the variable's name there
 * (`unset NO_PROXY10.0.0.5`), which no shell reads as meant; berth prints the name alone.
 */
export function renderDockerMachineUnset(shell: DockerMachineShell, names: string[], args: string[]): string {
  const [prefix, delimiter, suffix] = UNSET_PIECES[shell]
  return (
    names.map((name) => prefix + name + delimiter + suffix).join('') + dockerMachineUsageHint(shell, args)
  )
}

/** commands/env.go: findNoProxyFromEnv and shellCfgSet's idempotent append: [variable name, value]. */
export function dockerMachineNoProxy(env: NodeJS.ProcessEnv, ip: string): [string, string] {
  const [name, current] = env.no_proxy ? ['no_proxy', env.no_proxy] : ['NO_PROXY', env.NO_PROXY ?? '']
  if (!current) return [name, ip]
  const listed = current.split(',').some((entry) => entry.trim() === ip)
  return [name, listed ? current : `${current},${ip}`]
}
