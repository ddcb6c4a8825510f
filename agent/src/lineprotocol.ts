/**
 * InfluxDB line protocol: one point per line, with the escaping each part needs, and the rules that
 * say which points can be written at all. A point is either written so that every name, tag and
 * field reads back byte-identical, or not written (`formatPoint` answers undefined and the writer
 * counts it): nothing is silently altered.
 */
import type {Fields, Measurement, Tags} from './schema.js'

export type FieldValue = number | bigint | string | boolean | {float: number}

export interface Point {
  measurement: string
  tags: Record<string, string | undefined>
  /** Numbers are written as integers when they are whole, floats otherwise; `{float: n}` forces a float. */
  fields: Record<string, FieldValue | undefined>
  /** Nanoseconds since the epoch. */
  time: bigint
  /**
   * Set on the points of a series re-sent with new times and the same fields object (an idle
   * container's counters): its line is formatted once per fields object. Such a point's
   * measurement, tags and fields are never changed.
   */
  fixed?: boolean
  /** `formatSeries(measurement, tags)`, kept by a caller that sends the same series every cycle. */
  series?: string
  /**
   * More fields, in an object the caller keeps across cycles and never changes (what a container
   * record or an unchanged sample says): formatted once per object, written before `fields`.
   */
  constantFields?: Record<string, FieldValue | undefined>
}

/** A point's fields, its constant ones included. */
export const allFields = (point: Point): Point['fields'] =>
  point.constantFields ? {...point.constantFields, ...point.fields} : point.fields

/** InfluxDB 1.x refuses a series key (measurement and tags, escaped) longer than this. */
export const MAX_SERIES_KEY_BYTES = 65_535
const INT64_MAX = 2n ** 63n - 1n
const INT64_MIN = -(2n ** 63n)

/**
 * A point of one of the schema's measurements: its tag and field names are checked against the
 * schema's (container labels and memory.stat keys, spread in, come on top).
 */
export function point<M extends Measurement>(
  measurement: M,
  tags: Tags<M>,
  fields: Fields<M, FieldValue>,
  time: bigint,
  series?: string,
  constantFields?: Fields<M, FieldValue>,
): Point {
  return {measurement: measurement.name, tags, fields, time, series, constantFields}
}

/**
 * Whether a name or tag value survives line protocol. InfluxDB has no escape for a newline or for
 * a backslash: one before a separator (`,` `=` space) or at the end would escape the separator
 * or the space after the value. A lone UTF-16 surrogate has no UTF-8 form. (`time` is refused as
 * a tag or field key: see formatPoint.)
 */
export function writableName(s: string): boolean {
  return s !== '' && !UNWRITABLE.test(s) && wellFormed(s)
}

const UNWRITABLE = /\n|\\([,= ]|$)/
/** InfluxDB 1.x also reads `\"` and `\=` in a measurement as `"` and `=` (a tag or key keeps both bytes). */
const UNWRITABLE_IN_MEASUREMENT = /\\["=]/

/** With the u flag a surrogate pair is one code point, so only a lone surrogate matches. */
const LONE_SURROGATE = /\p{Cs}/u
const wellFormed = (s: string) => !LONE_SURROGATE.test(s)

function escaper(specials: string): (s: string) => string {
  const special = new RegExp(`[${specials}]`, 'g')
  // Almost every name and tag needs nothing: one test instead of a replace (and its garbage).
  const needsWork = new RegExp(`[${specials}]`)
  return (s) => (needsWork.test(s) ? s.replace(special, (c) => '\\' + c) : s)
}
const escapeMeasurement = escaper(', ')
const escapeKey = escaper(',= ')
/** A string field escapes `"` and `\`; a newline is written as it is (InfluxDB reads it back inside the quotes). */
const escapeString = (s: string) => (/["\\]/.test(s) ? s.replace(/["\\]/g, (c) => '\\' + c) : s)

/** A field's text, or undefined when InfluxDB could not store it as it is. */
function formatField(value: FieldValue): string | undefined {
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false'
    case 'bigint':
      return value > INT64_MAX || value < INT64_MIN ? undefined : `${value}i`
    case 'string':
      return wellFormed(value) ? `"${escapeString(value)}"` : undefined
    case 'number':
      if (!Number.isFinite(value)) return undefined
      if (!Number.isInteger(value)) return String(value)
      // Whole numbers past 2^53 print in exponent form, which is no integer to InfluxDB.
      return Number.isSafeInteger(value) ? `${value}i` : formatField(BigInt(value))
    default:
      if (!Number.isFinite(value.float)) return undefined
      return Number.isInteger(value.float) && Math.abs(value.float) < 1e21
        ? `${value.float}.0`
        : String(value.float)
  }
}

/**
 * One line, or undefined when the point cannot be written as it is: no field left, a name or tag
 * that line protocol cannot carry (see `writableName`), a tag and a field of one name (InfluxDB 3
 * refuses that), or a series key too long. Tags are sorted (InfluxDB's preferred order); a tag
 * with an empty value is left out, since line protocol has no empty tag value. Non-finite numbers
 * are left out too: they are not measurements.
 */
export function formatPoint(point: Point): string | undefined {
  return untimedLine(point)?.concat(timeText(point.time))
}

