/**
 * A VBoxManage simulator for tests: the subcommands berth's virtualbox driver uses, answering in
 * VBoxManage's own output formats (`--machinereadable`, `list` blocks, `VBoxManage: error:`
 * lines on stderr with exit code 1), with VM, media and network state kept across calls in
 * $VBOXSIM_STATE_DIR/state.json. `startvm` boots a real lab host from the VM's attached seed ISO
 * (test/sim/lab-vm.ts): the NAT rules become forwards on 127.0.0.1, the host-only NIC a lab
 * network with the adapter's subnet and the NIC's MAC, so the guest is reachable as it would be.
 *
 * Environment:
 *   VBOXSIM_STATE_DIR  state folder (required); calls.log there records every call
 *   VBOXSIM_ENGINE     lab engine for the lab hosts (default unix:///run/berth-lab/docker.sock)
 *   VBOXSIM_VERSION    what --version prints (default 7.0.20r163906); 6.x refuses 7-only options
 *   VBOXSIM_FAIL       comma list of SUBCOMMAND[:ARG][@0]: fail that call (with @0: print the
 *                      error but exit 0, as VBoxManage sometimes does)
 *   VBOXSIM_NOT_READY  comma list of SUBCOMMAND:N: the first N such calls fail "object is not ready"
 *   VBOXSIM_NO_IP=1    guests boot, but their host-only NIC never gets an address
 *   VBOXSIM_IGNORE_ACPI=1  guests ignore the ACPI power button
 * Built into .build/ by harness.ts (buildSimulator) and run through ./VBoxManage.
 */
import {randomUUID} from 'node:crypto'
import {execFileSync} from 'node:child_process'
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import {dirname, join} from 'node:path'
import {acquireLock} from '../../../src/core/store/lock.js'
import {simLabel, SIM_LABEL} from './state.js'
import type {SimState, SimVm} from './state.js'

/** What a call prints when it needs stderr too (progress lines some subcommands write there). */
interface Progress {
  stdout: string
  stderr: string
}

class Failure extends Error {
  constructor(
    readonly lines: string[],
    readonly exitCode = 1,
  ) {
    super(lines[0])
  }
}

const env = process.env
const stateDir = env.VBOXSIM_STATE_DIR ?? ''
const engine = env.VBOXSIM_ENGINE ?? 'unix:///run/berth-lab/docker.sock'
const version = env.VBOXSIM_VERSION ?? '7.0.20r163906'
const major = Number(version.split('.')[0])
const label = simLabel(stateDir)
const labels = {[SIM_LABEL]: label}
/** The lab-host side (dockerode and more) loads only for the calls that touch a guest, so the rest answer fast. */
const labVm = () => import('../lab-vm.js')
const PROGRESS = '0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%'

function fail(message: string, code = 'E_FAIL (0x80004005)', context?: string): never {
  throw new Failure([
    `VBoxManage: error: ${message}`,
    `VBoxManage: error: Details: code ${code}, component SessionMachine, interface IMachine`,
    ...(context ? [`VBoxManage: error: Context: "${context}"`] : []),
  ])
}

/** `--opt value` and `--opt=value`; `counts` says how many values an option takes. */
function options(args: string[], counts: Record<string, number> = {}): Array<[string, string[]]> {
  const out: Array<[string, string[]]> = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (!arg.startsWith('-')) fail(`Invalid parameter '${arg}'`)
    const eq = arg.indexOf('=')
    if (eq > 0) {
      out.push([arg.slice(0, eq), [arg.slice(eq + 1)]])
      continue
    }
    const n =
      counts[arg] ??
      (/^--(register|enable|disable|delete|automount|machinereadable|transient|readonly)$/.test(arg) ? 0 : 1)
    const values = args.slice(i + 1, i + 1 + n)
    if (values.length < n) fail(`Missing argument to '${arg}'`)
    out.push([arg, values])
    i += n
  }
  return out
}

function one(opts: Array<[string, string[]]>, ...names: string[]): string | undefined {
  return opts.find(([name]) => names.includes(name))?.[1][0]
}

function findVm(state: SimState, name: string): SimVm {
  const vm = state.vms[name] ?? Object.values(state.vms).find((v) => v.uuid === name)
  if (!vm) {
    throw new Failure([
      `VBoxManage: error: Could not find a registered machine named '${name}'`,
      'VBoxManage: error: Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component VirtualBoxWrap, interface IVirtualBox, callee nsISupports',
      `VBoxManage: error: Context: "FindMachine(Bstr(a->argv[0]).raw(), machine.asOutParam())" at line 3127 of file VBoxManageInfo.cpp`,
    ])
  }
  return vm
}

function requireStopped(vm: SimVm): void {
  if (vm.state === 'running')
    fail(
      `The machine '${vm.name}' is already locked for a session (or being unlocked)`,
      'VBOX_E_INVALID_OBJECT_STATE (0x80bb0007)',
      'LockMachine(a->session, LockType_Write)',
    )
}

