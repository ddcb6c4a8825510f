/**
 * Container labels as tags. Labels are set by whoever starts a container, so each one is checked:
 * it becomes a tag only when it reads back from InfluxDB exactly as it was and cannot take the
 * place of a tag or field the agent writes; otherwise it is dropped and counted. Include and
 * exclude lists of globs choose labels as Telegraf's docker_label_include/docker_label_exclude do.
 */
import {writableName} from './lineprotocol.js'
import {DOCKER_LOG, MEASUREMENTS} from './schema.js'

/**
 * The measurements of a container's points (SCHEMA.md). A label named like one of their tags would
 * replace it, and InfluxDB 3 refuses a tag and a field of one name, so neither may be a label's key.
 */
const CONTAINER_MEASUREMENTS = MEASUREMENTS.filter(
  (m) => m.name.startsWith('docker_container_') || m === DOCKER_LOG,
)
const RESERVED = new Set([
  'time',
  ...CONTAINER_MEASUREMENTS.flatMap((m) => [...Object.keys(m.tags), ...Object.keys(m.fields)]),
])
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
  if (RESERVED.has(key) || key.startsWith('_')) return 'reserved name'
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
