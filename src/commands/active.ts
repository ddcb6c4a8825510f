import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {engineUrl} from '../core/engine/engine.js'
import {BerthError} from '../core/errors.js'

export default class Active extends BaseCommand<typeof Active> {
  static override summary = 'Print the machine DOCKER_HOST points at.'
  static override flags = {json: Flags.boolean({summary: 'Print as JSON.'})}

  async run(): Promise<void> {
    const host = process.env.DOCKER_HOST
    if (host) {
      for (const name of await this.store.names()) {
        const record = await this.store.load(name).catch(() => undefined)
        if (record?.Driver.IPAddress && engineUrl(record) === host) {
          if (this.flags.json) this.printJson({name, url: host})
          else this.log(name)
          return
        }
      }
    }
    throw new BerthError(
      'No active host found',
      1,
      host ? `DOCKER_HOST=${host} is not one of berth's machines` : 'DOCKER_HOST is not set',
    )
  }
}
