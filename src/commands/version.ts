import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {engineVersion} from '../core/engine/engine.js'
import {dockerMachineFullVersion} from '../cli/dm-help.js'

/**
 * docker-machine prints `NAME version VERSION, build COMMIT` (urfave/cli's version printer with
 * version.FullVersion()). Scripts compare the version, so it is the release berth stands in for;
 * the build says what really runs.
 */
export function dockerMachineVersionLine(berthVersion: string): string {
  return `docker-machine version ${dockerMachineFullVersion(berthVersion)}`
}

export default class Version extends BaseCommand<typeof Version> {
  static override summary = "Print berth's version, or a machine's engine version."
  static override args = {name: Args.string({description: 'machine name'})}
  static override flags = {json: Flags.boolean({summary: 'Print as JSON.'})}

  async run(): Promise<void> {
    if (!this.args.name) {
      if (this.flags.json) this.printJson({berth: this.config.version, node: process.version})
      else
        this.log(
          this.compat
            ? dockerMachineVersionLine(this.config.version)
            : `berth version ${this.config.version}`,
        )
      return
    }
    const version = await engineVersion(await this.store.load(this.args.name))
    if (this.flags.json) this.printJson(version)
    else this.log(version.Version)
  }
}
