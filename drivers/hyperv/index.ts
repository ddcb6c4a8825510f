/**
 * The Hyper-V driver: a Generation 2 VM from a cloud image (raw disk + VHD footer written here,
 * then Convert-VHD/Resize-VHD), configured by a NoCloud seed ISO on its DVD drive, driven
 * through PowerShell.
 */
import {randomBytes} from 'node:crypto'
import {copyFile, open, readFile, rm, stat} from 'node:fs/promises'
import {constants} from 'node:fs'
import {lookup} from 'node:dns/promises'
import {connect, isIP} from 'node:net'
import {join} from 'node:path'
import {
  baseState,
  BerthError,
  ensureImage,
  ensureSshKey,
  ExitCode,
  oneLine,
  validateImageRequest,
  writeSeedIso,
} from '../../src/core/drivers/kit.js'
import type {
  Driver,
  DriverContext,
  DriverPlugin,
  MachineState,
  NoCloudSeed,
  OptionValues,
  SshAddress,
} from '../../src/core/drivers/kit.js'
import {findPowerShell, parseJsonArrays, PowerShell, PowerShellRunner} from './powershell.js'
import * as scripts from './scripts.js'
import {appendVhdFooter} from './vhd.js'
import {DEFAULT_IMAGE_URL, descriptor} from './descriptor.js'
import type {HyperVState} from './state.js'

export const DEFAULT_IMAGE_CHECKSUM = 'https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS'
/** Hyper-V's Default Switch has this id on every host. */
export const DEFAULT_SWITCH_ID = 'c08cb7b8-9b3c-408e-8e30-5e16a3aeb444'
const SSH_USER = 'docker'

/**
 * Hyper-V learns a guest's addresses only from the guest's KVP daemon (hv_kvp_daemon), which cloud
 * images lack: Ubuntu ships it in linux-cloud-tools-virtual, Debian and Fedora in hyperv-daemons.
 * The seed installs and enables it at first boot. The package lists are refreshed only when the
 * install fails without them (many cloud images ship none; a refresh costs time otherwise).
 */
export const KVP_DAEMON_SETUP = [
  '. /etc/os-release',
  'case " $ID $ID_LIKE " in *" ubuntu "*) pkg=linux-cloud-tools-virtual ;; *) pkg=hyperv-daemons ;; esac',
  'if command -v apt-get >/dev/null 2>&1; then',
  '  export DEBIAN_FRONTEND=noninteractive',
  '  apt_install() { apt-get -q -y install --no-install-recommends "$pkg"; }',
  '  apt_install || { apt-get -q update && apt_install; } || exit 1',
  '  unit=hv-kvp-daemon.service',
  'elif command -v dnf >/dev/null 2>&1; then',
  '  dnf -y install hyperv-daemons || exit 1',
  '  unit=hypervkvpd.service',
  'else',
  "  echo 'berth: neither apt-get nor dnf is here to install the Hyper-V KVP daemon' >&2",
  '  exit 1',
  'fi',
  // --no-block: the unit waits for Hyper-V's KVP device, which only a Hyper-V guest has.
  'systemctl enable --now --no-block "$unit"',
  '',
].join('\n')
const POLL_MS = 2000
/** The Default Switch's DNS (Internet Connection Sharing) answers a guest's name in this zone. */
const ICS_DOMAIN = 'mshome.net'
const LOOKUP_TIMEOUT_MS = 3000
/** Convert-VHD of a multi-GB image takes a while on a slow disk. */
const CONVERT_TIMEOUT_MS = 30 * 60_000

interface VmSwitch {
  Name: string
  Id: string
  SwitchType: string
}

export interface Neighbour {
  ip: string
  /** Get-NetNeighbor's state: Reachable, Stale, Delay, Probe, Unreachable, Incomplete, Permanent. */
  state: string
}

export interface AddressReport {
  state: string | undefined
  /** What the guest reports through Hyper-V (its KVP daemon). */
  guestAddresses: string[]
  /** The host's neighbour entries for the VM's MAC. */
  neighbours: Neighbour[]
}

/** The MAC as Set-VMNetworkAdapter takes it: 12 upper-case hex digits. */
export function normalizeMac(mac: string): string {
  const hex = mac.trim().replace(/[:-]/g, '').toUpperCase()
  if (!/^[0-9A-F]{12}$/.test(hex))
    throw new BerthError(
      `--hyperv-static-macaddress ${JSON.stringify(mac)} is not a MAC address`,
      ExitCode.usage,
    )
  if (parseInt(hex.slice(0, 2), 16) & 1)
    throw new BerthError(`--hyperv-static-macaddress ${mac} is a multicast address`, ExitCode.usage)
  if (/^0+$/.test(hex))
    throw new BerthError('--hyperv-static-macaddress 00:00:00:00:00:00 is not usable', ExitCode.usage)
  return hex
}