const labVmName = (vm: SimVm) => `vboxsim-${label}-${vm.name}`

/** VirtualBox's power state, corrected by the lab host's: a guest that died is "aborted". */
async function refreshPower(vm: SimVm): Promise<void> {
  if (vm.state !== 'running') return
  const lab = await labVm()
  if ((await lab.labVmPower(engine, labVmName(vm))) !== 'running') setPower(vm, 'aborted')
}

function setPower(vm: SimVm, power: SimVm['state']): void {
  vm.state = power
  vm.stateChanged = new Date().toISOString().replace('Z', '000000')
}

function showvminfo(vm: SimVm): string {
  const lines: Array<[string, string | number]> = [
    ['name', vm.name],
    ['groups', '/'],
    ['ostype', vm.ostype === 'Ubuntu_64' ? 'Ubuntu (64-bit)' : vm.ostype],
    ['UUID', vm.uuid],
    ['CfgFile', vm.cfgFile],
    ['SnapFldr', join(dirname(vm.cfgFile), 'Snapshots')],
    ['LogFldr', join(dirname(vm.cfgFile), 'Logs')],
    ['memory', Number(vm.settings.memory ?? 128)],
    ['cpus', Number(vm.settings.cpus ?? 1)],
    ['VMState', vm.state],
    ['VMStateChangeTime', vm.stateChanged],
  ]
  vm.controllers.forEach((c, i) => {
    lines.push(
      [`storagecontrollername${i}`, c.name],
      [`storagecontrollertype${i}`, c.type],
      [`storagecontrollerportcount${i}`, c.portcount],
    )
  })
  for (const [slot, path] of Object.entries(vm.attachments)) lines.push([`"${slot}"`, path])
  for (let nic = 1; nic <= 8; nic++) {
    const kind = vm.settings[`nic${nic}`] ?? 'none'
    lines.push([`nic${nic}`, kind === 'hostonlynet' ? 'hostonlynetwork' : kind])
    if (kind === 'none') continue
    if (kind === 'hostonly') lines.push([`hostonlyadapter${nic}`, vm.settings[`hostonlyadapter${nic}`] ?? ''])
    if (kind === 'hostonlynet')
      lines.push([`hostonly-network${nic}`, vm.settings[`host-only-net${nic}`] ?? ''])
    lines.push(
      [`macaddress${nic}`, vm.settings[`macaddress${nic}`] ?? ''],
      [`cableconnected${nic}`, vm.settings[`cableconnected${nic}`] ?? 'on'],
      [`nictype${nic}`, vm.settings[`nictype${nic}`] ?? '82540EM'],
    )
    if (kind === 'nat')
      (vm.natpf[String(nic)] ?? []).forEach((rule, i) => lines.push([`Forwarding(${i})`, rule]))
  }
  if (vm.settings.uart1)
    lines.push(['uart1', vm.settings.uart1], ['uartmode1', vm.settings.uartmode1 ?? 'disconnected'])
  vm.sharedFolders.forEach((f, i) =>
    lines.push(
      [`SharedFolderNameMachineMapping${i + 1}`, f.name],
      [`SharedFolderPathMachineMapping${i + 1}`, f.path],
    ),
  )
  return lines.map(([k, v]) => `${k}=${typeof v === 'number' ? v : JSON.stringify(v)}`).join('\n') + '\n'
}

const V7_ONLY = new Set(['--audio-enabled', '--audio-driver', '--audio-controller'])
const MODIFYVM_OPTIONS =
  /^--(cpus|memory|acpi|ioapic|rtcuseutc|firmware|audio|audio-enabled|boot[1-4]|uart[1-4]|uartmode[1-4]|nic[1-8]|nictype[1-8]|macaddress[1-8]|cableconnected[1-8]|natdnshostresolver[1-8]|natpf[1-8]|hostonlyadapter[1-8]|host-only-adapter[1-8]|host-only-net[1-8]|ostype|vram|graphicscontroller|description)$/

