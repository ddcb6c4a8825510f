import {BerthError, ExitCode} from './errors.js'

/**
 * The subset of Go templates that docker-machine users script with: `{{.A.B}}`, `{{json .A}}`,
 * `{{.}}`, literal text, and `\t`/`\n` escapes as the shell passes them.
 */
export function renderTemplate(template: string, data: unknown): string {
  const text = template.replace(/\\t/g, '\t').replace(/\\n/g, '\n')
  return text.replace(/{{-?\s*(.*?)\s*-?}}/g, (_all, action: string) => {
    const json = /^json\s+(\S+)$/.exec(action)
    const path = json ? json[1]! : action
    if (!/^\.([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?$/.test(path)) {
      throw new BerthError(`template: unsupported action {{${action}}} (supported: {{.Field.Path}}, {{json .Field}})`, ExitCode.usage)
    }
    let value: unknown = data
    for (const key of path.split('.').filter(Boolean)) {
      if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) {
        throw new BerthError(`template: no field "${key}" in ${path}`, ExitCode.usage)
      }
      value = (value as Record<string, unknown>)[key]
    }
    if (json) return JSON.stringify(value)
    if (value === null || value === undefined) return '<no value>'
    if (Array.isArray(value)) return `[${value.join(' ')}]`
    if (typeof value === 'object') return `map[${Object.entries(value as object).map(([k, v]) => `${k}:${v}`).join(' ')}]`
    return String(value)
  })
}