/** A random unicast, locally administered MAC: known before boot, so the seed and the neighbour lookup can use it. */
export function randomMac(): string {
  const bytes = randomBytes(6)
  bytes[0] = (bytes[0]! & 0xfc) | 0x02
  return bytes.toString('hex').toUpperCase()
}

const dashed = (mac: string) => mac.match(/../g)!.join('-')
const coloned = (mac: string) => mac.match(/../g)!.join(':').toLowerCase()

function isUsableIPv4(ip: string): boolean {
  return isIP(ip) === 4 && !ip.startsWith('169.254.') && !ip.startsWith('127.') && ip !== '0.0.0.0'
}

function isGlobalIPv6(ip: string): boolean {
  return isIP(ip) === 6 && !/^(fe[89ab]|::1$|::$)/i.test(ip)
}

/** Usable addresses in order: IPv4 first, global IPv6 only when `acceptIPv6`, never link-local. */
export function usableAddresses(addresses: string[], acceptIPv6: boolean): string[] {
  return [...addresses.filter(isUsableIPv4), ...(acceptIPv6 ? addresses.filter(isGlobalIPv6) : [])]
}

/** Neighbour entries for the VM's MAC worth trying; the ones the host gave up on are not. */
export function neighbourCandidates(report: AddressReport, acceptIPv6: boolean): string[] {
  return usableAddresses(
    report.neighbours.filter((n) => !['Unreachable', 'Incomplete'].includes(n.state)).map((n) => n.ip),
    acceptIPv6,
  )
}

/**
 * The first address (in the given order) where the guest answers TCP on `port`, accepting or
 * refusing. A neighbour entry alone proves little: after a new lease the old address keeps an
 * entry with the VM's MAC for a while, and what is sent there reaches the VM, which ignores it.
 */
export async function firstAnswering(
  addresses: string[],
  port = 22,
  timeoutMs = 1500,
): Promise<string | undefined> {
  const answers = await Promise.all(
    addresses.map(
      (host) =>
        new Promise<boolean>((done) => {
          const socket = connect({host, port})
          const finish = (answered: boolean) => {
            socket.destroy()
            done(answered)
          }
          socket.setTimeout(timeoutMs, () => finish(false))
          socket.once('connect', () => finish(true))
          socket.once('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ECONNREFUSED'))
        }),
    ),
  )
  return addresses.find((_, i) => answers[i])
}

/** The seed of a Hyper-V guest: the login user with the machine's key, its NIC by MAC, and the KVP daemon. */
export function hypervSeed(hostname: string, sshPublicKey: string, mac: string): NoCloudSeed {
  return {
    hostname,
    user: SSH_USER,
    sshPublicKey,
    nics: [{id: 'eth0', mac: coloned(mac)}],
    runcmd: [['sh', '-c', KVP_DAEMON_SETUP]],
  }
}

/** Hyper-V's VMState names to the contract's states. */
export function machineState(vmState: string | undefined): MachineState {
  switch (vmState) {
    case undefined:
      return 'NotFound'
    case 'Running':
      return 'Running'
    case 'Off':
      return 'Stopped'
    case 'Paused':
      return 'Paused'
    case 'Saved':
    case 'FastSaved':
      return 'Saved'
    case 'Starting':
    case 'Resuming':
    case 'Reset':
      return 'Starting'
    case 'Stopping':
    case 'Saving':
    case 'Pausing':
    case 'FastSaving':
      return 'Stopping'
    default:
      return 'Error' // Other and the *Critical states (the VM's storage is unreachable)
  }
}

const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []

/** What the driver uses of the Windows host; tests pass their own. */
export interface HyperVHost {
  powershell: PowerShellRunner | undefined
  /** The host resolver's addresses for a name (getaddrinfo, which on Windows asks the switch's ICS DNS too). */
  lookup(hostname: string): Promise<string[]>
  /** The first of the addresses where the guest's SSH port answers. */
  answering(addresses: string[]): Promise<string | undefined>
}

