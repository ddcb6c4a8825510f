/**
 * The QEMU driver: a VM from a current cloud image (checksummed, cached), its disk a qcow2 overlay
 * on the cached image, berth's NoCloud seed as a read-only virtio disk, user-mode networking with
 * SSH and the engine forwarded from 127.0.0.1, QEMU daemonized and driven through its QMP socket.
 * Runs with KVM, HVF or WHPX where a vCPU really runs under them, else under TCG.
 */
import {execFile, spawn} from 'node:child_process'
import {open, readFile, rm, stat} from 'node:fs/promises'
import {delimiter, dirname, join} from 'node:path'
import {
  baseState,
  BerthError,
  connectSsh,
  ensureImage,
  ensureSshKey,
  ExitCode,
  freePort,
  HostKeyMismatchError,
  oneLine,
  oneOf,
  poll,
  positiveInteger,
  randomMac,
  SshKeyError,
  validateImageRequest,
  writeSeedIso,
} from '../../src/core/drivers/kit.js'
import type {
  BaseDriverState,
  Driver,
  DriverContext,
  DriverPlugin,
  MachineState,
  NoCloudSeed,
  OptionValues,
  SshAddress,
} from '../../src/core/drivers/kit.js'
import type {Accelerator, GuestArch} from './accel.js'
import {chooseAccelerator, probeAccelerator} from './accel.js'
import {ACCEL_CHOICES, descriptor} from './descriptor.js'
import {overlayArgs, QemuPaths, qemuArgs} from './args.js'
import {consoleHostKeys, pickHostKey} from './console.js'
import {QmpClient, withQmp} from './qmp.js'
import {
  checkPrivateAddress,
  claimAddress,
  multicastEndpoint,
  parsePrivateNetwork,
  releaseAddress,
} from './network.js'

/** The login user the seed creates (passwordless sudo), as docker-machine's VMs had. */
export const GUEST_USER = 'docker'
export const IMAGES: Record<string, Record<GuestArch, string>> = {
  ubuntu: {
    x86_64: 'https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img',
    aarch64: 'https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-arm64.img',
  },
  debian: {
    x86_64: 'https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2',
    aarch64: 'https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-arm64.qcow2',
  },
}
/** Debian publishes SHA512SUMS only. */
const IMAGE_SUMS: Record<string, string | undefined> = {debian: 'SHA512SUMS'}
/** Unix socket paths are limited to 108 bytes on Linux (104 on macOS). */
const MAX_SOCKET_PATH = 100

/** The driver's part of the machine record. SSHPort is the forward's port on 127.0.0.1. */
export interface QemuState extends BaseDriverState {
  Arch: GuestArch
  CPU: number
  Memory: number
  DiskSize: number
  OS: string
  ImageURL: string
  ImageChecksum: string
  /** What was asked for (auto or one accelerator); Accelerator is what the VM runs with. */
  AccelRequest: string
  Accelerator?: Accelerator
  /** The pre-create check's one line about a slow choice, shown when create starts. */
  AccelWarning?: string
  /** The QEMU binary; empty means qemu-system-ARCH from PATH. */
  Binary: string
  BootTimeout: number
  StopTimeout: number
  MAC: string
  EnginePort: number
  /** The guest's SSH host key as its console printed it on first boot (cloud-init), pinned from there. */
  SSHHostKey?: string
  /** The store's private network this machine is on (a CIDR), its NIC there and the segment's multicast GROUP:PORT. */
  PrivateNetwork?: string
  PrivateMAC?: string
  PrivateMulticast?: string
  /** The address asked for with --qemu-private-ip; PrivateIPAddress is the one claimed. */
  PrivateIPRequest?: string
}

export function hostArch(arch: string = process.arch): GuestArch {
  if (arch === 'x64') return 'x86_64'
  if (arch === 'arm64') return 'aarch64'
  throw new BerthError(
    `the qemu driver runs x86_64 and aarch64 guests; this host is ${arch}`,
    ExitCode.preCreateCheck,
  )
}