function modifyvm(vm: SimVm, args: string[]): void {
  requireStopped(vm)
  const counts: Record<string, number> = {}
  for (let n = 1; n <= 4; n++) {
    counts[`--uart${n}`] = args[args.indexOf(`--uart${n}`) + 1] === 'off' ? 1 : 2
    counts[`--uartmode${n}`] = ['file', 'server', 'client', 'tcpserver', 'tcpclient'].includes(
      args[args.indexOf(`--uartmode${n}`) + 1] ?? '',
    )
      ? 2
      : 1
  }
  for (let n = 1; n <= 8; n++)
    counts[`--natpf${n}`] = args[args.indexOf(`--natpf${n}`) + 1] === 'delete' ? 2 : 1
  for (const [name, values] of options(args, counts)) {
    if (
      !MODIFYVM_OPTIONS.test(name) ||
      (major < 7 && (V7_ONLY.has(name) || name.startsWith('--host-only-net')))
    ) {
      throw new Failure([`VBoxManage: error: Unknown option: ${name}`])
    }
    const key = name.slice(2)
    const natpf = /^natpf(\d)$/.exec(key)
    if (natpf) {
      const rules = (vm.natpf[natpf[1]!] ??= [])
      if (values[0] === 'delete') {
        vm.natpf[natpf[1]!] = rules.filter((r) => r.split(',')[0] !== values[1])
        continue
      }
      const fields = values[0]!.split(',')
      if (
        fields.length !== 6 ||
        !/^(tcp|udp)$/.test(fields[1]!) ||
        !/^\d+$/.test(fields[3]!) ||
        !/^\d+$/.test(fields[5]!)
      )
        fail(`Invalid NAT rule '${values[0]}'`, 'E_INVALIDARG (0x80070057)')
      if (rules.some((r) => r.split(',')[0] === fields[0]))
        fail(`A NAT rule of this name already exists`, 'E_INVALIDARG (0x80070057)')
      rules.push(values[0]!)
      continue
    }
    if (/^(uart|uartmode)\d$/.test(key)) {
      vm.settings[key] = key.startsWith('uartmode')
        ? values.join(',')
        : `${values[0]!.toLowerCase().replace(/^0x/, '0x0')},${values[1] ?? ''}`
      continue
    }
    if (/^macaddress\d$/.test(key) && !/^[0-9A-Fa-f]{12}$/.test(values[0]!))
      fail(`Invalid MAC address format '${values[0]}'`, 'E_INVALIDARG (0x80070057)')
    if (key === 'memory' && Number(values[0]) < 4) fail('Invalid RAM size', 'E_INVALIDARG (0x80070057)')
    vm.settings[key.replace(/^host-only-adapter/, 'hostonlyadapter')] = values[0]!
  }
}

function register(state: SimState, path: string, type: 'disk' | 'dvd'): string {
  return (state.media[path] ??= {uuid: randomUUID(), type}).uuid
}

function attachedTo(state: SimState, path: string): SimVm[] {
  return Object.values(state.vms).filter((vm) => Object.values(vm.attachments).includes(path))
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, p) => ((acc << 8) | Number(p)) >>> 0, 0)
}

function prefixOf(mask: string): number {
  return ipToInt(mask).toString(2).replace(/0+$/, '').length
}

/** Since 6.1.28, host-only addresses outside 192.168.56.0/21 are refused unless networks.conf allows them. */
function checkHostOnlyRange(ip: string): void {
  const value = ipToInt(ip)
  if ((value & 0xfffff800) >>> 0 !== ipToInt('192.168.56.0')) {
    throw new Failure([
      'VBoxManage: error: Code E_ACCESSDENIED (0x80070005) - Access denied (extended info not available)',
      'VBoxManage: error: Context: "EnableStaticIPConfig(Bstr(pszIp).raw(), Bstr(pszNetmask).raw())" at line 242 of file VBoxManageHostonly.cpp',
    ])
  }
}

/** What the guest's NIC sees: the host-only network as a lab network, or the NAT side as the default bridge. */
function intToIp(value: number): string {
  return [24, 16, 8, 0].map((s) => (value >>> s) & 255).join('.')
}

/** The lowest address of the DHCP range no other VM of this state holds. */
function lease(state: SimState, vm: SimVm, lower: string, upper: string): string {
  const taken = new Set(
    Object.values(state.vms)
      .filter((v) => v !== vm)
      .map((v) => v.lease),
  )
  for (let ip = ipToInt(lower); ip <= ipToInt(upper); ip++) if (!taken.has(intToIp(ip))) return intToIp(ip)
  fail('The DHCP server has no free address left')
}

async function guestNetwork(
  state: SimState,
  vm: SimVm,
): Promise<{mac: string; network?: string; ip?: string}> {
  const lab = await labVm()
  const nic2 = vm.settings.nic2
  const natMac = vm.settings.macaddress1 ?? ''
  const toColons = (mac: string) => mac.toLowerCase().match(/../g)!.join(':')
  if (nic2 === 'hostonly') {
    const adapter = state.hostonlyifs.find((i) => i.name === vm.settings.hostonlyadapter2)
    if (!adapter)
      fail(
        `Nonexistent host networking interface, name '${vm.settings.hostonlyadapter2}' (VERR_INTERNAL_ERROR)`,
      )
    const network = `vboxsim-${label}-${adapter.name}`
    await lab.ensureLabNetwork(engine, network, `${adapter.ip}/${prefixOf(adapter.mask)}`, labels)
    // Without a DHCP server on the adapter, the guest's NIC stays without an address.
    const dhcp = state.dhcpservers.find((d) => d.network === `HostInterfaceNetworking-${adapter.name}`)
    const noAddress = !dhcp || env.VBOXSIM_NO_IP === '1'
    vm.lease = dhcp ? lease(state, vm, dhcp.lower, dhcp.upper) : undefined
    return {
      mac: noAddress ? '0a:5e:00:00:00:01' : toColons(vm.settings.macaddress2 ?? ''),
      network,
      ip: vm.lease,
    }
  }
  if (nic2 === 'hostonlynet') {
    const net = state.hostonlynets.find((n) => n.name === vm.settings['host-only-net2'])
    if (!net) fail(`Host-only network '${vm.settings['host-only-net2']}' does not exist`)
    const gateway = ((ipToInt(net.lower) & ipToInt(net.mask)) + 1) >>> 0
    const network = `vboxsim-${label}-${net.name}`
    await lab.ensureLabNetwork(engine, network, `${intToIp(gateway)}/${prefixOf(net.mask)}`, labels)
    vm.lease = lease(state, vm, net.lower, net.upper)
    return {
      mac: env.VBOXSIM_NO_IP === '1' ? '0a:5e:00:00:00:01' : toColons(vm.settings.macaddress2 ?? ''),
      network,
      ip: vm.lease,
    }
  }
  return {mac: toColons(natMac)}
}