async function lookupAddresses(hostname: string): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(Object.assign(new Error(`no answer within ${LOOKUP_TIMEOUT_MS / 1000}s`), {code: 'ETIMEOUT'})),
      LOOKUP_TIMEOUT_MS,
    )
  })
  try {
    return (await Promise.race([lookup(hostname, {all: true}), timeout])).map((a) => a.address)
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The guest's name in the Default Switch's DNS, `NAME.mshome.net`, where ICS serves it: on an
 * Internal switch (the Default Switch is one; records from before VSwitchType know it by name).
 * DHCP registers the guest's short hostname.
 */
export function icsHostname(state: HyperVState, machineName: string): string | undefined {
  const internal = state.VSwitchType === 'Internal' || state.VSwitch === 'Default Switch'
  return internal ? `${machineName.split('.')[0]}.${ICS_DOMAIN}` : undefined
}

export class HyperVDriver implements Driver {
  constructor(
    readonly state: HyperVState,
    private readonly context: DriverContext,
    private readonly host: HyperVHost,
  ) {}

  private get ps(): PowerShellRunner {
    if (!this.host.powershell) {
      throw new BerthError(
        'PowerShell was not found (powershell.exe or pwsh on PATH)',
        ExitCode.failure,
        'the Hyper-V driver runs on Windows with Hyper-V; make sure powershell.exe is on PATH',
      )
    }
    return this.host.powershell
  }

  private get vmId(): string | undefined {
    return this.state.VMId || undefined
  }

  private get paths() {
    const dir = this.context.machineDir
    const name = this.context.machineName
    return {vhd: join(dir, `${name}.vhd`), vhdx: join(dir, `${name}.vhdx`), seed: join(dir, 'seed.iso')}
  }

  /** Tells which VM is this machine's when only a name is known (an interrupted create). */
  private get notes(): string {
    return `berth machine ${this.context.machineDir}`
  }

  private get ipTimeoutMs(): number {
    return this.state.IPTimeout * 1000
  }

  async preCreateCheck(): Promise<void> {
    const [[checks]] = parseJsonArrays(await this.ps.run(scripts.preflightScript()), 1, 'the preflight') as [
      Array<{HyperVModule: boolean; Administrator: boolean; HyperVAdministrator: boolean}>,
    ]
    if (!checks?.HyperVModule) {
      throw new BerthError(
        'the Hyper-V PowerShell module is not installed',
        ExitCode.preCreateCheck,
        'enable Hyper-V as Administrator: `Enable-WindowsOptionalFeature -Online -FeatureName Microsoft-Hyper-V -All`, then restart Windows',
      )
    }
    if (!checks.Administrator && !checks.HyperVAdministrator) {
      throw new BerthError(
        'you are neither an elevated Administrator nor a member of Hyper-V Administrators',
        ExitCode.preCreateCheck,
        `run berth from a shell opened with "Run as administrator", or join the group once: \`Add-LocalGroupMember -SID ${scripts.HYPERV_ADMINISTRATORS_SID} -Member $env:USERNAME\` and sign in again`,
      )
    }
    const [switches, sameName] = parseJsonArrays(
      await this.ps.run(scripts.inventoryScript(this.context.machineName)),
      2,
      'the switch list',
    )
    const chosen = this.chooseSwitch(switches as VmSwitch[])
    this.state.VSwitch = chosen.Name
    this.state.VSwitchType = chosen.SwitchType
    if (sameName!.length > 0) {
      throw new BerthError(
        `a Hyper-V VM named ${this.context.machineName} already exists`,
        ExitCode.preCreateCheck,
        'remove it or choose another machine name',
      )
    }
  }

  /** The switch asked for, else the first External switch, else the Default Switch. */
  private chooseSwitch(switches: VmSwitch[]): VmSwitch {
    const wanted = this.state.VSwitch
    const names = switches.map((s) => JSON.stringify(s.Name)).join(', ') || 'none'
    if (wanted) {
      const named = switches.find((s) => s.Name === wanted)
      if (named) return named
      throw new BerthError(
        `Hyper-V has no virtual switch named ${JSON.stringify(wanted)} (switches: ${names})`,
        ExitCode.preCreateCheck,
        'pass --hyperv-virtual-switch with one of them, or create it in Hyper-V Manager (Virtual Switch Manager)',
      )
    }
    const chosen =
      switches.filter((s) => s.SwitchType === 'External').sort((x, y) => x.Name.localeCompare(y.Name))[0] ??
      switches.find((s) => s.Id.toLowerCase() === DEFAULT_SWITCH_ID || s.Name === 'Default Switch')
    if (!chosen) {
      throw new BerthError(
        `Hyper-V has no External switch and no Default Switch (switches: ${names})`,
        ExitCode.preCreateCheck,
        "create one as Administrator, e.g. `New-VMSwitch -Name 'External' -NetAdapterName 'Ethernet' -AllowManagementOS $true`, or pass --hyperv-virtual-switch",
      )
    }
    this.context.log(`Using virtual switch ${JSON.stringify(chosen.Name)}`)
    return chosen
  }

  async create(): Promise<void> {
    const keyPath = await ensureSshKey(this.state.SSHKeyPath, `berth@${this.context.machineName}`)
    const image = await ensureImage(
      {url: this.state.ImageURL, checksum: this.state.ImageChecksum || undefined},
      {
        cacheDir: join(this.state.StorePath, 'cache'),
        log: this.context.log,
      },
    )
    const diskBytes = this.state.DiskSize * 1024 * 1024
    const imageBytes = await rawImageSize(image.path)
    if (imageBytes > diskBytes) {
      throw new BerthError(
        `--hyperv-disk-size ${this.state.DiskSize} MB is smaller than the image (${Math.ceil(imageBytes / 1048576)} MB)`,
        ExitCode.usage,
      )
    }
    const {vhd, vhdx, seed} = this.paths
    await writeSeedIso(
      seed,
      hypervSeed(this.context.machineName, await readFile(`${keyPath}.pub`, 'utf8'), this.state.MacAddr),
    )
    this.context.log('Converting the image to a VHDX disk')
    await copyFile(image.path, vhd, constants.COPYFILE_FICLONE)
    await appendVhdFooter(vhd)
    try {
      await this.ps.run(scripts.convertDiskScript(vhd, vhdx, diskBytes), CONVERT_TIMEOUT_MS)
    } finally {
      await rm(vhd, {force: true})
    }
    this.context.log(`Creating Hyper-V VM ${this.context.machineName}`)
    const [[created]] = parseJsonArrays(
      await this.ps.run(
        scripts.newVmScript({
          name: this.context.machineName,
          path: this.context.machineDir,
          vhdxPath: vhdx,
          switchName: this.state.VSwitch,
          memoryBytes: this.state.MemSize * 1024 * 1024,
          notes: this.notes,
        }),
      ),
      1,
      'New-VM',
    ) as [Array<{Id: string}>]
    if (!created?.Id) throw new BerthError("New-VM did not report the new VM's id")
    this.state.VMId = created.Id
    await this.ps.run(
      scripts.configureVmScript(created.Id, {
        cpuCount: this.state.CPU,
        dynamicMemory: !this.state.DisableDynamicMemory,
        macAddress: this.state.MacAddr,
        vlanId: this.state.VLanID,
        seedIsoPath: seed,
      }),
    )
    await this.start()
  }

  async start(): Promise<void> {
    const id = this.requireVmId()
    await this.ps.run(scripts.startScript(id))
    this.context.log(`Waiting for an IP address (up to ${this.ipTimeoutMs / 1000}s)`)
    this.state.IPAddress = await this.waitForAddress(id)
  }

  /**
   * Polls Hyper-V and the neighbour table until the guest has an address, the VM stops, or the
   * deadline passes. On an ICS switch, from half the wait on and at the last poll, the guest's
   * NAME.mshome.net is tried too: DNS may still hold a lease an earlier VM of that name had.
   */
  private async waitForAddress(id: string): Promise<string> {
    const started = Date.now()
    const deadline = started + this.ipTimeoutMs
    const icsName = icsHostname(this.state, this.context.machineName)
    for (;;) {
      const remaining = deadline - Date.now()
      const report = await this.addressReport(id, Math.max(remaining, 5000))
      if (report.state === undefined)
        throw new BerthError(
          `Hyper-V VM ${id} of machine ${this.context.machineName} disappeared while booting`,
        )
      if (report.state === 'Off')
        throw new BerthError(
          `Hyper-V VM ${this.context.machineName} turned off while booting`,
          ExitCode.failure,
          'look at its console in Hyper-V Manager',
        )
      const last = Date.now() + POLL_MS > deadline
      const acceptIPv6 = Date.now() - started > this.ipTimeoutMs / 2
      const candidates = neighbourCandidates(report, acceptIPv6)
      const ip =
        usableAddresses(report.guestAddresses, acceptIPv6)[0] ?? (await this.host.answering(candidates))
      if (ip) return ip
      const ics = icsName && (last || acceptIPv6) ? await this.icsAddress(icsName, acceptIPv6) : undefined
      if (ics?.ip) return ics.ip
      if (last) {
        const guest = report.guestAddresses.length
          ? `Hyper-V reports only ${report.guestAddresses.join(', ')}`
          : 'Hyper-V reports none'
        const neighbours = `the neighbour table ${candidates.length ? `has ${candidates.join(', ')}, where nothing answers,` : 'has no entry'} for ${dashed(this.state.MacAddr)}`
        throw new BerthError(
          `Hyper-V VM ${this.context.machineName} got no usable IP address within ${this.ipTimeoutMs / 1000}s ` +
            `(${ics ? `${guest}, ${neighbours}, and ${ics.tried}` : `${guest} and ${neighbours}`})`,
          ExitCode.timeout,
          `check that switch ${JSON.stringify(this.state.VSwitch)} hands out addresses (DHCP); the guest reports its address to Hyper-V through the KVP daemon (hyperv-daemons)`,
        )
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS))
    }
  }

  /** NAME.mshome.net's address where the guest answers, and what was found, for the error message. */
  private async icsAddress(name: string, acceptIPv6: boolean): Promise<{ip?: string; tried: string}> {
    let addresses: string[]
    try {
      addresses = await this.host.lookup(name)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      return {
        tried:
          code === 'ENOTFOUND' || code === 'ENODATA'
            ? `${name} does not resolve`
            : `looking up ${name} failed (${code ?? oneLine(err)})`,
      }
    }
    const usable = usableAddresses(addresses, acceptIPv6)
    const ip = await this.host.answering(usable)
    return {
      ip,
      tried: usable.length
        ? `${name} resolves to ${usable.join(', ')}, where nothing answers`
        : `${name} resolves to no usable address (${addresses.join(', ') || 'none'})`,
    }
  }

  private async addressReport(id: string, timeoutMs: number): Promise<AddressReport> {
    const [vm, adapters, neighbours] = parseJsonArrays(
      await this.ps.run(scripts.addressScript(id, dashed(this.state.MacAddr)), timeoutMs),
      3,
      'the address query',
    ) as [Array<{State: string}>, Array<{IPAddresses: unknown}>, Array<{IPAddress: string; State: string}>]
    return {
      state: vm[0]?.State,
      guestAddresses: adapters.flatMap((a) => strings(a.IPAddresses)),
      neighbours: neighbours.map((n) => ({ip: n.IPAddress, state: n.State})),
    }
  }

  private requireVmId(): string {
    const id = this.vmId
    if (!id)
      throw new BerthError(
        `machine ${this.context.machineName} has no Hyper-V VM (its creation did not get that far)`,
        ExitCode.failure,
        `\`berth rm ${this.context.machineName}\` removes it`,
      )
    return id
  }

  async stop(): Promise<void> {
    await this.ps.run(scripts.stopScript(this.requireVmId(), false))
  }

  async restart(): Promise<void> {
    await this.stop()
    await this.start()
  }

  async kill(): Promise<void> {
    await this.ps.run(scripts.stopScript(this.requireVmId(), true))
  }

  /** The VM (turned off, then removed), its disks and seed; a VM already gone is fine. */
  async remove(): Promise<void> {
    const id = this.vmId
    if (this.host.powershell || id) {
      await this.ps.run(scripts.removeScript(id ? {id} : {name: this.context.machineName, notes: this.notes}))
    }
    const {vhd, vhdx, seed} = this.paths
    for (const path of [vhd, vhdx, seed]) await rm(path, {force: true})
  }

  async getState(): Promise<MachineState> {
    const id = this.vmId
    if (!id) return 'NotFound'
    const [[vm]] = parseJsonArrays(await this.ps.run(scripts.stateScript(id)), 1, 'Get-VM') as [
      Array<{State: string}>,
    ]
    return machineState(vm?.State)
  }

  /** The address Hyper-V or the neighbour table reports now; the recorded one while neither knows it. */
  async getIP(): Promise<string> {
    const id = this.requireVmId()
    const report = await this.addressReport(id, 60_000)
    if (report.state !== 'Running')
      throw new BerthError(
        `Hyper-V VM ${this.context.machineName} is not running (${report.state ?? 'gone'})`,
      )
    const ip =
      usableAddresses(report.guestAddresses, true)[0] ??
      (await firstAnswering(neighbourCandidates(report, true))) ??
      this.state.IPAddress
    if (!ip) throw new BerthError(`Hyper-V VM ${this.context.machineName} has no IP address yet`)
    return ip
  }

  async getSSHAddress(): Promise<SshAddress> {
    return {
      host: this.state.IPAddress || (await this.getIP()),
      port: this.state.SSHPort,
      user: this.state.SSHUser,
      keyPath: this.state.SSHKeyPath,
    }
  }
}

