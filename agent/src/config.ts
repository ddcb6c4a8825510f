/** The agent's settings, from BERTH_AGENT_* variables; secrets come from files, never from the environment. */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {DEFAULT_IGNORE_FS} from './disk.js'
import type {LabelFilter} from './labels.js'
import {DEFAULT_MAX_LINE_BYTES} from './logs.js'
import {redactUrl} from './url.js'
import {defaultWriterOptions, type InfluxTarget, type WriterOptions} from './writer.js'

export interface AgentConfig {
  influx: InfluxTarget
  writer: WriterOptions
  /** The `host` tag; empty: the engine's name. */
  host: string
  intervalMs: number
  stateDir: string
  spoolMaxBytes: number
  dockerSocket: string
  cgroupRoot: string
  procRoot: string
  /** The host's `/` (read-only bind) whose mounts the `disk` measurement reports. */
  hostRoot: string
  /** Filesystem types left out of `disk` (Telegraf's ignore_fs). */
  diskIgnoreFs: string[]
  /** A unix socket path, or host:port on loopback. */
  health: string
  logs: boolean
  /** The longest log line written whole; a longer one is cut to this many bytes and marked truncated. */
  maxLineBytes: number
  /** Which container labels become tags (BERTH_AGENT_LABEL_INCLUDE / _EXCLUDE: comma-separated globs). */
  labels: LabelFilter
}

export class ConfigError extends Error {}

function secret(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const path = env[name]
  if (!path) return undefined
  try {
    return readFileSync(path, 'utf8').trim()
  } catch (err) {
    throw new ConfigError(
      `${name}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    )
  }
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0)
    throw new ConfigError(`${name} must be a positive number, not "${raw}"`)
  return value
}

const globs = (raw: string | undefined) =>
  (raw ?? '')
    .split(',')
    .map((g) => g.trim())
    .filter(Boolean)

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const url = env.BERTH_AGENT_INFLUX_URL
  if (!url) throw new ConfigError('BERTH_AGENT_INFLUX_URL is not set')
  try {
    const parsed = new URL(url)
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error()
  } catch {
    throw new ConfigError(`BERTH_AGENT_INFLUX_URL is not an http(s) URL: ${redactUrl(url)}`)
  }
  const bucket = env.BERTH_AGENT_BUCKET
  if (!bucket && !env.BERTH_AGENT_DATABASE)
    throw new ConfigError(
      'set BERTH_AGENT_DATABASE (InfluxDB 1.x) or BERTH_AGENT_BUCKET and BERTH_AGENT_ORG (v2 API)',
    )
  // It used to turn off TLS verification, undocumented: refused rather than ignored, so a setup that
  // relied on it learns why its https writes now fail, and how to trust a private CA instead.
  if (env.BERTH_AGENT_INSECURE !== undefined)
    throw new ConfigError(
      'BERTH_AGENT_INSECURE is not supported (it turned off TLS verification): trust a private CA with `berth agent install --influx-ca-file`',
    )
  const caFile = env.BERTH_AGENT_CA_FILE
  const stateDir = env.BERTH_AGENT_STATE_DIR ?? '/var/lib/berth-agent'
  return {
    influx: {
      url,
      database: env.BERTH_AGENT_DATABASE,
      retentionPolicy: env.BERTH_AGENT_RETENTION_POLICY,
      username: env.BERTH_AGENT_USERNAME,
      password: secret(env, 'BERTH_AGENT_PASSWORD_FILE'),
      org: env.BERTH_AGENT_ORG,
      bucket,
      token: secret(env, 'BERTH_AGENT_TOKEN_FILE'),
      ca: caFile ? readFileSync(caFile, 'utf8') : undefined,
    },
    writer: {
      batchSize: positive(env, 'BERTH_AGENT_BATCH_SIZE', 5000),
      flushMs: positive(env, 'BERTH_AGENT_FLUSH_MS', 1000),
      timeoutMs: positive(env, 'BERTH_AGENT_TIMEOUT_MS', 10_000),
      minBackoffMs: positive(env, 'BERTH_AGENT_MIN_BACKOFF_MS', 1000),
      maxBackoffMs: positive(env, 'BERTH_AGENT_MAX_BACKOFF_MS', 30_000),
      highWaterBytes: defaultWriterOptions.highWaterBytes,
      lowWaterBytes: defaultWriterOptions.lowWaterBytes,
    },
    host: env.BERTH_AGENT_HOST ?? '',
    intervalMs: positive(env, 'BERTH_AGENT_INTERVAL', 10) * 1000,
    stateDir,
    spoolMaxBytes: positive(env, 'BERTH_AGENT_SPOOL_MAX_MB', 256) * 1024 * 1024,
    dockerSocket: env.BERTH_AGENT_DOCKER_SOCKET ?? '/var/run/docker.sock',
    cgroupRoot: env.BERTH_AGENT_CGROUP_ROOT ?? '/host/sys/fs/cgroup',
    procRoot: env.BERTH_AGENT_PROC_ROOT ?? '/host/proc',
    hostRoot: env.BERTH_AGENT_HOST_ROOT ?? '/host/root',
    diskIgnoreFs:
      env.BERTH_AGENT_DISK_IGNORE_FS === undefined
        ? DEFAULT_IGNORE_FS
        : env.BERTH_AGENT_DISK_IGNORE_FS.split(',')
            .map((s) => s.trim())
            .filter(Boolean),
    health: env.BERTH_AGENT_HEALTH ?? join(stateDir, 'health.sock'),
    logs: env.BERTH_AGENT_LOGS !== '0',
    maxLineBytes: Math.max(
      1024,
      Math.floor(positive(env, 'BERTH_AGENT_MAX_LINE_BYTES', DEFAULT_MAX_LINE_BYTES)),
    ),
    labels: {include: globs(env.BERTH_AGENT_LABEL_INCLUDE), exclude: globs(env.BERTH_AGENT_LABEL_EXCLUDE)},
  }
}
