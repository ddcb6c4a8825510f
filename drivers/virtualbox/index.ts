/**
 * The VirtualBox driver: a VM from a current cloud image (checksummed, cached) and a NoCloud
 * seed ISO berth writes itself, built with VBoxManage. SSH goes through a NAT port forward on
 * 127.0.0.1; the engine is reached on the host-only NIC, whose address is read over SSH by MAC.
 */
import {readFile, rm, stat} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {extname, isAbsolute, join} from 'node:path'
import {
  acquireLock,
  baseState,
  BerthError,
  connectSsh,
  ensureImage,
  ensureSshKey,
  ExitCode,
  formatMac,
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
  Driver,
  DriverContext,
  DriverPlugin,
  MachineState,
  OptionValues,
  SshAddress,
} from '../../src/core/drivers/kit.js'
import {DEFAULT_HOSTONLY_CIDR, HostOnlyNetwork, hostOnlyNetwork, inNetwork} from './network.js'
import type {VBoxManageRunner, VBoxVersion} from './vboxmanage.js'
import {
  isSupported,
  machineState,
  MINIMUM_VERSION,
  parseBlocks,
  parseMachineReadable,
  parseVersion,
  parseVmList,
  VBoxManage,
  VBoxManageError,
} from './vboxmanage.js'
import {DEFAULT_IMAGE_URL, descriptor, NIC_TYPES, UI_TYPES} from './descriptor.js'
import type {VirtualBoxState} from './state.js'

export {DEFAULT_IMAGE_URL}
export type {VirtualBoxState}

export const HOSTONLY_STYLES = ['auto', 'interface', 'network']
/** The login user the seed creates (passwordless sudo), as docker-machine's VMs had. */
export const GUEST_USER = 'docker'

/** The driver's part of the machine record. */
/** VBoxManage takes MACs as 12 hex digits. */
function vboxMac(mac: string): string {
  return formatMac(mac).replace(/:/g, '').toUpperCase()
}

export function modifyVmArgs(s: VirtualBoxState, version: VBoxVersion, serialLog: string): string[] {
  return [
    'modifyvm',
    s.VMName,
    '--cpus',
    String(s.CPU),
    '--memory',
    String(s.Memory),
    '--acpi',
    'on',
    '--ioapic',
    'on',
    '--rtcuseutc',
    'on',
    '--firmware',
    'bios',
    ...(version.major >= 7 ? ['--audio-enabled', 'off'] : ['--audio', 'none']),
    '--boot1',
    'disk',
    '--boot2',
    'dvd',
    '--boot3',
    'none',
    '--boot4',
    'none',
    // Cloud images wait for a serial console at boot; a file keeps the log too.
    '--uart1',
    '0x3F8',
    '4',
    '--uartmode1',
    'file',
    serialLog,
    '--nic1',
    'nat',
    '--nictype1',
    s.NatNicType,
    '--macaddress1',
    vboxMac(s.NatMAC!),
    '--cableconnected1',
    'on',
    '--natdnshostresolver1',
    'on',
  ]
}

export function storageArgs(vm: string, disk: string, seed: string): string[][] {
  return [
    [
      'storagectl',
      vm,
      '--name',
      'SATA',
      '--add',
      'sata',
      '--controller',
      'IntelAhci',
      '--portcount',
      '2',
      '--hostiocache',
      'on',
    ],
    [
      'storageattach',
      vm,
      '--storagectl',
      'SATA',
      '--port',
      '0',
      '--device',
      '0',
      '--type',
      'hdd',
      '--medium',
      disk,
    ],
    [
      'storageattach',
      vm,
      '--storagectl',
      'SATA',
      '--port',
      '1',
      '--device',
      '0',
      '--type',
      'dvddrive',
      '--medium',
      seed,
    ],
  ]
}

/** NAT rules: SSH, and the engine when there is no host-only NIC to reach it on. */
export function natForwardArgs(s: VirtualBoxState): string[] {
  const rules = [`ssh,tcp,127.0.0.1,${s.SSHPort},,22`]
  if (s.EnginePort) rules.push(`docker,tcp,127.0.0.1,${s.EnginePort},,${s.EnginePort}`)
  return ['modifyvm', s.VMName, ...rules.flatMap((rule) => ['--natpf1', rule])]
}