/**
 * `formatPoint` up to the time, with the space before it (the writer appends the two without
 * joining them: a joined string is one more copy of every line).
 */
export function untimedLine(point: Point): string | undefined {
  if (!point.fixed) return formatUntimed(point)
  let untimed = formattedFixed.get(point.fields)
  if (untimed === undefined) formattedFixed.set(point.fields, (untimed = formatUntimed(point) ?? null))
  return untimed ?? undefined
}

/** A stats cycle writes thousands of points of one time: its digits are made once. */
let lastTime = -1n
let lastTimeText = ''
export function timeText(time: bigint): string {
  if (time !== lastTime) {
    lastTime = time
    lastTimeText = String(time)
  }
  return lastTimeText
}

const formattedFixed = new WeakMap<Point['fields'], string | null>()
const formattedConstant = new WeakMap<Point['fields'], string | null>()

/** The line up to its time, with the space before it. */
function formatUntimed(point: Point): string | undefined {
  const series = point.series ?? formatSeries(point.measurement, point.tags)
  if (series === undefined) return undefined
  let constant = ''
  if (point.constantFields) {
    let text = formattedConstant.get(point.constantFields)
    if (text === undefined)
      formattedConstant.set(point.constantFields, (text = fieldsText(point.constantFields)))
    if (text === null || sharesTagName(point.constantFields, point.tags)) return undefined
    constant = text
  }
  if (sharesTagName(point.fields, point.tags)) return undefined
  const fields = fieldsText(point.fields)
  if (fields === null) return undefined
  if (constant === '' && fields === '') return undefined
  return `${series} ${constant}${constant && fields ? ',' : ''}${fields} `
}

/** The fields as line protocol (undefined and non-finite values left out), or null when one cannot be written. */
function fieldsText(fields: Point['fields']): string | null {
  let text = ''
  for (const key in fields) {
    const value = fields[key]
    if (value === undefined || (typeof value === 'number' && !Number.isFinite(value))) continue
    const formatted = formatField(value)
    const name = fieldKey(key)
    if (formatted === undefined || name === null) return null
    text += `${text ? ',' : ''}${name}=${formatted}`
  }
  return text
}

/** A tag and a field of one name: InfluxDB 3 refuses the point. */
function sharesTagName(fields: Point['fields'], tags: Point['tags']): boolean {
  for (const key in fields) {
    if (fields[key] === undefined) continue
    const tag = tags[key]
    if (tag !== undefined && tag !== '') return true
  }
  return false
}

/**
 * A field key escaped, or null when it cannot be one. Field keys come from a small set (the
 * schema's, memory.stat's), so the answers are kept, up to a bound that hostile keys cannot pass.
 */
function fieldKey(key: string): string | null {
  let name = fieldKeys.get(key)
  if (name !== undefined) return name
  // A quote in a field key opens a string to InfluxDB's scanner: the fields after it are lost.
  name = !writableName(key) || key === 'time' || key.includes('"') ? null : escapeKey(key)
  if (fieldKeys.size < MAX_KEPT_FIELD_KEYS) fieldKeys.set(key, name)
  return name
}

const fieldKeys = new Map<string, string | null>()
const MAX_KEPT_FIELD_KEYS = 1024

/** The measurement and tags of a line, or undefined when line protocol cannot carry them as they are. */
export function formatSeries(measurement: string, tags: Point['tags']): string | undefined {
  // '#' starts a comment line; InfluxDB skips a tab or NUL that starts one.
  if (
    !writableName(measurement) ||
    /^[#\t\0]/.test(measurement) ||
    UNWRITABLE_IN_MEASUREMENT.test(measurement)
  )
    return undefined
  let line = escapeMeasurement(measurement)
  for (const key of Object.keys(tags).sort()) {
    const value = tags[key]
    if (value === undefined || value === '') continue
    if (!writableName(key) || key === 'time' || !writableName(value)) return undefined
    line += `,${escapeKey(key)}=${escapeKey(value)}`
  }
  return Buffer.byteLength(line) > MAX_SERIES_KEY_BYTES ? undefined : line
}

/**
 * Splits a body of lines made by `formatPoint` back into lines. A newline ends a line except
 * inside a string field, where it is part of the value.
 */
export function splitLines(body: string): string[] {
  const lines: string[] = []
  let start = 0
  let section = 0 // 0: measurement and tags, 1: fields, 2: timestamp
  let quoted = false
  let valueStart = -1 // where the current field's value starts: a quote there opens a string
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i)
    if (c === 0x5c /* \ */) {
      i++ // escapes the next character, in names and inside strings alike
    } else if (quoted) {
      if (c === 0x22 /* " */) quoted = false
    } else if (c === 0x22 && i === valueStart) {
      quoted = true
    } else if (c === 0x3d /* = */ && section === 1) {
      valueStart = i + 1
    } else if (c === 0x20 /* space */) {
      section++
    } else if (c === 0x0a /* \n */) {
      lines.push(body.slice(start, i))
      start = i + 1
      section = 0
    }
  }
  if (start < body.length) lines.push(body.slice(start))
  return lines
}

/** The current time in nanoseconds. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n
}
