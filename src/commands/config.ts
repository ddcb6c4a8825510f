import {Flags} from '@oclif/core'
import {join} from 'node:path'
import {BaseCommand} from '../cli/base.js'
import {machineArg} from '../cli/args.js'
import {engineUrl, engineVersion} from '../core/engine/engine.js'
import {BerthError, ExitCode} from '../core/errors.js'
import {Machine} from '../core/machine/machine.js'

export default class Config extends BaseCommand<typeof Config> {
  static override summary =
    'Print the docker CLI flags that connect to a machine (after checking its engine answers).'
  static override args = {name: machineArg}
  static override flags = {
    timeout: Flags.integer({char: 't', summary: 'Seconds to wait for the engine.', default: 10, min: 1}),
    json: Flags.boolean({summary: 'Print as JSON.'}),
  }

  async run(): Promise<void> {
    const machine = await Machine.open(this.store, this.args.name)
    const {record} = machine
    // A machine that is not running fails at once instead of waiting out a connect timeout.
    const state = await machine.driver.getState()
    if (state !== 'Running')
      throw new BerthError(
        `machine "${record.Name}" is ${state}`,
        ExitCode.failure,
        `\`${this.programName} start ${record.Name}\``,
      )
    await engineVersion(record, this.flags.timeout * 1000)
    const dir = record.HostOptions.AuthOptions.StorePath
    const config = {
      tlsverify: true,
      tlscacert: join(dir, 'ca.pem'),
      tlscert: join(dir, 'cert.pem'),
      tlskey: join(dir, 'key.pem'),
      host: engineUrl(record),
    }
    if (this.flags.json) {
      this.printJson(config)
      return
    }
    this.log(
      `--tlsverify\n--tlscacert="${config.tlscacert}"\n--tlscert="${config.tlscert}"\n--tlskey="${config.tlskey}"\n-H=${config.host}`,
    )
  }
}
