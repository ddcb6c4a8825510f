import {spawn, spawnSync} from 'node:child_process'
import {readFileSync, rmSync} from 'node:fs'
import {mkdir, mkdtemp, unlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {createHash} from 'node:crypto'
import type Docker from 'dockerode'
import {acquireLock, BerthError, ExitCode, hasImage, oneLine} from '../../src/core/drivers/kit.js'
import {DEFAULT_HOST_IMAGE} from './descriptor.js'

// The image's tag carries the recipe's version: bump HOST_IMAGE_RECIPE in descriptor.ts when the recipe below changes.
export {DEFAULT_HOST_IMAGE}

const SUITE = 'bookworm'
const MIRROR = process.env.BERTH_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian'
const PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'openssh-server',
  'iproute2',
  'ca-certificates',
  'procps',
  'curl',
  'sudo',
]

const HOST_KEY = '/etc/ssh/ssh_host_ed25519_key'

/** Files written into the root filesystem as they are. */
const FILES: Record<string, {content: string; mode: number}> = {
  'etc/apt/apt.conf.d/00berth-keep-cache': {
    mode: 0o644,
    content: 'APT::Keep-Downloaded-Packages "true";\nBinary::apt::APT::Keep-Downloaded-Packages "true";\n',
  },
  // Debian's unit already runs `sshd -t`, which fails without host keys: reset the list and make
  // the key first, so each machine gets its own at first boot. Only ed25519 (the key berth pins):
  // `ssh-keygen -A` also made an RSA 3072 key, 0.4 CPU-s of every machine's boot.
  'etc/systemd/system/ssh.service.d/10-berth-host-keys.conf': {
    mode: 0o644,
    content: [
      '[Service]',
      'ExecStartPre=',
      `ExecStartPre=/bin/sh -c 'test -f ${HOST_KEY} || exec /usr/bin/ssh-keygen -q -t ed25519 -N "" -f ${HOST_KEY}'`,
      'ExecStartPre=/usr/sbin/sshd -t',
      '',
    ].join('\n'),
  },
  'etc/ssh/sshd_config.d/10-berth.conf': {
    mode: 0o644,
    content: `PermitRootLogin prohibit-password\nPasswordAuthentication no\nHostKey ${HOST_KEY}\n`,
  },
  // With the host's cgroup namespace the nested engine would put its containers beside this
  // machine's cgroup; a parent inside it means removing the machine takes them along.
  'usr/local/lib/berth/docker-cgroup-parent': {
    mode: 0o755,
    content: [
      '#!/bin/sh',
      `cg=$(awk -F: '$2 == "memory" || $2 == "" {print $3; exit}' /proc/1/cgroup)`,
      'echo "DOCKER_OPTS=--cgroup-parent=${cg%/init.scope}/nested" > /run/berth-docker-opts',
      '',
    ].join('\n'),
  },
  'etc/systemd/system/docker.service.d/05-berth-cgroup-parent.conf': {
    mode: 0o644,
    content:
      '[Service]\nExecStartPre=/usr/local/lib/berth/docker-cgroup-parent\nEnvironmentFile=-/run/berth-docker-opts\n',
  },
}

/**
 * Run inside the root filesystem (chroot): the engine's Debian packages go into apt's cache so
 * provisioning installs them without downloading (the provisioner still runs the real
 * `apt-get install`); no baked-in host keys or machine id; no apt timers taking the dpkg lock.
 */
const CONFIGURE_ROOTFS = `
set -eu
export DEBIAN_FRONTEND=noninteractive
printf 'deb %s bookworm main\\ndeb %s bookworm-updates main\\ndeb http://deb.debian.org/debian-security bookworm-security main\\n' "$1" "$1" > /etc/apt/sources.list
apt-get -q clean
apt-get -q update
apt-get -q -y upgrade
apt-get -q clean
apt-get -q -y --no-install-recommends install --download-only docker.io
rm -f /etc/ssh/ssh_host_*
mkdir -p /root/.ssh && chmod 700 /root/.ssh
ln -sf /dev/null /etc/systemd/system/apt-daily.timer
ln -sf /dev/null /etc/systemd/system/apt-daily-upgrade.timer
: > /etc/machine-id
mkdir -p /var/lib/dbus && ln -sf /etc/machine-id /var/lib/dbus/machine-id
`

