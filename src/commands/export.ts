import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {exportMachine} from '../core/migrate/bundle.js'

export default class Export extends BaseCommand<typeof Export> {
  static override summary =
    'Write a machine to one file (record, SSH key, certificates) for `import --bundle` on another workstation.'
  static override description =
    "The bundle is a tar.gz (mode 0600: it holds the SSH and client keys) with paths relative to the machine's folder. " +
    'The CA private key stays behind, so the receiving store cannot issue certificates for the machine.'
  static override examples = ['<%= config.bin %> export dev dev.berth.tgz']
  static override args = {
    name: Args.string({description: 'machine name', required: true}),
    file: Args.string({description: 'bundle file to write', required: true}),
  }
  static override flags = {
    json: Flags.boolean({summary: 'Print the bundle manifest as JSON.'}),
    force: Flags.boolean({char: 'f', summary: 'Replace FILE if it exists.'}),
  }

  async run(): Promise<void> {
    const manifest = await exportMachine(this.store, this.args.name, this.args.file, this.flags.force)
    if (this.flags.json) this.printJson(manifest)
    else
      this.note(
        `Exported ${manifest.name} to ${this.args.file} (${Object.keys(manifest.files).length} files)`,
      )
  }
}