async function startvm(state: SimState, vm: SimVm, type: string): Promise<string> {
  const lab = await labVm()
  if (!['headless', 'gui', 'sdl', 'separate'].includes(type))
    fail(`Invalid session type '${type}'`, 'E_INVALIDARG (0x80070057)')
  await refreshPower(vm)
  if (vm.state === 'running')
    fail(
      `The machine '${vm.name}' is already locked by a session (or being locked or unlocked)`,
      'VBOX_E_INVALID_OBJECT_STATE (0x80bb0007)',
    )
  if (!vm.attachments['SATA-0-0']) fail('No bootable medium found! System halted.')
  const name = labVmName(vm)
  if (vm.booted && (await lab.labVmPower(engine, name)) !== 'gone') {
    await lab.startLabVm(engine, name)
  } else {
    const iso = Object.entries(vm.attachments).find(([, path]) => state.media[path]?.type === 'dvd')?.[1]
    const seed = iso
      ? lab.readSeedIso(iso)
      : {volumeId: '', hostname: vm.name, instanceId: vm.uuid, users: [], groups: [], macs: [], runcmd: []}
    const {mac, network, ip} = await guestNetwork(state, vm)
    const publish = (vm.natpf['1'] ?? [])
      .map((rule) => rule.split(','))
      .filter((f) => f[1] === 'tcp' && ['', '127.0.0.1'].includes(f[2]!))
      .map((f) => ({hostPort: Number(f[3]), guestPort: Number(f[5])}))
    await lab.bootLabVm({engine, name, seed, mac, network, ip, publish, labels})
    vm.booted = true
  }
  setPower(vm, 'running')
  return `Waiting for VM "${vm.name}" to power on...\nVM "${vm.name}" has been successfully started.\n`
}

async function controlvm(vm: SimVm, action: string, args: string[]): Promise<string> {
  const lab = await labVm()
  await refreshPower(vm)
  if (vm.state !== 'running') fail(`Machine '${vm.name}' is not currently running`)
  switch (action) {
    case 'acpipowerbutton':
      // The guest shuts down by itself afterwards; the simulator lets it finish before answering.
      if (env.VBOXSIM_IGNORE_ACPI !== '1') {
        await lab.stopLabVm(engine, labVmName(vm))
        setPower(vm, 'poweroff')
      }
      return ''
    case 'poweroff':
      await lab.killLabVm(engine, labVmName(vm))
      setPower(vm, 'poweroff')
      return `${PROGRESS}\n`
    case 'natpf1': {
      if (args[0] === 'delete')
        vm.natpf['1'] = (vm.natpf['1'] ?? []).filter((r) => r.split(',')[0] !== args[1])
      else (vm.natpf['1'] ??= []).push(args[0] ?? '')
      return ''
    }
    default:
      throw new Failure([`VBoxManage: error: Invalid parameter '${action}'`])
  }
}

async function unregistervm(state: SimState, vm: SimVm, del: boolean): Promise<string> {
  const lab = await labVm()
  await refreshPower(vm)
  if (vm.state === 'running')
    fail(
      `Cannot unregister the machine '${vm.name}' while it is locked`,
      'VBOX_E_INVALID_OBJECT_STATE (0x80bb0007)',
      'Unregister(CleanupMode_DetachAllReturnHardDisksOnly)',
    )
  await lab.removeLabVm(engine, labVmName(vm))
  delete state.vms[vm.name]
  if (!del) return ''
  // --delete removes the hard disks, the settings file and logs; DVD images stay.
  for (const path of Object.values(vm.attachments)) {
    if (state.media[path]?.type !== 'disk') continue
    rmSync(path, {force: true})
    delete state.media[path]
  }
  rmSync(dirname(vm.cfgFile), {recursive: true, force: true})
  return `${PROGRESS}\n`
}

/** qemu-img's names for the VD backends convertfromraw writes. */
const QEMU_FORMATS: Record<string, string> = {vdi: 'vdi', vmdk: 'vmdk', vhd: 'vpc'}

