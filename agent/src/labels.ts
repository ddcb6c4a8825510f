/**
 * Container labels as tags. Labels are set by whoever starts a container, so each one is checked:
 * it becomes a tag only when it reads back from InfluxDB exactly as it was and cannot take the
 * place of a tag or field the agent writes; otherwise it is dropped and counted. Include and
 * exclude lists of globs choose labels as Telegraf's docker_label_include/docker_label_exclude do.
 */
import {writableName} from './lineprotocol.js'

/** Tags the agent writes on container points (SCHEMA.md): a label of one of these names would replace them. */
const AGENT_TAGS = [
  'host',
  'engine_host',
  'server_version',
  'container_name',
  'container_image',
  'container_version',
  'container_status',
  'cpu',
  'network',
  'device',
  'stream',
]
/** Fields of the container measurements: InfluxDB 3 refuses a tag and a field of one name. */
const AGENT_FIELDS = [
  'container_id',
  'usage_total',
  'usage_in_usermode',
  'usage_in_kernelmode',
  'usage_system',
  'throttling_periods',
  'throttling_throttled_periods',
  'throttling_throttled_time',
  'usage_percent',
  'usage',
  'limit',
  'max_usage',
  'fail_count',
  'rx_bytes',
  'rx_packets',
  'rx_errors',
  'rx_dropped',
  'tx_bytes',
  'tx_packets',
  'tx_errors',
  'tx_dropped',
  'oomkilled',
  'pid',
  'exitcode',
  'started_at',
  'finished_at',
  'uptime_ns',
  'restart_count',
]
const RESERVED = new Set([...AGENT_TAGS, ...AGENT_FIELDS, 'time'])
/** A label longer than this (key and value) would make every series key of its container long; it is dropped. */
export const MAX_LABEL_BYTES = 4096

export interface LabelFilter {
  /** Globs (`*`, `?`); empty: every label. */
  include: string[]
  exclude: string[]
}

export const ALL_LABELS: LabelFilter = {include: [], exclude: []}

function globRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replaceAll('*', '.*')
      .replaceAll('?', '.')}$`,
    's',
  )
}

/** A filter's globs compiled once: `wanted(key)` says whether a label is asked for. */
export function labelMatcher(filter: LabelFilter): (key: string) => boolean {
  const include = filter.include.map(globRegExp)
  const exclude = filter.exclude.map(globRegExp)
  return (key) =>
    (include.length === 0 || include.some((r) => r.test(key))) && !exclude.some((r) => r.test(key))
}

/** Why a label cannot be a tag, or undefined when it can. */
export function labelProblem(key: string, value: string): string | undefined {
  if (RESERVED.has(key) || key.startsWith('_') || key.startsWith('io_service')) return 'reserved name' // io_service*: blkio fields
  if (!writableName(key) || !writableName(value)) return 'not representable in line protocol'
  if (Buffer.byteLength(key) + Buffer.byteLength(value) > MAX_LABEL_BYTES) return 'too long'
  return undefined
}

/** The tags a container's labels give, and how many wanted labels could not be tags. */
export function labelTags(
  labels: Record<string, string> | null | undefined,
  wanted: (key: string) => boolean,
): {tags: Record<string, string>; dropped: number} {
  const tags: Record<string, string> = {}
  let dropped = 0
  for (const [key, value] of Object.entries(labels ?? {})) {
    if (!wanted(key)) continue
    if (typeof value !== 'string' || labelProblem(key, value) !== undefined) dropped++
    else tags[key] = value
  }
  return {tags, dropped}
}