export function hostOnlyNicArgs(
  s: VirtualBoxState,
  style: 'interface' | 'network',
  adapter: string,
): string[] {
  return [
    'modifyvm',
    s.VMName,
    '--nic2',
    style === 'network' ? 'hostonlynet' : 'hostonly',
    ...(style === 'network' ? ['--host-only-net2', adapter] : ['--hostonlyadapter2', adapter]),
    '--nictype2',
    s.NatNicType,
    '--macaddress2',
    vboxMac(s.HostOnlyMAC!),
    '--cableconnected2',
    'on',
  ]
}

/** `ip -j addr` output: the IPv4 address of the interface with this MAC. */
export function addressForMac(ipJson: string, mac: string): string | undefined {
  const links = JSON.parse(ipJson) as Array<{
    address?: string
    addr_info?: Array<{family: string; local: string}>
  }>
  const link = links.find((l) => l.address?.toLowerCase() === formatMac(mac))
  return link?.addr_info?.find((a) => a.family === 'inet')?.local
}

export function hostOnlyStyle(
  option: string,
  version: VBoxVersion,
  platform = process.platform,
): 'interface' | 'network' {
  if (option === 'interface' || option === 'network') return option
  // VirtualBox 7 on macOS has no host-only interfaces (no kernel extension), only host-only networks.
  return version.major >= 7 && platform === 'darwin' ? 'network' : 'interface'
}

class VirtualBoxDriver implements Driver {
  private cachedVBox?: VBoxManage

  constructor(
    readonly state: VirtualBoxState,
    private readonly context: DriverContext,
    private readonly vboxOverride?: VBoxManageRunner,
  ) {}

  private get vbox(): VBoxManageRunner {
    if (this.vboxOverride) return this.vboxOverride
    this.cachedVBox ??= VBoxManage.locate()
    return this.cachedVBox
  }

  private get vm(): string {
    return this.state.VMName
  }

  private path(file: string): string {
    return join(this.context.machineDir, file)
  }

  private async version(): Promise<VBoxVersion> {
    const output = await this.vbox.run(['--version'])
    const version = parseVersion(output)
    if (!version)
      throw new BerthError(
        `cannot read the VirtualBox version from ${JSON.stringify(output.trim())}`,
        ExitCode.preCreateCheck,
      )
    return version
  }

  async preCreateCheck(): Promise<void> {
    const version = await this.version()
    if (!isSupported(version)) {
      throw new BerthError(
        `VirtualBox ${version.text} is too old: berth needs ${MINIMUM_VERSION.major}.${MINIMUM_VERSION.minor} or later`,
        ExitCode.preCreateCheck,
        'upgrade VirtualBox from https://www.virtualbox.org/wiki/Downloads',
      )
    }
    const vms = parseVmList(await this.vbox.run(['list', 'vms']))
    if (vms.some((vm) => vm.name === this.vm)) {
      throw new BerthError(
        `a VirtualBox VM named ${this.vm} already exists`,
        ExitCode.preCreateCheck,
        'remove it or choose another machine name',
      )
    }
  }

  /** showvminfo's values, or undefined when VirtualBox knows no such VM. */
  private async info(): Promise<Record<string, string> | undefined> {
    try {
      return parseMachineReadable(await this.vbox.run(['showvminfo', this.vm, '--machinereadable']))
    } catch (err) {
      if (err instanceof VBoxManageError && err.notFound) return undefined
      throw err
    }
  }

  /** Resumable: a VM an interrupted create registered is started, not built again. */
  async create(): Promise<void> {
    const keyPath = await ensureSshKey(this.state.SSHKeyPath, `berth@${this.context.machineName}`)
    if (!(await this.info())) await this.build(keyPath)
    await this.powerOn()
  }