/**
 * `convertfromraw SRC DST [--format VDI|VMDK|VHD] [--variant Standard|Fixed,...] [--static] [--uuid U]`,
 * as VBoxManage does it: through the storage layer, not the media registry (the new image is not
 * registered), progress on stderr, sizes not whole sectors refused, a half-written image deleted.
 * The image is a real one of that format (qemu-img writes it).
 */
function convertFromRaw(args: string[]): Progress {
  const positional: string[] = []
  let format = 'VDI'
  let fixed = false
  for (let i = 0; i < args.length; i++) {
    const [name, inline] = args[i]!.startsWith('-')
      ? (args[i]!.split(/=(.*)/s) as [string, string | undefined])
      : [args[i]!, undefined]
    const value = () => inline ?? args[++i] ?? fail(`${name}: missing argument`)
    if (!name.startsWith('-')) positional.push(name)
    else if (name === '--format' || name === '-format') format = value()
    else if (name === '--variant' || name === '-variant') fixed = /\bfixed\b/i.test(value())
    else if (name === '--static' || name === '-static') fixed = true
    else if (name === '--uuid') value()
    else throw new Failure([`VBoxManage: error: Unknown option: ${name}`])
  }
  const [source, target] = positional
  if (!source || !target || positional.length > 2)
    throw new Failure(['VBoxManage: error: Incorrect number of parameters'])
  const stderr = [`Converting from raw image file="${source}" to file="${target}"...`]
  const cannotCreate = (lines: string[], code: string) =>
    new Failure([
      ...stderr,
      ...lines.map((l) => `VBoxManage: error: ${l}`),
      `VBoxManage: error: Cannot create the disk image "${target}": ${code}`,
    ])
  if (!existsSync(source))
    throw new Failure([...stderr, `VBoxManage: error: Cannot open file "${source}": VERR_FILE_NOT_FOUND`])
  const size = statSync(source).size
  stderr.push(
    `Creating ${fixed ? 'fixed' : 'dynamic'} image with size ${size} bytes (${Math.ceil(size / 1048576)}MB)...`,
  )
  const qemuFormat = QEMU_FORMATS[format.toLowerCase()]
  if (!qemuFormat) throw cannotCreate([`VD: unknown backend name '${format}'`], 'VERR_INVALID_PARAMETER')
  if (size % 512 !== 0) {
    throw cannotCreate(
      [
        `VD: The given disk size ${size} is not aligned on a sector boundary (512 bytes)`,
        'Error code VERR_VD_INVALID_SIZE at /home/vbox/tinderbox/build-VBox-7.0/svn/src/VBox/Storage/VD.cpp(6052) in function int VDCreateBase()',
      ],
      'VERR_VD_INVALID_SIZE',
    )
  }
  if (existsSync(target))
    throw cannotCreate([`${format.toUpperCase()}: cannot create image '${target}'`], 'VERR_ALREADY_EXISTS')
  try {
    execFileSync(
      'qemu-img',
      [
        'convert',
        '-f',
        'raw',
        '-O',
        qemuFormat,
        ...(fixed && qemuFormat === 'vdi' ? ['-o', 'static=on'] : []),
        source,
        target,
      ],
      {stdio: ['ignore', 'ignore', 'pipe']},
    )
  } catch (err) {
    rmSync(target, {force: true})
    throw new Failure([
      ...stderr,
      `VBoxManage: error: Failed to write to disk image "${target}": ${String((err as {stderr?: unknown}).stderr ?? err).trim()}`,
    ])
  }
  return {stdout: '', stderr: stderr.join('\n') + '\n'}
}

function list(state: SimState, what: string): string {
  switch (what) {
    case 'vms':
      return Object.values(state.vms)
        .map((vm) => `"${vm.name}" {${vm.uuid}}\n`)
        .join('')
    case 'runningvms':
      return Object.values(state.vms)
        .filter((vm) => vm.state === 'running')
        .map((vm) => `"${vm.name}" {${vm.uuid}}\n`)
        .join('')
    case 'hostonlyifs':
      return state.hostonlyifs
        .map((i) =>
          [
            `Name:            ${i.name}`,
            `GUID:            ${i.guid}`,
            'DHCP:            Disabled',
            `IPAddress:       ${i.ip}`,
            `NetworkMask:     ${i.mask}`,
            'IPV6Address:     ',
            'IPV6NetworkMaskPrefixLength: 0',
            `HardwareAddress: ${i.mac}`,
            'MediumType:      Ethernet',
            'Wireless:        No',
            'Status:          Up',
            `VBoxNetworkName: HostInterfaceNetworking-${i.name}`,
            '',
            '',
          ].join('\n'),
        )
        .join('')
    case 'hostonlynets':
      if (major < 7) throw new Failure(["VBoxManage: error: Unknown subcommand 'hostonlynets'"])
      return state.hostonlynets
        .map((n) =>
          [
            `Name:            ${n.name}`,
            `GUID:            ${n.guid}`,
            '',
            'State:           Enabled',
            `NetworkMask:     ${n.mask}`,
            `LowerIP:         ${n.lower}`,
            `UpperIP:         ${n.upper}`,
            `VBoxNetworkName: hostonly-${n.name}`,
            '',
            '',
          ].join('\n'),
        )
        .join('')
    case 'dhcpservers':
      return state.dhcpservers
        .map((d) =>
          [
            `NetworkName:    ${d.network}`,
            `Dhcpd IP:       ${d.ip}`,
            `LowerIPAddress: ${d.lower}`,
            `UpperIPAddress: ${d.upper}`,
            `NetworkMask:    ${d.mask}`,
            'Enabled:        Yes',
            '',
            '',
          ].join('\n'),
        )
        .join('')
    default:
      throw new Failure([`VBoxManage: error: Unknown subcommand '${what}'`])
  }
}