/** How to get QEMU on each system, for the pre-create check's hint. */
export function installHint(arch: GuestArch): string {
  const system = arch === 'x86_64' ? 'qemu-system-x86' : 'qemu-system-arm qemu-efi-aarch64'
  const fedora = arch === 'x86_64' ? 'qemu-system-x86' : 'qemu-system-aarch64 edk2-aarch64'
  return (
    `install QEMU: Debian/Ubuntu \`sudo apt-get install ${system} qemu-utils\`; Fedora \`sudo dnf install ${fedora} qemu-img\`; ` +
    'macOS `brew install qemu`; Windows `winget install SoftwareFreedomConservancy.QEMU` (then add C:\\Program Files\\qemu to PATH); ' +
    'or point --qemu-binary at qemu-system-' +
    arch
  )
}

/** Where distributions and QEMU's own installs keep the aarch64 UEFI firmware. */
export function firmwareCandidates(qemuBinary: string): string[] {
  return [
    join(dirname(qemuBinary), '..', 'share', 'qemu', 'edk2-aarch64-code.fd'), // Homebrew, QEMU's own install
    join(dirname(qemuBinary), 'share', 'edk2-aarch64-code.fd'), // Windows installer
    '/usr/share/qemu-efi-aarch64/QEMU_EFI.fd', // Debian, Ubuntu
    '/usr/share/AAVMF/AAVMF_CODE.fd',
    '/usr/share/edk2/aarch64/QEMU_EFI.fd', // Fedora
  ]
}

/** A machine's NIC on the private network: its MAC and static address with prefix (192.168.76.2/24). */
export interface PrivateNic {
  mac: string
  address: string
}

/** The seed of a QEMU guest: the login user with the machine's key, the user-mode NIC by DHCP, the private NIC static. */
export function qemuSeed(
  hostname: string,
  sshPublicKey: string,
  mac: string,
  privateNic?: PrivateNic,
): NoCloudSeed {
  return {
    hostname,
    user: GUEST_USER,
    sshPublicKey,
    nics: [
      {id: 'eth0', mac},
      ...(privateNic ? [{id: 'private', mac: privateNic.mac, addresses: [privateNic.address]}] : []),
    ],
  }
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  )

/** A program on PATH (with Windows' extensions), or undefined. */
async function onPath(program: string): Promise<string | undefined> {
  const extensions = process.platform === 'win32' ? ['.exe', ''] : ['']
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean)
  if (process.platform === 'win32') dirs.push('C:\\Program Files\\qemu')
  for (const dir of dirs)
    for (const ext of extensions) if (await exists(join(dir, program + ext))) return join(dir, program + ext)
  return undefined
}

interface RunResult {
  code: number
  stdout: string
  stderr: string
}

function runProgram(program: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(program, args, {timeout: timeoutMs, maxBuffer: 4 << 20}, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as {code?: unknown}).code === 'number'
          ? (err as {code: number}).code
          : 1
        : 0
      resolve({
        code,
        stdout: String(stdout),
        stderr: String(stderr) || (err && code === 1 && !stderr ? oneLine(err) : ''),
      })
    })
  })
}

/** The last line QEMU wrote to stderr, the way it states a failure. */
const lastLine = (text: string) => text.trim().split('\n').pop()?.trim() ?? ''

/** Is this pid a live QEMU of this machine? A pid file can outlive its process and its pid be reused. */
async function isOurQemu(pid: number, qmpPath: string): Promise<boolean> {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  if (process.platform !== 'linux') return true
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined)
  return cmdline === undefined || cmdline.includes(qmpPath)
}

class QemuDriver implements Driver {
  constructor(
    readonly state: QemuState,
    private readonly context: DriverContext,
  ) {}

  private path(file: string): string {
    return join(this.context.machineDir, file)
  }

  private get paths(): QemuPaths {
    return {
      disk: this.path('disk.qcow2'),
      seed: this.path('seed.img'),
      qmp: this.path('qmp.sock'),
      pid: this.path('qemu.pid'),
      serialLog: this.path('serial.log'),
    }
  }

