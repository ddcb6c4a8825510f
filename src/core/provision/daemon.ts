import {BerthError, ExitCode} from '../errors.js'
import {checkUrl} from '../http-url.js'
import type {EngineOptions} from '../store/record.js'

export const REMOTE_CERT_DIR = '/etc/docker'
export const DROP_IN_PATH = '/etc/systemd/system/docker.service.d/10-berth.conf'
/** Where docker-machine's systemd provisioner put dockerd's options (libmachine/provision/systemd.go: DaemonOptionsFile). */
export const DOCKER_MACHINE_DROP_IN = '/etc/systemd/system/docker.service.d/10-machine.conf'

const OPT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9-]*$/
const ENV_ENTRY = /^[A-Za-z_][A-Za-z0-9_]*=/

function noControlChars(value: string, what: string): void {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value))
    throw new BerthError(`${what} ${JSON.stringify(value)} contains a control character`, ExitCode.usage)
}

/** Checks `--engine-*` values before anything is created. */
export function validateEngineOptions(options: EngineOptions): void {
  for (const flag of options.ArbitraryFlags) {
    noControlChars(flag, '--engine-opt')
    const name = flag.split('=')[0]!
    if (!OPT_NAME.test(name))
      throw new BerthError(
        `--engine-opt ${JSON.stringify(flag)}: expected NAME or NAME=VALUE, e.g. log-level=debug`,
        ExitCode.usage,
      )
    if (/^(host|H|tls.*)$/.test(name))
      throw new BerthError(
        `--engine-opt ${name} is managed by berth and cannot be overridden`,
        ExitCode.usage,
      )
  }
  for (const env of options.Env) {
    noControlChars(env, '--engine-env')
    if (!ENV_ENTRY.test(env))
      throw new BerthError(`--engine-env ${JSON.stringify(env)}: expected NAME=VALUE`, ExitCode.usage)
  }
  for (const label of options.Labels) {
    noControlChars(label, '--engine-label')
    if (!/^[^=]+=/.test(label))
      throw new BerthError(`--engine-label ${JSON.stringify(label)}: expected KEY=VALUE`, ExitCode.usage)
  }
  for (const value of [...options.InsecureRegistry, ...options.RegistryMirror, options.StorageDriver]) {
    noControlChars(value, 'engine option')
  }
  if (options.InstallURL && options.InstallURL !== 'none') {
    // The script runs as root on the machine: over plain http anyone on the path could choose what it does.
    if (/\s/.test(options.InstallURL) || !options.InstallURL.includes('://'))
      throw new BerthError(
        `--engine-install-url ${JSON.stringify(options.InstallURL)}: expected an https URL or "none"`,
        ExitCode.usage,
      )
    checkUrl(options.InstallURL, '--engine-install-url', {schemes: ['https:']})
  }
}

/** Quotes one argument for a systemd command line: `%` and `$` would otherwise be expanded. */
export function systemdQuote(arg: string): string {
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$')
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
}

/** Splits a unit file's ExecStart value into words (quotes honoured; `$VARS` kept as written). */
export function splitExecStart(line: string): string[] {
  const words: string[] = []
  const pattern = /"((?:\\.|[^"\\])*)"|'([^']*)'|(\S+)/g
  for (let m = pattern.exec(line); m; m = pattern.exec(line)) words.push(m[1] ?? m[2] ?? m[3]!)
  return words
}

const MANAGED_WITH_VALUE = new Set(['-H', '--host', '--tlscacert', '--tlscert', '--tlskey'])
const MANAGED_ALONE = /^(--tls|--tlsverify)(=.*)?$|^(--host|--tlscacert|--tlscert|--tlskey)=/

/**
 * The ExecStart for dockerd: the distribution's own command (so its socket activation and
 * containerd flags keep working) minus any listen or TLS flags, plus berth's TLS listener
 * and the engine options. Listen addresses go only on the command line, never in daemon.json.
 */
export function dockerdCommand(
  originalExecStart: string,
  options: EngineOptions,
  provider: string,
  port: number,
): string {
  const original = splitExecStart(originalExecStart.replace(/^[@\-:+!]+/, ''))
  const keptFromOriginal: string[] = []
  let socketActivated = false
  for (let i = 1; i < original.length; i++) {
    const word = original[i]!
    if (MANAGED_WITH_VALUE.has(word)) {
      if (original[i + 1] === 'fd://') socketActivated = true
      i++
      continue
    }
    if (word === '-H=fd://' || word === '--host=fd://') socketActivated = true
    if (MANAGED_ALONE.test(word) || word.startsWith('-H=')) continue
    keptFromOriginal.push(word)
  }
  const dockerd = original[0] ?? '/usr/bin/dockerd'
  const ours = [
    '-H',
    socketActivated ? 'fd://' : 'unix:///var/run/docker.sock',
    '-H',
    `tcp://0.0.0.0:${port}`,
    '--tlsverify',
    `--tlscacert=${REMOTE_CERT_DIR}/ca.pem`,
    `--tlscert=${REMOTE_CERT_DIR}/server.pem`,
    `--tlskey=${REMOTE_CERT_DIR}/server-key.pem`,
    `--label=provider=${provider}`,
    ...options.Labels.map((label) => `--label=${label}`),
    ...(options.StorageDriver ? [`--storage-driver=${options.StorageDriver}`] : []),
    ...options.InsecureRegistry.map((registry) => `--insecure-registry=${registry}`),
    ...options.RegistryMirror.map((mirror) => `--registry-mirror=${mirror}`),
    ...options.ArbitraryFlags.map((flag) => `--${flag}`),
  ]
  // Words kept from the distribution's unit stay as written ($DOCKER_OPTS must still expand).
  const requote = (word: string) => (/\s/.test(word) ? `"${word}"` : word)
  return [dockerd, ...keptFromOriginal.map(requote), ...ours.map(systemdQuote)].join(' ')
}

/** Quotes an Environment= assignment: systemd expands `%` specifiers there, but not `$`. */
function environmentQuote(entry: string): string {
  const escaped = entry.replace(/%/g, '%%')
  if (!/[\s"'\\]/.test(escaped)) return escaped
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
}

export function dropInUnit(execStart: string, env: string[]): string {
  return [
    '# Written by berth: dockerd listens with mutual TLS. Changes are overwritten by `berth provision`.',
    '[Service]',
    ...env.map((entry) => `Environment=${environmentQuote(entry)}`),
    'ExecStart=',
    `ExecStart=${execStart}`,
    '',
  ].join('\n')
}