  private async build(keyPath: string): Promise<void> {
    const version = await this.version()
    const image = await ensureImage(
      {url: this.state.ImageURL, checksum: this.state.ImageChecksum || undefined},
      {
        cacheDir: join(this.state.StorePath, 'cache'),
        log: this.context.log,
      },
    )
    this.state.NatMAC ??= randomMac()
    if (!this.state.NoHostOnly) this.state.HostOnlyMAC ??= randomMac()
    this.state.SSHPort = await freePort()

    const disk = this.path('disk.vdi')
    const seed = this.path('seed.iso')
    this.context.log('Writing the cloud-init seed')
    await writeSeedIso(seed, {
      hostname: this.context.machineName,
      user: GUEST_USER,
      sshPublicKey: await readFile(`${keyPath}.pub`, 'utf8'),
      nics: [
        {id: 'nat', mac: this.state.NatMAC},
        ...(this.state.HostOnlyMAC ? [{id: 'hostonly', mac: this.state.HostOnlyMAC}] : []),
      ],
    })

    this.context.log(`Creating the disk (${this.state.DiskSize} MB)`)
    // Raw images are converted, the others (vmdk, vdi, vhd, qcow) cloned; the copy leaves the cache untouched.
    if (extname(image.path).toLowerCase() === '.raw')
      await this.vbox.run(['convertfromraw', image.path, disk, '--format', 'VDI'])
    else {
      await this.vbox.run(['clonemedium', 'disk', image.path, disk, '--format', 'VDI'])
      // The clone registered the cached image too; a later release under the same path must not meet a stale entry.
      await this.vbox.run(['closemedium', 'disk', image.path]).catch(() => {})
    }
    await this.vbox.run(['modifymedium', 'disk', disk, '--resize', String(this.state.DiskSize)])

    this.context.log(`Creating VirtualBox VM ${this.vm}`)
    await this.vbox.run([
      'createvm',
      '--name',
      this.vm,
      '--basefolder',
      this.context.machineDir,
      '--ostype',
      'Ubuntu_64',
      '--register',
    ])
    await this.vbox.run(modifyVmArgs(this.state, version, this.path('serial.log')))
    for (const args of storageArgs(this.vm, disk, seed)) await this.vbox.run(args)
    await this.vbox.run(natForwardArgs(this.state))
    if (!this.state.NoHostOnly) {
      const style = hostOnlyStyle(this.state.HostOnlyStyle, version)
      this.state.HostOnlyAdapter = await this.ensureHostOnly(style, hostOnlyNetwork(this.state.HostOnlyCIDR))
      await this.vbox.run(hostOnlyNicArgs(this.state, style, this.state.HostOnlyAdapter))
    }
    if (this.state.ShareFolder) {
      const [dir, name] = splitShare(this.state.ShareFolder)
      await this.vbox.run(['sharedfolder', 'add', this.vm, '--name', name, '--hostpath', dir, '--automount'])
    }
  }