  private async binary(): Promise<string> {
    if (this.state.Binary) {
      if (!(await exists(this.state.Binary)))
        throw new BerthError(
          `QEMU binary ${this.state.Binary} does not exist`,
          ExitCode.preCreateCheck,
          installHint(this.state.Arch),
        )
      return this.state.Binary
    }
    const name = `qemu-system-${this.state.Arch}`
    const found = await onPath(name)
    if (!found)
      throw new BerthError(
        `${name} is not installed (not on PATH)`,
        ExitCode.preCreateCheck,
        installHint(this.state.Arch),
      )
    return found
  }

  /** qemu-img beside the QEMU binary, else on PATH. */
  private async qemuImg(): Promise<string> {
    const qemu = await this.binary()
    const beside = join(dirname(qemu), process.platform === 'win32' ? 'qemu-img.exe' : 'qemu-img')
    const found = (await exists(beside)) ? beside : await onPath('qemu-img')
    if (!found)
      throw new BerthError('qemu-img is not installed', ExitCode.preCreateCheck, installHint(this.state.Arch))
    return found
  }

  private async firmware(): Promise<string | undefined> {
    if (this.state.Arch !== 'aarch64') return undefined
    for (const candidate of firmwareCandidates(await this.binary()))
      if (await exists(candidate)) return candidate
    throw new BerthError(
      'no aarch64 UEFI firmware found (edk2-aarch64-code.fd or QEMU_EFI.fd)',
      ExitCode.preCreateCheck,
      installHint(this.state.Arch),
    )
  }

  async preCreateCheck(): Promise<void> {
    const qemu = await this.binary()
    const version = await runProgram(qemu, ['--version'], 20_000)
    if (version.code !== 0)
      throw new BerthError(
        `${qemu} --version failed: ${lastLine(version.stderr) || `exit ${version.code}`}`,
        ExitCode.preCreateCheck,
        installHint(this.state.Arch),
      )
    await this.qemuImg()
    await this.firmware()
    if (this.paths.qmp.length > MAX_SOCKET_PATH) {
      throw new BerthError(
        `the machine folder's path is too long for QEMU's control socket (${this.paths.qmp.length} > ${MAX_SOCKET_PATH} characters)`,
        ExitCode.preCreateCheck,
        'use a shorter --storage-path',
      )
    }
    const choice = await chooseAccelerator(
      this.state.AccelRequest as Accelerator | 'auto',
      process.platform,
      (accel) => probeAccelerator(qemu, this.state.Arch, accel),
    )
    if (choice.failure) {
      throw new BerthError(
        `--qemu-accel ${choice.accel} does not work here: ${choice.failure}`,
        ExitCode.preCreateCheck,
        choice.accel === 'kvm'
          ? 'check /dev/kvm and its permissions (the kvm group), or use --qemu-accel auto'
          : 'use --qemu-accel auto',
      )
    }
    this.state.Accelerator = choice.accel
    this.state.AccelWarning = choice.warning
  }

  /** Resumable: a disk an interrupted create made is booted, not made again. */
  async create(): Promise<void> {
    const keyPath = await ensureSshKey(this.state.SSHKeyPath, `berth@${this.context.machineName}`)
    if (!this.state.Accelerator) await this.preCreateCheck()
    this.context.log(`Using ${this.state.Accelerator} acceleration`)
    if (this.state.AccelWarning) this.context.log(`Warning: ${this.state.AccelWarning}`)
    if (!(await exists(this.paths.disk))) await this.build(keyPath)
    await this.powerOn()
  }

