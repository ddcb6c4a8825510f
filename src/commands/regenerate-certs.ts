import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {confirm} from '../cli/confirm.js'
import {runWithProgress, throwIfFailed} from '../cli/progress.js'
import {BerthError, ExitCode, oneLine} from '../core/errors.js'
import {regenerateCerts, renewClientCert} from '../core/ops/renew.js'
import {validateMachineName} from '../core/names.js'

export default class RegenerateCerts extends BaseCommand<typeof RegenerateCerts> {
  static override summary =
    "Reissue machines' server certificates and restart their engines, keeping containers running."
  static override description =
    "With --client-certs the store's client certificate is reissued too (the CA stays). " +
    'dockerd does not reload TLS files on SIGHUP, so it restarts; live-restore is switched on for that restart ' +
    'so containers keep running (not possible on swarm members).'
  static override strict = false
  static override args = {name: Args.string({description: 'machine name(s)', required: true})}
  static override flags = {
    force: Flags.boolean({char: 'f', summary: 'Do not ask for confirmation.'}),
    'client-certs': Flags.boolean({summary: 'Also reissue the client certificate (signed by the same CA).'}),
    quiet: Flags.boolean({char: 'q', summary: 'No progress output.'}),
    json: Flags.boolean({summary: 'Print the outcome per machine as JSON.'}),
  }

  async run(): Promise<void> {
    const names = [...new Set(this.words.length > 0 ? this.words : [this.args.name])]
    for (const name of names) {
      validateMachineName(name)
      await this.store.load(name)
    }
    if (!this.flags.force) {
      // docker-machine's words (commands/regeneratecerts.go); a no is not a failure there.
      const question = this.compat
        ? 'Regenerate TLS machine certs?  Warning: this is irreversible. (y/n): '
        : `Regenerate TLS certificates of ${names.join(', ')} and restart their engines? (y/n): `
      if (!(await confirm(question, this.compat ? process.stdout : process.stderr))) {
        if (!this.compat) throw new BerthError('aborted', ExitCode.failure)
        return
      }
    }
    if (this.flags['client-certs']) await renewClientCert(this.store)
    const outcomes = await runWithProgress(
      names.map((name) => ({
        title: `Regenerating certificates of ${name}`,
        run: (reporter) => regenerateCerts(this.store, name, this.flags['client-certs'], reporter),
      })),
      {quiet: this.flags.quiet || this.flags.json},
    )
    if (this.flags.json) {
      this.printJson(
        outcomes.map((o, i) =>
          o.ok ? {ok: true, ...o.value} : {name: names[i], ok: false, error: oneLine(o.error)},
        ),
      )
    } else if (!this.flags.quiet) {
      for (const o of outcomes) {
        if (o.ok)
          this.note(
            `${o.value.name}: new server certificate for ${o.value.ip}; ${o.value.containersKept ? 'containers kept running' : `containers restarted (${o.value.reason})`}`,
          )
      }
    }
    throwIfFailed(outcomes)
  }
}