const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb])

/** The image's size, refusing formats that are not a raw disk (a footer on those would boot nothing). */
async function rawImageSize(path: string): Promise<number> {
  const handle = await open(path, 'r')
  try {
    const {size} = await stat(path)
    const head = Buffer.alloc(8)
    const tail = Buffer.alloc(8)
    await handle.read(head, 0, 8, 0)
    if (size >= 512) await handle.read(tail, 0, 8, size - 512)
    const kind = head.subarray(0, 4).equals(QCOW2_MAGIC)
      ? 'a qcow2 image'
      : head.toString('latin1') === 'vhdxfile'
        ? 'a VHDX'
        : tail.toString('latin1') === 'conectix'
          ? 'a VHD'
          : undefined
    if (kind)
      throw new BerthError(
        `the image is ${kind}, not a raw disk`,
        ExitCode.usage,
        "pass --hyperv-image-url of a raw image (.raw), e.g. Debian's genericcloud .raw",
      )
    return size
  } finally {
    await handle.close()
  }
}

function integerOption(
  values: OptionValues,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = values[name] ?? fallback
  const number = Number(value)
  if (!Number.isInteger(number) || number < min || number > max)
    throw new BerthError(`--${name} ${value} must be a whole number from ${min} to ${max}`, ExitCode.usage)
  return number
}