async function execute(state: SimState, argv: string[]): Promise<string | Progress> {
  const [sub = '', ...rest] = argv
  switch (sub) {
    case '--version':
    case '-v':
    case '-V':
      return `${version}\n`
    case 'list':
      return list(state, rest[0] ?? '')
    case 'showvminfo': {
      const vm = findVm(state, rest[0] ?? '')
      await refreshPower(vm)
      return showvminfo(vm)
    }
    case 'createvm': {
      const opts = options(rest)
      const name = one(opts, '--name')
      if (!name) fail('Missing --name')
      const base = one(opts, '--basefolder') ?? join(stateDir, 'VirtualBox VMs')
      const cfgFile = join(base, name, `${name}.vbox`)
      if (state.vms[name] || existsSync(cfgFile))
        fail(`Machine settings file '${cfgFile}' already exists`, 'VBOX_E_FILE_ERROR (0x80bb0004)')
      mkdirSync(dirname(cfgFile), {recursive: true})
      const uuid = randomUUID()
      writeFileSync(
        cfgFile,
        `<?xml version="1.0"?>\n<VirtualBox xmlns="http://www.virtualbox.org/" version="1.19-linux">\n  <Machine uuid="{${uuid}}" name="${name}"/>\n</VirtualBox>\n`,
      )
      if (!opts.some(([o]) => o === '--register'))
        return `Virtual machine '${name}' is created.\nUUID: ${uuid}\nSettings file: '${cfgFile}'\n`
      state.vms[name] = {
        name,
        uuid,
        cfgFile,
        ostype: one(opts, '--ostype') ?? 'Other',
        settings: {},
        natpf: {},
        controllers: [],
        attachments: {},
        sharedFolders: [],
        state: 'poweroff',
        stateChanged: new Date().toISOString(),
        booted: false,
      }
      return `Virtual machine '${name}' is created and registered.\nUUID: ${uuid}\nSettings file: '${cfgFile}'\n`
    }
    case 'modifyvm':
      modifyvm(findVm(state, rest[0] ?? ''), rest.slice(1))
      return ''
    case 'storagectl': {
      const vm = findVm(state, rest[0] ?? '')
      requireStopped(vm)
      const opts = options(rest.slice(1))
      const name = one(opts, '--name') ?? ''
      if (vm.controllers.some((c) => c.name === name))
        fail(`Storage controller named '${name}' already exists`, 'VBOX_E_OBJECT_IN_USE (0x80bb000c)')
      vm.controllers.push({
        name,
        type: one(opts, '--controller') ?? 'IntelAhci',
        portcount: Number(one(opts, '--portcount') ?? 30),
      })
      return ''
    }
    case 'storageattach': {
      const vm = findVm(state, rest[0] ?? '')
      requireStopped(vm)
      const opts = options(rest.slice(1))
      const controller = vm.controllers.find((c) => c.name === one(opts, '--storagectl'))
      if (!controller)
        fail(
          `Could not find a controller named '${one(opts, '--storagectl')}'`,
          'VBOX_E_OBJECT_NOT_FOUND (0x80bb0001)',
        )
      const port = Number(one(opts, '--port'))
      if (port >= controller.portcount)
        fail(
          `The port ${port} is out of range for controller '${controller.name}'`,
          'E_INVALIDARG (0x80070057)',
        )
      const medium = one(opts, '--medium') ?? ''
      const slot = `${controller.name}-${port}-${one(opts, '--device') ?? '0'}`
      if (medium === 'none' || medium === 'emptydrive') {
        delete vm.attachments[slot]
        return ''
      }
      if (!existsSync(medium))
        fail(
          `Could not find file for the medium '${medium}' (VERR_FILE_NOT_FOUND)`,
          'VBOX_E_FILE_ERROR (0x80bb0004)',
        )
      register(state, medium, one(opts, '--type') === 'dvddrive' ? 'dvd' : 'disk')
      vm.attachments[slot] = medium
      return ''
    }
    case 'clonemedium':
    case 'clonehd': {
      const [kind, source, target, ...more] = sub === 'clonehd' ? ['disk', ...rest] : rest
      if (kind !== 'disk' || !source || !target) fail('Syntax error: clonemedium disk SOURCE TARGET')
      if (!existsSync(source))
        fail(
          `Could not find file for the medium '${source}' (VERR_FILE_NOT_FOUND)`,
          'VBOX_E_FILE_ERROR (0x80bb0004)',
        )
      if (existsSync(target) || state.media[target])
        fail(
          `Cannot register the hard disk '${target}' because a hard disk '${target}' already exists`,
          'E_INVALIDARG (0x80070057)',
        )
      const format = one(options(more), '--format') ?? 'VDI'
      copyFileSync(source, target)
      register(state, source, 'disk')
      return `${PROGRESS}\nClone medium created in format '${format}'. UUID: ${register(state, target, 'disk')}\n`
    }
    case 'convertfromraw':
    case 'convertdd':
      return convertFromRaw(rest)
    case 'modifymedium':
    case 'modifyhd': {
      const [kind, path, ...more] = sub === 'modifyhd' ? ['disk', ...rest] : rest
      if (kind !== 'disk' || !path || !existsSync(path))
        fail(
          `Could not find file for the medium '${path}' (VERR_FILE_NOT_FOUND)`,
          'VBOX_E_FILE_ERROR (0x80bb0004)',
        )
      register(state, path, 'disk')
      const resize = one(options(more), '--resize')
      if (resize) state.media[path]!.sizeMb = Number(resize)
      return `${PROGRESS}\n`
    }
    case 'closemedium': {
      const [kind, path, ...more] = rest
      if (!path || (!existsSync(path) && !state.media[path]))
        fail(
          `Could not find file for the medium '${path}' (VERR_FILE_NOT_FOUND)`,
          'VBOX_E_FILE_ERROR (0x80bb0004)',
        )
      const users = attachedTo(state, path)
      if (users.length)
        fail(
          `Cannot close medium '${path}' because it is still attached to ${users.length} virtual machines`,
          'VBOX_E_OBJECT_IN_USE (0x80bb000c)',
        )
      delete state.media[path]
      if (more.includes('--delete') && kind === 'disk') rmSync(path, {force: true})
      return more.includes('--delete') ? `${PROGRESS}\n` : ''
    }
    case 'startvm': {
      const vm = findVm(state, rest[0] ?? '')
      return startvm(state, vm, one(options(rest.slice(1)), '--type') ?? 'gui')
    }
    case 'controlvm':
      return controlvm(findVm(state, rest[0] ?? ''), rest[1] ?? '', rest.slice(2))
    case 'unregistervm':
      return unregistervm(state, findVm(state, rest[0] ?? ''), rest.includes('--delete'))
    case 'hostonlyif': {
      const [action, name, ...more] = rest
      if (action === 'create') {
        let n = 0
        while (state.hostonlyifs.some((i) => i.name === `vboxnet${n}`)) n++
        state.hostonlyifs.push({
          name: `vboxnet${n}`,
          ip: `192.168.${56 + n}.1`,
          mask: '255.255.255.0',
          guid: randomUUID(),
          mac: `0a:00:27:00:00:${n.toString(16).padStart(2, '0')}`,
        })
        return `${PROGRESS}\nInterface 'vboxnet${n}' was successfully created\n`
      }
      const adapter = state.hostonlyifs.find((i) => i.name === name)
      if (!adapter) fail(`Could not find a host interface named '${name}'`, 'E_INVALIDARG (0x80070057)')
      if (action === 'ipconfig') {
        const opts = options(more)
        const ip = one(opts, '--ip') ?? adapter.ip
        checkHostOnlyRange(ip)
        adapter.ip = ip
        adapter.mask = one(opts, '--netmask') ?? '255.255.255.0'
        return ''
      }
      if (action === 'remove') {
        state.hostonlyifs = state.hostonlyifs.filter((i) => i !== adapter)
        return `${PROGRESS}\n`
      }
      throw new Failure([`VBoxManage: error: Invalid parameter '${action}'`])
    }
    case 'hostonlynet': {
      if (major < 7) throw new Failure(["VBoxManage: error: Invalid command 'hostonlynet'"])
      const [action, ...more] = rest
      const opts = options(more)
      const name = one(opts, '--name') ?? ''
      if (action === 'add') {
        if (state.hostonlynets.some((n) => n.name === name))
          fail(`Host-only network '${name}' already exists`)
        const lower = one(opts, '--lower-ip') ?? ''
        checkHostOnlyRange(lower)
        state.hostonlynets.push({
          name,
          mask: one(opts, '--netmask') ?? '255.255.255.0',
          lower,
          upper: one(opts, '--upper-ip') ?? '',
          guid: randomUUID(),
        })
        return ''
      }
      if (action === 'remove') {
        state.hostonlynets = state.hostonlynets.filter((n) => n.name !== name)
        return ''
      }
      throw new Failure([`VBoxManage: error: Invalid parameter '${action}'`])
    }
    case 'dhcpserver': {
      const [action, ...more] = rest
      const opts = options(more)
      const ifname = one(opts, '--interface', '--ifname')
      const network = ifname
        ? `HostInterfaceNetworking-${ifname}`
        : (one(opts, '--network', '--netname') ?? '')
      if (action !== 'add') throw new Failure([`VBoxManage: error: Invalid parameter '${action}'`])
      if (ifname && !state.hostonlyifs.some((i) => i.name === ifname))
        fail(`Could not find a host interface named '${ifname}'`, 'E_INVALIDARG (0x80070057)')
      if (state.dhcpservers.some((d) => d.network === network))
        fail('DHCP server already exists', 'E_INVALIDARG (0x80070057)')
      state.dhcpservers.push({
        network,
        ip: one(opts, '--server-ip', '--ip') ?? '',
        mask: one(opts, '--netmask') ?? '',
        lower: one(opts, '--lower-ip', '--lowerip') ?? '',
        upper: one(opts, '--upper-ip', '--upperip') ?? '',
      })
      return ''
    }
    case 'sharedfolder': {
      const [action, vmName, ...more] = rest
      const vm = findVm(state, vmName ?? '')
      const opts = options(more)
      const path = one(opts, '--hostpath') ?? ''
      if (action !== 'add') throw new Failure([`VBoxManage: error: Invalid parameter '${action}'`])
      if (!existsSync(path))
        fail(`Shared folder path '${path}' does not exist on the host`, 'E_INVALIDARG (0x80070057)')
      vm.sharedFolders.push({name: one(opts, '--name') ?? '', path})
      return ''
    }
    default:
      throw new Failure([`VBoxManage: error: Invalid command '${sub}'`, '', 'Syntax error: Invalid command'])
  }
}

