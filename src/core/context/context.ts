import {execFile} from 'node:child_process'
import {join} from 'node:path'
import {homedir} from 'node:os'
import {engineUrl} from '../engine/engine.js'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import type {MachineRecord} from '../store/record.js'

/**
 * Docker contexts for machines, made by the real docker CLI (`docker context create/update/rm`)
 * so the context store's format is always the CLI's own. Argument arrays only; the values are
 * file paths and a URL, never key material.
 */

/** The docker CLI's config folder: DOCKER_CONFIG, else ~/.docker. */
export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || join(homedir(), '.docker')
}

/** One field of the CSV value `--docker` takes (encoding/csv): quoted when it holds a comma or a quote. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) || /^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value
}

/** The `--docker` value for a machine: its TLS endpoint and the client files in its folder. */
export function dockerEndpoint(record: MachineRecord): string {
  const dir = record.HostOptions.AuthOptions.StorePath
  return [
    `host=${engineUrl(record)}`,
    `ca=${join(dir, 'ca.pem')}`,
    `cert=${join(dir, 'cert.pem')}`,
    `key=${join(dir, 'key.pem')}`,
  ]
    .map(csvField)
    .join(',')
}

export const CONTEXT_DESCRIPTION_PREFIX = 'berth machine '

interface DockerResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs the docker CLI with its config folder but none of the DOCKER_* settings that point it at an engine. */
function docker(args: string[]): Promise<DockerResult> {
  const env = {...process.env}
  for (const key of ['DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_TLS'])
    delete env[key]
  env.DOCKER_CONFIG = dockerConfigDir()
  return new Promise((resolve, reject) => {
    execFile('docker', args, {env, timeout: 30_000}, (err, stdout, stderr) => {
      const code = (err as NodeJS.ErrnoException & {code?: unknown})?.code
      if (code === 'ENOENT') {
        reject(
          new BerthError(
            'the docker CLI is not on PATH',
            ExitCode.failure,
            'install the docker client to use contexts',
          ),
        )
        return
      }
      resolve({code: err ? (typeof code === 'number' ? code : 1) : 0, stdout, stderr})
    })
  })
}

export interface ContextInfo {
  Name: string
  Metadata?: {Description?: string}
  Endpoints?: {docker?: {Host?: string}}
}

export async function inspectContext(name: string): Promise<ContextInfo | undefined> {
  const result = await docker(['context', 'inspect', name])
  if (result.code !== 0) return undefined
  const parsed = JSON.parse(result.stdout) as ContextInfo[]
  return parsed[0]
}

export interface ContextOutcome {
  name: string
  host: string
  action: 'created' | 'updated'
}

/**
 * Creates or updates the docker context named after the machine. A context of that name that
 * berth did not make is left alone unless `force`.
 */
export async function ensureContext(record: MachineRecord, force = false): Promise<ContextOutcome> {
  const name = record.Name
  const existing = await inspectContext(name)
  if (existing && !madeByBerth(existing) && !force) {
    throw new BerthError(
      `a docker context named "${name}" exists and was not made by berth`,
      ExitCode.usage,
      `remove it with \`docker context rm ${name}\`, or pass --force to overwrite it`,
    )
  }
  const verb = existing ? 'update' : 'create'
  const result = await docker([
    'context',
    verb,
    name,
    '--description',
    CONTEXT_DESCRIPTION_PREFIX + name,
    '--docker',
    dockerEndpoint(record),
  ])
  if (result.code !== 0)
    throw new BerthError(`docker context ${verb} ${name} failed: ${oneLine(result.stderr || result.stdout)}`)
  return {name, host: engineUrl(record), action: existing ? 'updated' : 'created'}
}

/** berth marks the contexts it makes with their description; one the user replaced is theirs. */
function madeByBerth(context: ContextInfo): boolean {
  return context.Metadata?.Description === CONTEXT_DESCRIPTION_PREFIX + context.Name
}

/** Removes a context berth made; one already gone, or replaced by one berth did not make, is left alone. */
export async function removeContext(name: string): Promise<void> {
  const existing = await inspectContext(name)
  if (!existing || !madeByBerth(existing)) return
  const result = await docker(['context', 'rm', '--force', name])
  if (result.code !== 0)
    throw new BerthError(`docker context rm ${name} failed: ${oneLine(result.stderr || result.stdout)}`)
}

/** Refuses, before anything is made, a context name taken by a context berth did not make. */
export async function checkContextFree(name: string): Promise<void> {
  const existing = await inspectContext(name)
  if (existing && !madeByBerth(existing)) {
    throw new BerthError(
      `a docker context named "${name}" exists and was not made by berth`,
      ExitCode.usage,
      `remove it with \`docker context rm ${name}\` or create without --context`,
    )
  }
}