  private async build(keyPath: string): Promise<void> {
    const image = await ensureImage(
      {url: this.state.ImageURL, checksum: this.state.ImageChecksum || undefined},
      {
        cacheDir: join(this.state.StorePath, 'cache'),
        log: this.context.log,
      },
    )
    const qemuImg = await this.qemuImg()
    const info = await runProgram(qemuImg, ['info', '--output=json', image.path])
    if (info.code !== 0)
      throw new BerthError(`qemu-img cannot read the image ${image.path}: ${lastLine(info.stderr)}`)
    const {format, 'virtual-size': virtualSize} = JSON.parse(info.stdout) as {
      format: string
      'virtual-size': number
    }
    if (virtualSize > this.state.DiskSize * 1048576) {
      throw new BerthError(
        `--qemu-disk-size ${this.state.DiskSize} MB is smaller than the image (${Math.ceil(virtualSize / 1048576)} MB)`,
        ExitCode.usage,
      )
    }
    let privateNic: PrivateNic | undefined
    if (this.state.PrivateNetwork && this.state.PrivateMAC) {
      const net = parsePrivateNetwork(this.state.PrivateNetwork)
      this.state.PrivateIPAddress = await claimAddress(
        this.state.StorePath,
        net,
        this.context.machineName,
        this.state.PrivateIPRequest,
      )
      this.context.log(`Private network ${net.cidr}: ${this.state.PrivateIPAddress}`)
      privateNic = {mac: this.state.PrivateMAC, address: `${this.state.PrivateIPAddress}/${net.prefix}`}
    }
    this.context.log('Writing the cloud-init seed')
    await writeSeedIso(
      this.paths.seed,
      qemuSeed(
        this.context.machineName,
        await readFile(`${keyPath}.pub`, 'utf8'),
        this.state.MAC,
        privateNic,
      ),
    )
    const started = performance.now()
    const made = await runProgram(
      qemuImg,
      overlayArgs(image.path, format, this.paths.disk, this.state.DiskSize),
    )
    if (made.code !== 0) {
      await rm(this.paths.disk, {force: true})
      throw new BerthError(`qemu-img could not create the disk: ${lastLine(made.stderr)}`)
    }
    this.context.log(
      `Disk: a ${this.state.DiskSize} MB qcow2 overlay on the cached image (${Math.round(performance.now() - started)} ms)`,
    )
  }

  private async pid(): Promise<number | undefined> {
    const text = await readFile(this.paths.pid, 'utf8').catch(() => '')
    const pid = Number(text.trim())
    if (!Number.isInteger(pid) || pid <= 1) return undefined
    return (await isOurQemu(pid, this.paths.qmp)) ? pid : undefined
  }

  /** Starts QEMU unless it runs, then waits for a real SSH login with the pinned host key. */
  private async powerOn(): Promise<void> {
    if (!(await this.pid())) await this.launch()
    await this.waitForBoot(this.state.BootTimeout * 1000)
  }

  private async launch(): Promise<void> {
    const qemu = await this.binary()
    for (const file of [this.paths.qmp, this.paths.pid]) await rm(file, {force: true})
    const args = qemuArgs(
      {
        name: this.context.machineName,
        arch: this.state.Arch,
        accel: this.state.Accelerator ?? 'tcg',
        cpus: this.state.CPU,
        memoryMb: this.state.Memory,
        mac: this.state.MAC,
        sshPort: this.state.SSHPort,
        enginePort: this.state.EnginePort,
        privateNic:
          this.state.PrivateMAC && this.state.PrivateMulticast
            ? {mac: this.state.PrivateMAC, multicast: this.state.PrivateMulticast}
            : undefined,
      },
      {...this.paths, firmware: await this.firmware()},
      process.platform !== 'win32',
    )
    this.context.log(`Starting QEMU (serial log ${this.paths.serialLog})`)
    if (process.platform === 'win32') {
      // No -daemonize on Windows: a detached process outlives the command instead.
      spawn(qemu, args, {detached: true, stdio: 'ignore', windowsHide: true}).unref()
      return
    }
    // With -daemonize QEMU returns once the VM is set up, with its errors on stderr.
    const result = await runProgram(qemu, args, 120_000)
    if (result.code !== 0)
      throw new BerthError(`QEMU failed to start: ${lastLine(result.stderr) || `exit ${result.code}`}`)
  }

  /** The serial log's last lines, to say why a guest does not come up. */
  private async serialTail(): Promise<string> {
    const text = await this.readSerial().catch(() => '')
    return text
      .replace(/[^\x20-\x7e\n]/g, '')
      .trim()
      .split('\n')
      .slice(-3)
      .join(' | ')
  }