/** VBOXSIM_FAIL / VBOXSIM_NOT_READY: the injected faults that apply to this call. */
function injectedFault(state: SimState, argv: string[]): Failure | undefined {
  const sub = argv[0] ?? ''
  for (const spec of (env.VBOXSIM_FAIL ?? '').split(',').filter(Boolean)) {
    const [match, exit] = spec.split('@') as [string, string | undefined]
    const [name, arg] = match.split(':') as [string, string | undefined]
    if (name === sub && (!arg || argv.includes(arg))) {
      return new Failure(
        [
          `VBoxManage: error: The simulated host refused ${sub}${arg ? ` ${arg}` : ''} (VBOXSIM_FAIL)`,
          'VBoxManage: error: Details: code E_FAIL (0x80004005), component SessionMachine, interface IMachine',
        ],
        exit === '0' ? 0 : 1,
      )
    }
  }
  for (const spec of (env.VBOXSIM_NOT_READY ?? '').split(',').filter(Boolean)) {
    const [name, times] = spec.split(':') as [string, string]
    if (name !== sub) continue
    const key = `not-ready:${sub}`
    state.calls[key] = (state.calls[key] ?? 0) + 1
    if (state.calls[key]! <= Number(times)) {
      return new Failure([
        'VBoxManage: error: The object is not ready',
        'VBoxManage: error: Details: code E_ACCESSDENIED (0x80070005), component SessionMachine, interface IMachine',
      ])
    }
  }
  return undefined
}