function run(command: string, args: string[], what: string, options: {cwd?: string} = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: options.cwd,
      env: {...process.env, LANG: 'C'},
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)))
    child.on('error', (err) => reject(new BerthError(`${what}: ${oneLine(err)}`)))
    child.on('close', (code) => {
      if (code === 0) resolve()
      else reject(new BerthError(`${what} failed (exit ${code}): ${stderr.trim().split('\n').pop() ?? ''}`))
    })
  })
}

async function buildHostImage(docker: Docker, image: string, log: (m: string) => void): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new BerthError(
      `host image ${image} is missing and building it needs root (debootstrap)`,
      ExitCode.preCreateCheck,
      'run berth as root once, or pass --container-image with an image that has systemd and sshd',
    )
  }
  const dir = await mkdtemp(join(process.env.BERTH_BUILD_DIR ?? '/var/tmp', 'berth-host-'))
  // Interrupted builds must not leave a half-made root filesystem behind.
  const onSignal = (signal: NodeJS.Signals) => {
    removeBuildDir(dir)
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    log(`Building host image ${image} with debootstrap (once per engine, about a minute)`)
    await run(
      'debootstrap',
      ['--variant=minbase', `--include=${PACKAGES.join(',')}`, SUITE, dir, MIRROR],
      'debootstrap',
    )
    log('Configuring the host image')
    for (const [path, file] of Object.entries({
      ...FILES,
      'tmp/berth-configure.sh': {content: CONFIGURE_ROOTFS, mode: 0o755},
    })) {
      await mkdir(dirname(join(dir, path)), {recursive: true})
      await writeFile(join(dir, path), file.content, {mode: file.mode})
    }
    await run('chroot', [dir, '/bin/sh', '/tmp/berth-configure.sh', MIRROR], 'configuring the host image')
    await unlink(join(dir, 'tmp/berth-configure.sh'))
    log('Importing the host image')
    const tar = spawn('tar', ['-C', dir, '--numeric-owner', '-c', '.'], {stdio: ['ignore', 'pipe', 'pipe']})
    const [repo, tag] = image.split(':') as [string, string]
    const tarDone = new Promise<void>((resolve, reject) =>
      tar.on('close', (code) =>
        code === 0 ? resolve() : reject(new BerthError(`tar of the host image exited with ${code}`)),
      ),
    )
    try {
      const progress = await docker.importImage(tar.stdout, {
        repo,
        tag,
        changes: ['CMD ["/sbin/init"]', 'ENV container=docker'],
      })
      await new Promise<void>((resolve, reject) => {
        docker.modem.followProgress(progress, (err: Error | null) => (err ? reject(err) : resolve()))
      })
      await tarDone
    } finally {
      tar.kill()
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BerthError(
        'debootstrap is not installed; it builds the host image',
        ExitCode.preCreateCheck,
        'apt-get install debootstrap',
      )
    }
    throw err
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    removeBuildDir(dir)
  }
}

/**
 * Removes a build folder, unmounting first whatever debootstrap left mounted in it (proc, sys,
 * dev): a recursive delete must never walk into the host's /dev.
 */
function removeBuildDir(dir: string): void {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((target) => target === dir || target.startsWith(dir + '/'))
    .sort((x, y) => y.length - x.length)
  for (const target of mounts) spawnSync('umount', ['-l', target])
  if (mounts.length > 0 && readFileSync('/proc/mounts', 'utf8').includes(` ${dir}/`)) return // still mounted: leave it
  rmSync(dir, {recursive: true, force: true})
}

/** Makes sure the engine has the host image; the default one is built when absent, once even under parallel creates. */
export async function ensureHostImage(
  docker: Docker,
  engineUrl: string,
  image: string,
  log: (m: string) => void,
): Promise<void> {
  if (await hasImage(docker, image)) return
  if (image !== DEFAULT_HOST_IMAGE) {
    throw new BerthError(
      `host image ${image} is not on the engine`,
      ExitCode.preCreateCheck,
      'load it there, or leave --container-image at its default to have berth build one',
    )
  }
  const engineKey = createHash('sha256').update(engineUrl).digest('hex').slice(0, 12)
  const release = await acquireLock(
    join(tmpdir(), `berth-host-image-${engineKey}.lock`),
    'building the host image',
    20 * 60_000,
  )
  try {
    if (!(await hasImage(docker, image))) await buildHostImage(docker, image, log)
  } finally {
    await release()
  }
}
