import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {BerthError, ExitCode} from '../core/errors.js'
import {parseLocation} from '../core/transfer/location.js'
import {copy} from '../core/transfer/scp.js'

export default class Scp extends BaseCommand<typeof Scp> {
  static override summary =
    'Copy files between this computer and machines, or between machines (MACHINE:PATH on either side).'
  static override description =
    'Plain copies go over SFTP with the host key verified as pinned; --delta uses rsync over ssh (installed on the machine when missing) ' +
    'so only changes travel. Copies between two machines pass through this computer.'
  static override examples = [
    '<%= config.bin %> scp ./app.conf dev:/etc/app.conf',
    '<%= config.bin %> scp -r dev:/var/log/app ./logs',
    '<%= config.bin %> scp -r --delta ./site dev:/srv/site',
    '<%= config.bin %> scp dev:/etc/hosts prod:/tmp/hosts',
  ]
  static override strict = false
  static override args = {
    source: Args.string({description: 'SRC... then DEST; each a local path or MACHINE:PATH', required: true}),
    destination: Args.string({description: 'destination', required: true}),
  }
  static override flags = {
    recursive: Flags.boolean({char: 'r', summary: 'Copy folders recursively.'}),
    delta: Flags.boolean({
      char: 'd',
      summary: 'Copy only what changed, with rsync over ssh (rsync is needed on both sides).',
    }),
    quiet: Flags.boolean({char: 'q', summary: 'Print nothing but errors.'}),
  }

  async run(): Promise<void> {
    if (this.words.length < 2) throw new BerthError('expected SRC... DEST', ExitCode.usage)
    const locations = this.words.map(parseLocation)
    const destination = locations.pop()!
    const quiet = this.flags.quiet
    const summary = await copy(
      this.store,
      {sources: locations, destination, recursive: this.flags.recursive, delta: this.flags.delta, quiet},
      {step: (message) => !quiet && this.note(message)},
    )
    if (!quiet && !this.flags.delta)
      this.note(`Copied ${summary.files} file${summary.files === 1 ? '' : 's'} (${summary.bytes} bytes)`)
  }
}