async function main(): Promise<number> {
  if (!stateDir) {
    process.stderr.write('VBoxManage: error: VBOXSIM_STATE_DIR is not set (this is the test simulator)\n')
    return 1
  }
  mkdirSync(stateDir, {recursive: true})
  const argv = process.argv.slice(2)
  appendFileSync(
    join(stateDir, 'calls.log'),
    JSON.stringify({argv, lang: env.LANG, lcAll: env.LC_ALL}) + '\n',
  )
  const release = await acquireLock(join(stateDir, 'state.lock'), 'VBoxManage simulator', 120_000)
  const statePath = join(stateDir, 'state.json')
  try {
    const state: SimState = existsSync(statePath)
      ? JSON.parse(readFileSync(statePath, 'utf8'))
      : {vms: {}, media: {}, hostonlyifs: [], hostonlynets: [], dhcpservers: [], calls: {}}
    let output: Progress = {stdout: '', stderr: ''}
    let failure = injectedFault(state, argv)
    if (!failure) {
      try {
        const result = await execute(state, argv)
        output = typeof result === 'string' ? {stdout: result, stderr: ''} : result
      } catch (err) {
        failure = err instanceof Failure ? err : new Failure([`VBoxManage: error: ${(err as Error).message}`])
      }
    }
    writeFileSync(statePath + '.tmp', JSON.stringify(state, null, 2))
    renameSync(statePath + '.tmp', statePath)
    process.stdout.write(output.stdout)
    process.stderr.write(output.stderr)
    if (failure) {
      process.stderr.write(failure.lines.join('\n') + '\n')
      return failure.exitCode
    }
    return 0
  } finally {
    await release()
  }
}

process.exitCode = await main()
