/** InfluxDB line protocol: one point per line, with the escaping each part needs. */
import type {Fields, Measurement, Tags} from './schema.js'

export type FieldValue = number | bigint | string | boolean | {float: number}

export interface Point {
  measurement: string
  tags: Record<string, string | undefined>
  /** Numbers are written as integers when they are whole, floats otherwise; `{float: n}` forces a float. */
  fields: Record<string, FieldValue | undefined>
  /** Nanoseconds since the epoch. */
  time: bigint
}

/**
 * A point of one of the schema's measurements: its tag and field names are checked against the
 * schema's (container labels and memory.stat keys, spread in, come on top).
 */
export function point<M extends Measurement>(measurement: M, tags: Tags<M>, fields: Fields<M, FieldValue>, time: bigint): Point {
  return {measurement: measurement.name, tags, fields, time}
}

/**
 * InfluxDB reads any backslash before a separator as its escape, so a value cannot end in one:
 * trailing backslashes are dropped (as Telegraf does). Newlines cannot be escaped outside strings
 * and become spaces.
 */
function escaper(specials: string): (s: string) => string {
  const special = new RegExp(`[${specials}]`, 'g')
  // Almost every name and tag needs nothing: one test instead of three replaces (and their garbage).
  const needsWork = new RegExp(`[\\r\\n\\t\\\\${specials}]`)
  return (s) => (needsWork.test(s) ? s.replace(/[\r\n\t]/g, ' ').replace(/\\+$/, '').replace(special, (c) => '\\' + c) : s)
}
const escapeMeasurement = escaper(', ')
const escapeKey = escaper(',= ')
/** A string field escapes `"` and `\`; newlines are written as `\n` so every point stays on one line. */
const escapeString = (s: string) => s.replace(/["\\]/g, (c) => '\\' + c).replace(/\r?\n/g, '\\n')

function formatField(value: FieldValue): string {
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false'
    case 'bigint':
      return `${value}i`
    case 'string':
      return `"${escapeString(value)}"`
    case 'number':
      if (!Number.isFinite(value)) throw new RangeError('a field cannot be NaN or infinite')
      return Number.isInteger(value) ? `${value}i` : String(value)
    default:
      if (!Number.isFinite(value.float)) throw new RangeError('a field cannot be NaN or infinite')
      return Number.isInteger(value.float) ? `${value.float}.0` : String(value.float)
  }
}

/**
 * One line, or undefined when nothing valid is left (no fields). Tags are sorted (InfluxDB's
 * preferred order); empty tag values are left out since line protocol cannot carry them.
 */
export function formatPoint(point: Point): string | undefined {
  let line = escapeMeasurement(point.measurement)
  for (const key of Object.keys(point.tags).sort()) {
    const value = point.tags[key]
    if (value === undefined || value === '' || key === '') continue
    line += `,${escapeKey(key)}=${escapeKey(value)}`
  }
  const fields: string[] = []
  for (const [key, value] of Object.entries(point.fields)) {
    if (value === undefined || key === '') continue
    if (typeof value === 'number' && !Number.isFinite(value)) continue
    fields.push(`${escapeKey(key)}=${formatField(value)}`)
  }
  if (fields.length === 0) return undefined
  return `${line} ${fields.join(',')} ${point.time}`
}

/** The current time in nanoseconds. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n
}
