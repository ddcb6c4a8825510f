/**
 * The EC2 Query protocol's wire format: form-encoded requests whose keys flatten lists as
 * `Name.N` (1-based) and structures as `Name.Member`, and XML responses in the
 * 2016-11-15 namespace whose lists are `<item>` elements.
 */
import {randomUUID} from 'node:crypto'

export const EC2_NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/'

export type Params = {[key: string]: string | Params | Params[] | string[]}

/** `Filter.1.Name=a&Filter.1.Value.1=b` becomes {Filter: [{Name: 'a', Value: ['b']}]}. */
export function parseQuery(body: string): Params {
  const root: Params = {}
  for (const [key, value] of new URLSearchParams(body)) {
    const path = key.split('.')
    let node: Record<string, unknown> | unknown[] = root
    for (let i = 0; i < path.length; i++) {
      const segment = path[i]!
      const last = i === path.length - 1
      const slot: string | number = Array.isArray(node) ? Number(segment) - 1 : segment
      const holder = node as Record<string | number, unknown>
      if (last) {
        holder[slot] = value
      } else {
        const nextIsIndex = /^\d+$/.test(path[i + 1]!)
        holder[slot] ??= nextIsIndex ? [] : {}
        node = holder[slot] as Record<string, unknown> | unknown[]
      }
    }
  }
  return root
}

/** Reads a list the parser made (sparse or missing lists become []). */
export function listOf<T = Params>(value: unknown): T[] {
  return Array.isArray(value) ? (value.filter((v) => v !== undefined) as T[]) : []
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** Objects become elements, arrays become lists of <item>, undefined is left out. */
export function toXml(value: unknown): string {
  if (value === undefined || value === null) return ''
  if (Array.isArray(value)) return value.map((item) => `<item>${toXml(item)}</item>`).join('')
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `<${k}>${toXml(v)}</${k}>`)
      .join('')
  }
  return escape(String(value))
}

export function responseXml(action: string, body: Record<string, unknown>): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${EC2_NAMESPACE}">${toXml({requestId: randomUUID(), ...body})}</${action}Response>`
}

export function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response>${toXml({Errors: {Error: {Code: code, Message: message}}, RequestID: randomUUID()})}</Response>`
}

/** An API error the simulator answers with, as EC2 does: a code, a message and an HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message)
  }
}

/** EC2 filter values may hold `*` and `?` wildcards. */
export function matchesValue(pattern: string, value: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === value
  const regex = new RegExp(
    '^' +
      pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.') +
      '$',
  )
  return regex.test(value)
}

/**
 * Applies `Filter.N.Name / Filter.N.Value.M` to items: a filter matches when any of its values
 * matches any of the item's values for that name (`tag:KEY` reads tags), and all filters must match.
 */
export function applyFilters<T>(
  items: T[],
  params: Params,
  fields: (item: T, name: string) => (string | undefined)[],
): T[] {
  const filters = listOf(params.Filter).map((f) => ({
    name: str(f.Name) ?? '',
    values: listOf<string>(f.Value),
  }))
  return items.filter((item) =>
    filters.every((filter) => {
      const actual = fields(item, filter.name).filter((v): v is string => v !== undefined)
      return filter.values.some((pattern) => actual.some((value) => matchesValue(pattern, value)))
    }),
  )
}

/** MaxResults / NextToken paging, with the simulator's own cap on page size. */
export function page<T>(items: T[], params: Params, cap: number): {items: T[]; nextToken?: string} {
  const start = Number(str(params.NextToken) ?? 0)
  const size = Math.min(Number(str(params.MaxResults) ?? items.length) || items.length, cap)
  const end = start + Math.max(size, 1)
  return {items: items.slice(start, end), nextToken: end < items.length ? String(end) : undefined}
}