  /** The serial log, at most its last 4 MiB (the guest writes it; it may be large). */
  private async readSerial(): Promise<string> {
    const file = await open(this.paths.serialLog, 'r')
    try {
      const {size} = await file.stat()
      const length = Math.min(size, 4 << 20)
      const buffer = Buffer.alloc(length)
      await file.read(buffer, 0, length, size - length)
      return buffer.toString('utf8')
    } finally {
      await file.close()
    }
  }

  /**
   * Waits until the guest printed its host keys on the console (first boot) and SSH logs in with
   * the key pinned from there: QEMU's forward accepts TCP long before sshd runs, so only a login counts.
   */
  private async waitForBoot(deadlineMs: number): Promise<void> {
    let reason = 'no answer yet'
    const answered = await poll(
      async (remainingMs) => {
        if (!(await this.pid()))
          throw new BerthError(
            `QEMU of ${this.context.machineName} exited while the guest booted; serial log: ${(await this.serialTail()) || 'empty'}`,
          )
        if (!this.state.SSHHostKey) {
          this.state.SSHHostKey = pickHostKey(consoleHostKeys(await this.readSerial().catch(() => '')))
          if (!this.state.SSHHostKey)
            reason = 'the console shows no SSH host keys yet (cloud-init has not finished)'
        }
        if (!this.state.SSHHostKey) return undefined
        try {
          const session = await connectSsh(
            this.sshTarget(),
            {pinned: this.state.SSHHostKey, pin: async () => {}},
            {readyTimeoutMs: Math.max(1000, Math.min(10_000, remainingMs))},
          )
          session.close()
          return true
        } catch (err) {
          if (err instanceof HostKeyMismatchError || err instanceof SshKeyError) throw err
          reason = oneLine(err)
          return undefined
        }
      },
      {timeoutMs: deadlineMs, retryable: () => false, onTimeout: () => false},
    )
    if (!answered)
      throw new BerthError(
        `VM ${this.context.machineName} did not answer SSH within ${Math.round(deadlineMs / 1000)}s (${reason}); serial log: ${(await this.serialTail()) || 'empty'}`,
        ExitCode.timeout,
        `a slow guest (TCG) needs a longer --qemu-boot-timeout; the whole console is in ${this.paths.serialLog}`,
      )
  }

  private sshTarget() {
    return {
      host: '127.0.0.1',
      port: this.state.SSHPort,
      user: this.state.SSHUser,
      privateKeyPath: this.state.SSHKeyPath,
      machine: this.context.machineName,
    }
  }

  private async qmp<T>(use: (qmp: QmpClient) => Promise<T>): Promise<T> {
    return withQmp(this.paths.qmp, use)
  }

  private waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
    return poll(async () => ((await isOurQemu(pid, this.paths.qmp)) ? undefined : true), {
      timeoutMs,
      intervalMs: 250,
      retryable: () => false,
      onTimeout: () => false,
    })
  }

  async start(): Promise<void> {
    await this.powerOn()
  }

  /** ACPI power button first; a guest that has not stopped by the deadline is powered off. */
  async stop(): Promise<void> {
    const pid = await this.pid()
    if (!pid) return
    await this.qmp((q) => q.execute('system_powerdown'))
    if (await this.waitForExit(pid, this.state.StopTimeout * 1000)) return
    this.context.log(
      `VM ${this.context.machineName} ignored the ACPI power button for ${this.state.StopTimeout}s; powering it off`,
    )
    await this.kill()
  }

  async restart(): Promise<void> {
    await this.stop()
    await this.start()
  }

  /** QMP `quit` (QEMU exits at once, as pulling the plug); SIGKILL when QMP does not answer. */
  async kill(): Promise<void> {
    const pid = await this.pid()
    if (!pid) return
    await this.qmp((q) => q.execute('quit')).catch(() => undefined)
    if (await this.waitForExit(pid, 5000)) return
    process.kill(pid, 'SIGKILL')
    await this.waitForExit(pid, 5000)
  }

  /** Ends the process and deletes the overlay, seed, sockets and logs; a machine half made is removed the same way. */
  async remove(): Promise<void> {
    await this.kill()
    for (const file of Object.values(this.paths)) await rm(file, {force: true})
    if (this.state.PrivateNetwork && this.state.PrivateIPAddress)
      await releaseAddress(
        this.state.StorePath,
        parsePrivateNetwork(this.state.PrivateNetwork),
        this.context.machineName,
        this.state.PrivateIPAddress,
      )
  }

  async getState(): Promise<MachineState> {
    if (!(await this.pid())) return (await exists(this.paths.disk)) ? 'Stopped' : 'NotFound'
    const status = await this.qmp((q) => q.status()).catch(() => undefined)
    if (status === undefined) return 'Error'
    if (status === 'running') return 'Running'
    if (status === 'paused' || status === 'suspended') return 'Paused'
    if (status === 'shutdown') return 'Stopping'
    if (status === 'prelaunch' || status === 'inmigrate' || status === 'restore-vm') return 'Starting'
    return 'Error'
  }

  /** Every port is forwarded from the host's loopback: the engine's URL is tcp://127.0.0.1:EnginePort. */
  async getIP(): Promise<string> {
    if (!(await this.pid())) throw new BerthError(`VM ${this.context.machineName} is not running`)
    return '127.0.0.1'
  }

  async getSSHAddress(): Promise<SshAddress> {
    return {
      host: '127.0.0.1',
      port: this.state.SSHPort,
      user: this.state.SSHUser,
      keyPath: this.state.SSHKeyPath,
    }
  }
}

