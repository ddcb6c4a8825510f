import {Args, Flags} from '@oclif/core'
import {resolve} from 'node:path'
import {BaseCommand} from '../cli/base.js'
import {BerthError, ExitCode, oneLine} from '../core/errors.js'
import {importBundle} from '../core/migrate/bundle.js'
import {
  applyImport,
  defaultDockerMachineStore,
  dockerMachineNames,
  ImportPlan,
  planImport,
} from '../core/migrate/docker-machine.js'

export default class Import extends BaseCommand<typeof Import> {
  static override summary =
    'Adopt machines from a docker-machine store, or restore a machine from a bundle made by `export`.'
  static override description =
    "With --from, each machine folder (record, SSH key, certificates) is copied into berth's store with its paths rewritten; the " +
    'docker-machine store is only read. Machines keep the certificates docker-machine made, so their engines keep verifying. ' +
    "Only generic, container and amazonec2 machines are imported (berth cannot adopt other drivers' records): named ones are refused, " +
    'and when no names are given they are skipped with a warning. Nothing is imported when a named machine cannot be. ' +
    "AWS keys in an amazonec2 record are never carried over (berth uses the SDK's default chain); berth then owns the instance and " +
    "the key pair docker-machine made for it (rm deletes both, as docker-machine's rm did), never a security group."
  static override examples = [
    '<%= config.bin %> import --from ~/.docker/machine',
    '<%= config.bin %> import --from ~/.docker/machine web-1 web-2',
    '<%= config.bin %> import --bundle dev.berth.tgz',
  ]
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s) to import (default: all)'})}
  static override flags = {
    from: Flags.string({
      summary: 'docker-machine store to import from (default $MACHINE_STORAGE_PATH or ~/.docker/machine).',
      exclusive: ['bundle'],
    }),
    bundle: Flags.string({summary: 'Bundle file written by `berth export`.', exclusive: ['from']}),
    json: Flags.boolean({summary: 'Print the imported machines as JSON.'}),
  }

  async run(): Promise<void> {
    const imported: {name: string; driver: string; from: string; path: string}[] = []
    if (this.flags.bundle) {
      if (this.words.length > 0)
        throw new BerthError('--bundle takes no machine names (a bundle holds one machine)', ExitCode.usage)
      const record = await importBundle(this.store, this.flags.bundle)
      imported.push({
        name: record.Name,
        driver: record.DriverName,
        from: resolve(this.flags.bundle),
        path: this.store.machineDir(record.Name),
      })
    } else {
      const dir = resolve(this.flags.from ?? defaultDockerMachineStore())
      const named = [...new Set(this.words)]
      const plans: ImportPlan[] = []
      if (named.length > 0) {
        for (const name of named) {
          if (await this.store.exists(name))
            throw new BerthError(`machine "${name}" already exists in ${this.store.root}`, ExitCode.usage)
          plans.push(await planImport(dir, name))
        }
      } else {
        for (const name of await dockerMachineNames(dir)) {
          if (await this.store.exists(name)) {
            this.warnLine(`Skipping ${name}: a machine of that name is already in ${this.store.root}`)
            continue
          }
          try {
            plans.push(await planImport(dir, name))
          } catch (err) {
            this.warnLine(`Skipping ${name}: ${oneLine(err)}`)
          }
        }
        if (plans.length === 0) throw new BerthError(`nothing to import from ${dir}`, ExitCode.failure)
      }
      for (const plan of plans) {
        for (const line of plan.notes) this.note(line)
        const path = await applyImport(this.store, plan)
        imported.push({name: plan.name, driver: plan.driver, from: plan.source, path})
        if (plan.driver === 'container') {
          this.warnLine(
            `${plan.name} is a container machine: its container is now managed from both stores; \`rm\` in either removes it`,
          )
        }
      }
    }
    if (this.flags.json) this.printJson(imported)
    else for (const m of imported) this.note(`Imported ${m.name} (${m.driver}) from ${m.from}`)
  }

  private warnLine(message: string): void {
    this.note(`Warning: ${message}`)
  }
}