  /**
   * An adapter (or, on VirtualBox 7 for macOS, a host-only network) for the CIDR, reused when one
   * exists; one lock across stores keeps parallel creates from making two.
   */
  private async ensureHostOnly(style: 'interface' | 'network', net: HostOnlyNetwork): Promise<string> {
    const release = await acquireLock(
      join(tmpdir(), 'berth-virtualbox-hostonly.lock'),
      'setting up a VirtualBox host-only network',
      5 * 60_000,
    )
    try {
      if (style === 'network') {
        const nets = parseBlocks(await this.vbox.run(['list', 'hostonlynets']))
        const existing = nets.find((n) => n.NetworkMask === net.netmask && inNetwork(n.LowerIP ?? '', net))
        if (existing?.Name) return existing.Name
        const name = `berth-${net.network.replace(/\./g, '-')}-${net.prefix}`
        await this.vbox.run([
          'hostonlynet',
          'add',
          `--name=${name}`,
          `--netmask=${net.netmask}`,
          `--lower-ip=${net.lowerIp}`,
          `--upper-ip=${net.upperIp}`,
          '--enable',
        ])
        return name
      }
      const interfaces = parseBlocks(await this.vbox.run(['list', 'hostonlyifs']))
      let adapter = interfaces.find((i) => i.IPAddress === net.hostIp && i.NetworkMask === net.netmask)?.Name
      if (!adapter) {
        this.context.log(`Creating a host-only adapter for ${net.hostIp}/${net.prefix}`)
        const created = await this.vbox.run(['hostonlyif', 'create'])
        adapter = /Interface '([^']+)' was successfully created/.exec(created)?.[1]
        if (!adapter)
          throw new BerthError(
            `VBoxManage hostonlyif create did not name the adapter it made: ${oneLine(created.trim().split('\n').pop() ?? '')}`,
          )
        const made = adapter
        // An adapter left without its address would be picked up by nothing and only clutter the host.
        await this.vbox
          .run(['hostonlyif', 'ipconfig', made, '--ip', net.hostIp, '--netmask', net.netmask])
          .catch(async (err) => {
            await this.vbox.run(['hostonlyif', 'remove', made]).catch(() => {})
            throw err
          })
      }
      const servers = parseBlocks(await this.vbox.run(['list', 'dhcpservers']))
      if (!servers.some((d) => d.NetworkName === `HostInterfaceNetworking-${adapter}`)) {
        await this.vbox.run([
          'dhcpserver',
          'add',
          `--interface=${adapter}`,
          `--server-ip=${net.dhcpServer}`,
          `--netmask=${net.netmask}`,
          `--lower-ip=${net.lowerIp}`,
          `--upper-ip=${net.upperIp}`,
          '--enable',
        ])
      }
      return adapter
    } finally {
      await release()
    }
  }

  /** Starts the VM unless it runs, then waits for its address. */
  private async powerOn(): Promise<void> {
    const state = machineState((await this.requireInfo()).VMState)
    if (state === 'Paused') await this.vbox.run(['controlvm', this.vm, 'resume'])
    else if (state !== 'Running') {
      this.context.log(`Starting VM ${this.vm}`)
      await this.vbox.run(['startvm', this.vm, '--type', this.state.UIType])
    }
    this.state.IPAddress = await this.waitForAddress(this.state.BootTimeout * 1000)
  }

  private async requireInfo(): Promise<Record<string, string>> {
    const info = await this.info()
    if (!info)
      throw new BerthError(`VirtualBox VM ${this.vm} of machine ${this.context.machineName} no longer exists`)
    return info
  }

  /**
   * The host-only NIC's IPv4 address, read in the guest over the NAT forward (no Guest Additions
   * in cloud images). Without a host-only NIC the engine is forwarded to 127.0.0.1.
   */
  private async readAddress(readyTimeoutMs: number): Promise<string | undefined> {
    const session = await connectSsh(
      {
        host: '127.0.0.1',
        port: this.state.SSHPort,
        user: this.state.SSHUser,
        privateKeyPath: this.state.SSHKeyPath,
        machine: this.context.machineName,
      },
      {
        pinned: this.state.GuestHostKey,
        pin: async (key) => {
          this.state.GuestHostKey = key
        },
      },
      {readyTimeoutMs},
    )
    try {
      if (this.state.NoHostOnly) return '127.0.0.1'
      const result = await session.execRaw('ip -j addr show')
      if (result.code !== 0)
        throw new BerthError(
          `ip -j addr failed in the guest: ${oneLine(result.stderr || `exit ${result.code}`)}`,
        )
      return addressForMac(result.stdout, this.state.HostOnlyMAC!)
    } finally {
      session.close()
    }
  }

  private async waitForAddress(deadlineMs: number): Promise<string> {
    let reason = 'no answer yet'
    return poll(
      async (remainingMs) => {
        try {
          const address = await this.readAddress(Math.max(1000, Math.min(10_000, remainingMs)))
          if (address) return address
          reason = `no IPv4 address on the NIC with MAC ${formatMac(this.state.HostOnlyMAC ?? '')}`
        } catch (err) {
          if (err instanceof HostKeyMismatchError || err instanceof SshKeyError) throw err
          reason = oneLine(err)
        }
        return undefined
      },
      {
        timeoutMs: deadlineMs,
        retryable: () => false,
        onTimeout: () => {
          throw new BerthError(
            `VM ${this.vm} got no ${this.state.NoHostOnly ? 'SSH answer' : 'host-only IP address'} within ${Math.round(deadlineMs / 1000)}s (${reason})`,
            ExitCode.timeout,
            this.state.NoHostOnly
              ? 'a slow guest needs a longer --virtualbox-boot-timeout'
              : 'the guest did not bring up its host-only NIC; a slow guest needs a longer --virtualbox-boot-timeout',
          )
        },
      },
    )
  }

  async start(): Promise<void> {
    await this.powerOn()
  }

  /** ACPI power button first; a guest that has not stopped by the deadline is powered off. */
  async stop(): Promise<void> {
    if (machineState((await this.requireInfo()).VMState) !== 'Running') return
    await this.vbox.run(['controlvm', this.vm, 'acpipowerbutton'])
    const stopped = await poll(
      async () => (machineState((await this.requireInfo()).VMState) === 'Stopped' ? true : undefined),
      {
        timeoutMs: this.state.StopTimeout * 1000,
        intervalMs: 500,
        retryable: () => false,
        onTimeout: () => false,
      },
    )
    if (stopped) return
    this.context.log(
      `VM ${this.vm} ignored the ACPI power button for ${this.state.StopTimeout}s; powering it off`,
    )
    await this.vbox.run(['controlvm', this.vm, 'poweroff'])
  }

  async restart(): Promise<void> {
    await this.stop()
    await this.start()
  }

  async kill(): Promise<void> {
    const state = machineState((await this.requireInfo()).VMState)
    if (state === 'Running' || state === 'Paused') await this.vbox.run(['controlvm', this.vm, 'poweroff'])
  }

  /** Removes the VM with its files, and the disk and seed even when no VM got to hold them. */
  async remove(): Promise<void> {
    const info = await this.info()
    if (info) {
      const state = machineState(info.VMState)
      if (state === 'Running' || state === 'Paused' || state === 'Stopping')
        await this.vbox.run(['controlvm', this.vm, 'poweroff'])
      await this.vbox.run(['unregistervm', this.vm, '--delete'])
    }
    for (const [type, file] of [
      ['disk', 'disk.vdi'],
      ['dvd', 'seed.iso'],
    ] as const) {
      const path = this.path(file)
      if (
        !(await stat(path).then(
          () => true,
          () => false,
        ))
      )
        continue
      await this.vbox
        .run(['closemedium', type, path, ...(type === 'disk' ? ['--delete'] : [])])
        .catch(() => {})
      await rm(path, {force: true})
    }
  }

  async getState(): Promise<MachineState> {
    const info = await this.info()
    return info ? machineState(info.VMState) : 'NotFound'
  }

  async getIP(): Promise<string> {
    if (this.state.NoHostOnly) return '127.0.0.1'
    if (machineState((await this.requireInfo()).VMState) !== 'Running')
      throw new BerthError(`VM ${this.vm} is not running`)
    const address = await this.readAddress(10_000)
    if (!address) throw new BerthError(`VM ${this.vm} has no IPv4 address on its host-only NIC`)
    return address
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

function splitShare(value: string): [string, string] {
  const at = value.lastIndexOf(':')
  // A drive letter (C:\Users) is not the separator.
  return at > 1 ? [value.slice(0, at), value.slice(at + 1)] : [value, 'hosthome']
}

export const virtualboxDriver: DriverPlugin<VirtualBoxState> = {
  ...descriptor,

  async configure(values: OptionValues, context: DriverContext): Promise<VirtualBoxState> {
    const noHostOnly = values['virtualbox-no-hostonly'] === true
    const cidr = String(values['virtualbox-hostonly-cidr'] ?? DEFAULT_HOSTONLY_CIDR)
    if (!noHostOnly) hostOnlyNetwork(cidr)
    const imageUrl = String(values['virtualbox-image-url'] ?? DEFAULT_IMAGE_URL)
    const checksum =
      values['virtualbox-image-checksum'] === undefined ? '' : String(values['virtualbox-image-checksum'])
    validateImageRequest({url: imageUrl, checksum: checksum || undefined})
    const share =
      values['virtualbox-share-folder'] === undefined ? '' : String(values['virtualbox-share-folder'])
    if (share) {
      const [dir, name] = splitShare(share)
      if (
        !isAbsolute(dir) ||
        !(await stat(dir).then(
          (s) => s.isDirectory(),
          () => false,
        ))
      ) {
        throw new BerthError(
          `--virtualbox-share-folder ${JSON.stringify(share)}: ${dir} is not an existing absolute folder`,
          ExitCode.usage,
        )
      }
      if (!/^[A-Za-z0-9_.-]+$/.test(name))
        throw new BerthError(
          `--virtualbox-share-folder ${JSON.stringify(share)}: share name ${JSON.stringify(name)} must be letters, digits, . _ -`,
          ExitCode.usage,
        )
    }
    const state: VirtualBoxState = {
      ...baseState(context, {SSHUser: GUEST_USER, SSHPort: 22}),
      VMName: context.machineName,
      CPU: positiveInteger(values, 'virtualbox-cpu-count', 2, 1),
      Memory: positiveInteger(values, 'virtualbox-memory', 2048, 512),
      DiskSize: positiveInteger(values, 'virtualbox-disk-size', 20000, 4000),
      ImageURL: imageUrl,
      ImageChecksum: checksum,
      HostOnlyCIDR: cidr,
      NoHostOnly: noHostOnly,
      HostOnlyStyle: oneOf(values, 'virtualbox-hostonly-style', 'auto', HOSTONLY_STYLES),
      NatNicType: oneOf(values, 'virtualbox-nat-nictype', 'virtio', NIC_TYPES),
      ShareFolder: share,
      UIType: oneOf(values, 'virtualbox-ui-type', 'headless', UI_TYPES),
      BootTimeout: positiveInteger(values, 'virtualbox-boot-timeout', 300, 1),
      StopTimeout: positiveInteger(values, 'virtualbox-stop-timeout', 60, 1),
      // Chosen now, so the machine record carries the engine's port from its start.
      EnginePort: noHostOnly ? await freePort() : undefined,
    }
    return state
  },

  load(state: VirtualBoxState, context: DriverContext): Driver {
    return new VirtualBoxDriver(state, context)
  },
}
