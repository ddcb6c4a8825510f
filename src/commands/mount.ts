import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {BerthError, ExitCode} from '../core/errors.js'
import {parseLocation} from '../core/transfer/location.js'
import {defaultMountPoint, mountMachine, unmountMachine} from '../core/transfer/mount.js'

export default class Mount extends BaseCommand<typeof Mount> {
  static override summary =
    "Mount a machine's folder on this computer with sshfs (host key verified as pinned)."
  static override description =
    "Needs sshfs and FUSE (/dev/fuse). LOCALDIR defaults to the remote folder's name in the current folder and is created when missing."
  static override examples = [
    '<%= config.bin %> mount dev:/srv/app ./app',
    '<%= config.bin %> mount -u dev:/srv/app ./app',
  ]
  static override args = {
    target: Args.string({description: 'MACHINE:PATH', required: true}),
    localDir: Args.string({description: 'local folder to mount on'}),
  }
  static override flags = {
    unmount: Flags.boolean({char: 'u', summary: 'Unmount instead.'}),
  }

  async run(): Promise<void> {
    const location = parseLocation(this.args.target)
    if (!location.machine) throw new BerthError(`${this.args.target}: expected MACHINE:PATH`, ExitCode.usage)
    const localDir = defaultMountPoint(location, this.args.localDir)
    if (this.flags.unmount) {
      await unmountMachine(localDir)
      this.note(`Unmounted ${localDir}`)
      return
    }
    await mountMachine(this.store, location, localDir)
    this.note(
      `Mounted ${location.machine}:${location.path} on ${localDir} (unmount: ${this.config.bin} mount -u ${this.args.target} ${localDir})`,
    )
  }
}
