import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {renderTable} from '../cli/table.js'
import {matchesFilters, parseFilters} from '../core/machine/filter.js'
import {machineStatus, MachineStatus} from '../core/ops/status.js'
import {compileTemplate, expandLsEscapes} from '../core/template.js'
import {expiryWarning} from '../core/certs/expiry.js'
import {tabwrite} from '../core/tabwriter.js'

/** Checks run at once; each is bounded by --timeout, so `ls` takes about one timeout at worst. */
const PARALLEL_CHECKS = 64

async function mapBounded<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await work(items[index]!)
    }
  }
  await Promise.all(Array.from({length: Math.min(limit, items.length)}, worker))
  return results
}

/** commands/ls.go: cmdLs writes table formats through tabwriter.NewWriter(os.Stdout, 5, 1, 3, ' ', 0). */
export function lsTable(lines: string[]): string {
  return tabwrite(lines.map((line) => line + '\n').join(''), {
    minwidth: 5,
    tabwidth: 1,
    padding: 3,
    padchar: ' ',
  })
}

/** The field names docker-machine's `ls --format` templates use. */
function templateFields(s: MachineStatus) {
  return {
    Name: s.name,
    Active: s.active ? '*' : '-',
    ActiveHost: s.active,
    DriverName: s.driver,
    State: s.state,
    URL: s.url,
    Swarm: s.swarm ?? '',
    DockerVersion: s.dockerVersion,
    Error: s.error,
  }
}

export default class Ls extends BaseCommand<typeof Ls> {
  static override summary = 'List machines with their state, checked in parallel.'
  static override flags = {
    quiet: Flags.boolean({char: 'q', summary: 'Print names only.'}),
    filter: Flags.string({
      summary: 'driver=, state=, name= (regex) or label= (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
    }),
    timeout: Flags.integer({
      char: 't',
      summary: 'Seconds allowed for each machine check.',
      default: 10,
      min: 1,
    }),
    format: Flags.string({
      char: 'f',
      summary: 'Go template per machine, e.g. "{{.Name}} {{.URL}}"; prefix "table " for headers.',
    }),
    json: Flags.boolean({summary: 'Print as JSON.'}),
  }

  async run(): Promise<void> {
    const {flags} = this
    const filters = parseFilters(flags.filter ?? [])
    // Name filters need no check of the machine: apply them before any I/O.
    const nameFilters = filters.filter((f) => f.key === 'name')
    const names = (await this.store.names()).filter(
      (name) => nameFilters.length === 0 || nameFilters.some((f) => new RegExp(f.value).test(name)),
    )
    const needsCheck = !flags.quiet || filters.length > 0
    const statuses = needsCheck
      ? await mapBounded(names, PARALLEL_CHECKS, (name) =>
          machineStatus(this.store, name, flags.timeout * 1000, process.env.DOCKER_HOST, this.programName),
        )
      : names.map((name) => ({name}) as MachineStatus)
    const shown = statuses.filter((s) => filters.length === 0 || matchesFilters(s, filters))
    // On stderr, so stdout stays docker-machine's bytes and clean JSON.
    for (const s of shown)
      if (s.expiringCerts?.length) this.note(expiryWarning(s.name, s.expiringCerts, this.programName))

    if (flags.json) return this.printJson(shown)
    if (flags.quiet) return shown.forEach((s) => this.log(s.name))
    if (flags.format) {
      const table = flags.format.startsWith('table ')
      const template = expandLsEscapes(table ? flags.format.slice('table '.length) : flags.format)
      const render = compileTemplate(template) // parsed once: a syntax error fails before any line
      const lines = shown.map((s) => render(templateFields(s)))
      if (!table) return lines.forEach((line) => this.log(line))
      const header = template.replace(/{{\s*\.(\w+)\s*}}/g, (_m, field: string) =>
        field.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase(),
      )
      process.stdout.write(lsTable([header, ...lines]))
      return
    }
    const header = ['NAME', 'ACTIVE', 'DRIVER', 'STATE', 'URL', 'SWARM', 'DOCKER', 'ERRORS']
    const rows = shown.map((s) => [
      s.name,
      s.active ? '*' : '-',
      s.driver,
      s.state,
      s.url,
      s.swarm ?? '',
      s.dockerVersion || 'Unknown',
      s.error,
    ])
    if (this.compat) process.stdout.write(lsTable([header, ...rows].map((cells) => cells.join('\t'))))
    else this.log(renderTable(header, rows))
  }
}
