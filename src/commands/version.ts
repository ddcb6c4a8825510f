import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {engineVersion} from '../core/engine/engine.js'

export default class Version extends BaseCommand<typeof Version> {
  static override summary = "Print berth's version, or a machine's engine version."
  static override args = {name: Args.string({description: 'machine name'})}
  static override flags = {json: Flags.boolean({summary: 'Print as JSON.'})}

  async run(): Promise<void> {
    if (!this.args.name) {
      if (this.flags.json) this.printJson({berth: this.config.version, node: process.version})
      else this.log(`berth version ${this.config.version}`)
      return
    }
    const version = await engineVersion(await this.store.load(this.args.name))
    if (this.flags.json) this.printJson(version)
    else this.log(version.Version)
  }
}