export const hypervDriver: DriverPlugin<HyperVState> = {
  ...descriptor,

  /** The state keeps docker-machine's Hyper-V field names (VSwitch, MemSize, CPU, DiskSize, MacAddr, VLanID, DisableDynamicMemory). */
  async configure(values: OptionValues, context: DriverContext): Promise<HyperVState> {
    const url = String(values['hyperv-image-url'] ?? DEFAULT_IMAGE_URL)
    const checksum =
      values['hyperv-image-checksum'] === undefined
        ? url === DEFAULT_IMAGE_URL
          ? DEFAULT_IMAGE_CHECKSUM
          : ''
        : String(values['hyperv-image-checksum'])
    validateImageRequest({url, checksum: checksum || undefined})
    const switchName =
      values['hyperv-virtual-switch'] === undefined ? '' : String(values['hyperv-virtual-switch'])
    if (values['hyperv-virtual-switch'] !== undefined && switchName.trim() === '')
      throw new BerthError('--hyperv-virtual-switch must not be empty', ExitCode.usage)
    const vlan =
      values['hyperv-vlan-id'] === undefined ? undefined : integerOption(values, 'hyperv-vlan-id', 0, 1, 4094)
    const memory = integerOption(values, 'hyperv-memory', 2048, 32, 12 * 1024 * 1024)
    if (memory % 2 !== 0)
      throw new BerthError(
        `--hyperv-memory ${memory} must be a multiple of 2 MB (Hyper-V assigns memory in 2 MB units)`,
        ExitCode.usage,
      )
    return baseState(context, {
      SSHUser: SSH_USER,
      VSwitch: switchName,
      // Set with VSwitch by the pre-create check: whether NAME.mshome.net may name the guest.
      VSwitchType: '',
      MemSize: memory,
      CPU: integerOption(values, 'hyperv-cpu-count', 2, 1, 240),
      DiskSize: integerOption(values, 'hyperv-disk-size', 20000, 1, 64 * 1024 * 1024),
      ImageURL: url,
      ImageChecksum: checksum,
      MacAddr:
        values['hyperv-static-macaddress'] === undefined
          ? randomMac()
          : normalizeMac(String(values['hyperv-static-macaddress'])),
      ...(vlan === undefined ? {} : {VLanID: vlan}),
      DisableDynamicMemory: Boolean(values['hyperv-disable-dynamic-memory']),
      IPTimeout: integerOption(values, 'hyperv-ip-timeout', 300, 1, 3600),
      VMId: '',
    })
  },

  load(state: HyperVState, context: DriverContext): Driver {
    const executable = findPowerShell()
    return new HyperVDriver(state, context, {
      powershell: executable ? new PowerShell(executable) : undefined,
      lookup: lookupAddresses,
      answering: (addresses) => firstAnswering(addresses),
    })
  },
}