export const qemuDriver: DriverPlugin<QemuState> = {
  ...descriptor,

  async configure(values: OptionValues, context: DriverContext): Promise<QemuState> {
    const arch = hostArch()
    const os = oneOf(values, 'qemu-os', 'ubuntu', Object.keys(IMAGES))
    const url = values['qemu-image-url'] === undefined ? IMAGES[os]![arch] : String(values['qemu-image-url'])
    const defaultSums =
      values['qemu-image-url'] === undefined && IMAGE_SUMS[os] ? new URL(IMAGE_SUMS[os]!, url).toString() : ''
    const checksum =
      values['qemu-image-checksum'] === undefined ? defaultSums : String(values['qemu-image-checksum'])
    validateImageRequest({url, checksum: checksum || undefined})
    const privateNet =
      values['qemu-private-network'] === undefined || values['qemu-private-network'] === ''
        ? undefined
        : parsePrivateNetwork(String(values['qemu-private-network']))
    const privateIp = values['qemu-private-ip'] === undefined ? undefined : String(values['qemu-private-ip'])
    if (privateIp !== undefined && !privateNet)
      throw new BerthError('--qemu-private-ip needs --qemu-private-network', ExitCode.usage)
    const state: QemuState = {
      ...baseState(context, {SSHUser: GUEST_USER, SSHPort: await freePort()}),
      Arch: arch,
      CPU: positiveInteger(values, 'qemu-cpu-count', 2, 1),
      Memory: positiveInteger(values, 'qemu-memory', 2048, 256),
      DiskSize: positiveInteger(values, 'qemu-disk-size', 20000, 1000),
      OS: os,
      ImageURL: url,
      ImageChecksum: checksum,
      AccelRequest: oneOf(values, 'qemu-accel', 'auto', ACCEL_CHOICES),
      Binary: values['qemu-binary'] === undefined ? '' : String(values['qemu-binary']),
      BootTimeout: positiveInteger(values, 'qemu-boot-timeout', 300, 1),
      StopTimeout: positiveInteger(values, 'qemu-stop-timeout', 60, 1),
      // QEMU's own OUI: 52:54:00.
      MAC: randomMac('525400'),
      // Chosen now, so the machine record carries the engine's port from its start.
      EnginePort: await freePort(),
      ...(privateNet && {
        PrivateNetwork: privateNet.cidr,
        PrivateMAC: randomMac('525400'),
        PrivateMulticast: multicastEndpoint(context.storePath, privateNet),
        PrivateIPRequest: privateIp === undefined ? undefined : checkPrivateAddress(privateNet, privateIp),
      }),
    }
    return state
  },

  load(state: QemuState, context: DriverContext): Driver {
    return new QemuDriver(state, context)
  },
}
