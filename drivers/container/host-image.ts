import {spawn} from 'node:child_process'
import {mkdtemp, rm, writeFile, mkdir} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {createHash} from 'node:crypto'
import type Docker from 'dockerode'
import {BerthError, ExitCode, oneLine} from '../../src/core/errors.js'
import {acquireLock} from '../../src/core/store/lock.js'

/** Bump when the recipe below changes, so machines get a freshly built image. */
const RECIPE_VERSION = 1
export const DEFAULT_HOST_IMAGE = `berth/host:bookworm-${RECIPE_VERSION}`
const SUITE = 'bookworm'
const MIRROR = process.env.BERTH_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian'
const PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'iproute2', 'ca-certificates', 'procps', 'curl', 'sudo']

/**
 * Configures the root filesystem from inside (chroot): per-container SSH host keys (generated at
 * first boot, never baked into the image), key-only root login, no consoles, and the engine's
 * Debian packages in apt's cache so provisioning installs them without downloading. The
 * provisioner still runs the real `apt-get install`.
 */
const CONFIGURE_ROOTFS = `
set -eu
export DEBIAN_FRONTEND=noninteractive
echo 'APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/90berth-keep-debs
apt-get -q update
apt-get -q -y install --download-only docker.io
rm -f /etc/ssh/ssh_host_*
mkdir -p /etc/systemd/system/ssh.service.d
printf '[Service]\\nExecStartPre=\\nExecStartPre=/usr/bin/ssh-keygen -A\\nExecStartPre=/usr/sbin/sshd -t\\n' > /etc/systemd/system/ssh.service.d/10-berth-host-keys.conf
printf 'PermitRootLogin prohibit-password\\nPasswordAuthentication no\\n' > /etc/ssh/sshd_config.d/10-berth.conf
systemctl enable ssh.service >/dev/null 2>&1 || true
systemctl mask getty@tty1.service serial-getty@.service console-getty.service systemd-udevd.service systemd-udevd-kernel.socket systemd-udevd-control.socket sys-kernel-config.mount >/dev/null 2>&1 || true
mkdir -p /root/.ssh && chmod 700 /root/.ssh
: > /etc/machine-id
`

function run(command: string, args: string[], what: string, options: {cwd?: string} = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {stdio: ['ignore', 'ignore', 'pipe'], cwd: options.cwd, env: {...process.env, LANG: 'C'}})
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)))
    child.on('error', (err) => reject(new BerthError(`${what}: ${oneLine(err)}`)))
    child.on('close', (code) => {
      if (code === 0) resolve()
      else reject(new BerthError(`${what} failed (exit ${code}): ${stderr.trim().split('\n').pop() ?? ''}`))
    })
  })
}

async function imageExists(docker: Docker, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect()
    return true
  } catch (err) {
    if ((err as {statusCode?: number}).statusCode === 404) return false
    throw err
  }
}

async function buildHostImage(docker: Docker, image: string, log: (m: string) => void): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new BerthError(`host image ${image} is missing and building it needs root (debootstrap)`, ExitCode.preCreateCheck,
      'run berth as root once, or pass --container-image with an image that has systemd and sshd')
  }
  const dir = await mkdtemp(join(process.env.BERTH_BUILD_DIR ?? '/var/tmp', 'berth-host-'))
  try {
    log(`Building host image ${image} with debootstrap (once per engine, about a minute)`)
    await run('debootstrap', ['--variant=minbase', `--include=${PACKAGES.join(',')}`, SUITE, dir, MIRROR], 'debootstrap')
    log('Configuring the host image')
    await mkdir(join(dir, 'etc/ssh/sshd_config.d'), {recursive: true})
    await writeFile(join(dir, 'tmp/berth-configure.sh'), CONFIGURE_ROOTFS)
    await run('chroot', [dir, '/bin/sh', '/tmp/berth-configure.sh'], 'configuring the host image')
    await rm(join(dir, 'tmp/berth-configure.sh'))
    log('Importing the host image')
    const tar = spawn('tar', ['-C', dir, '--numeric-owner', '-c', '.'], {stdio: ['ignore', 'pipe', 'pipe']})
    const [repo, tag] = image.split(':') as [string, string]
    const progress = await docker.importImage(tar.stdout, {repo, tag, changes: ['CMD ["/sbin/init"]', 'STOPSIGNAL SIGRTMIN+3']})
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(progress, (err: Error | null) => (err ? reject(err) : resolve()))
    })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BerthError('debootstrap is not installed; it builds the host image', ExitCode.preCreateCheck, 'apt-get install debootstrap')
    }
    throw err
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}

/** Makes sure the engine has the host image; the default one is built when absent, once even under parallel creates. */
export async function ensureHostImage(docker: Docker, engineUrl: string, image: string, log: (m: string) => void): Promise<void> {
  if (await imageExists(docker, image)) return
  if (image !== DEFAULT_HOST_IMAGE) {
    throw new BerthError(`host image ${image} is not on the engine`, ExitCode.preCreateCheck, 'load it there, or leave --container-image at its default to have berth build one')
  }
  const engineKey = createHash('sha256').update(engineUrl).digest('hex').slice(0, 12)
  const release = await acquireLock(join(tmpdir(), `berth-host-image-${engineKey}.lock`), 'building the host image', 20 * 60_000)
  try {
    if (!(await imageExists(docker, image))) await buildHostImage(docker, image, log)
  } finally {
    await release()
  }
}
