/**
 * A PowerShell with Hyper-V for the e2e tests, installed on PATH as `powershell.exe` and `pwsh`.
 * It accepts exactly `-NoProfile -NonInteractive -Command SCRIPT` with the driver's prelude,
 * parses the script (language.ts), runs the Hyper-V cmdlets the driver uses against VM state kept
 * in $HYPERV_SIM_STATE, and answers as `ConvertTo-Json` would. Start-VM boots a real lab host
 * configured from the seed ISO on the VM's DVD drive (test/sim/lab-vm.ts). Hyper-V reports a
 * guest's addresses only while the guest runs its KVP daemon; a lab host has no VMBus to run it
 * on, so one that has it installed and enabled (by the seed's runcmd, in the lab host, for real)
 * stands for one that runs it. Disks are converted for real by qemu-img, which also checks the VHD.
 *
 * Environment:
 *   HYPERV_SIM_STATE   folder for the simulator's state (required)
 *   HYPERV_SIM_ENGINE  lab engine for the guests (default unix:///run/berth-lab/docker.sock)
 *   HYPERV_SIM_NETWORK lab network the switches lead to (default: the engine's bridge)
 *   HYPERV_SIM_FAULTS  comma-separated: not-admin, hyperv-admins (not elevated, but in Hyper-V
 *                      Administrators: allowed), no-module, no-switch, no-ip (the guest never
 *                      gets an address), no-kvp (no guest-reported addresses, even with the KVP
 *                      daemon; the host's real neighbour table still knows it), convert-fails,
 *                      start-hangs (Start-VM returns only once the VM is removed), new-lease (a VM
 *                      started again gets another address, as from a DHCP server that gave the
 *                      old one away; needs HYPERV_SIM_NETWORK), pre-1709 (the Hyper-V of Windows
 *                      10 before 1709 and of Server 2016: no automatic checkpoints, and Set-VM
 *                      has no -AutomaticCheckpointsEnabled)
 */
import {execFileSync} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {
  Command,
  IfStatement,
  MemberExpression,
  parseScript,
  ParseError,
  Pipeline,
  Property,
  Statement,
  Value,
} from './language.js'

const PRELUDE =
  "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'; $WarningPreference = 'SilentlyContinue'; [Console]::OutputEncoding = New-Object Text.UTF8Encoding $false; try { "
const EPILOGUE = ' } catch { [Console]::Error.WriteLine($_.Exception.Message); exit 1 }'
const PREFLIGHT =
  '$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent()); ' +
  'ConvertTo-Json -Compress -Depth 4 -InputObject @([pscustomobject]@{' +
  "HyperVModule = @(Get-Module -ListAvailable -Name 'Hyper-V').Count -gt 0; " +
  'Administrator = $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator); ' +
  "HyperVAdministrator = $principal.IsInRole([Security.Principal.SecurityIdentifier]'S-1-5-32-578')})"
const DEFAULT_SWITCH_ID = 'c08cb7b8-9b3c-408e-8e30-5e16a3aeb444'
/** The switches of the simulated host: the Default Switch and an External one whose name needs quoting. */
const SIM_SWITCHES = [
  {Name: 'Default Switch', Id: DEFAULT_SWITCH_ID, SwitchType: 'Internal'},
  {Name: `Bob's "LAN" $uplink; x`, Id: '2f0e6b0c-4a7e-4b8e-9c55-1b2a3c4d5e6f', SwitchType: 'External'},
]

const stateDir = process.env.HYPERV_SIM_STATE ?? ''
const engine = process.env.HYPERV_SIM_ENGINE ?? 'unix:///run/berth-lab/docker.sock'
const network = process.env.HYPERV_SIM_NETWORK || undefined
/** Loaded only when a call touches a guest, so the other calls start without dockerode (as lab-vm.ts advises). */
const labVm = () => import('../lab-vm.js')
const guestEngine = async () => (await import('../../../drivers/container/engine.js')).localEngine(engine)
const faults = new Set(
  (process.env.HYPERV_SIM_FAULTS ?? '')
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean),
)

/** What the simulator keeps per VM, with Hyper-V's property names. */
export interface SimVm {
  Id: string
  Name: string
  Path: string
  Generation: number
  VHDPath: string
  BootDevice: string
  SwitchName: string
  MemoryStartupBytes: number
  Notes: string
  /** Absent on a Hyper-V older than Windows 10 1709 (pre-1709), which has no automatic checkpoints. */
  AutomaticCheckpointsEnabled?: boolean
  SecureBoot: boolean
  ProcessorCount: number
  DynamicMemoryEnabled: boolean
  MacAddress: string
  VlanId?: number
  DvdDrives: string[]
  /** Set by Start-VM: what the lab host container is called, the address it got, whether it has the KVP daemon. */
  Guest?: string
  Lease?: string
  KvpDaemon?: boolean
  /** The sim's own log of state-changing cmdlets, for the tests. */
  History: string[]
  /**
   * The addresses each Get-NetNeighbor for the VM's MAC answered with, for the tests: the kernel may age an
   * entry out (or fail its probe) right after the driver read it, so a later look at the table proves nothing.
   */
  NeighbourAnswers?: string[][]
}

/** A cmdlet failure: PowerShell prints the message and (in the driver's try/catch) exits 1. */
class CmdletError extends Error {}

type Obj = Record<string, unknown>

const vmFile = (id: string) => join(stateDir, 'vms', `${id}.json`)

function loadVms(): SimVm[] {
  const dir = join(stateDir, 'vms')
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as SimVm)
}

function saveVm(vm: SimVm): void {
  mkdirSync(join(stateDir, 'vms'), {recursive: true})
  const tmp = `${vmFile(vm.Id)}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(vm, null, 2))
  renameSync(tmp, vmFile(vm.Id))
}

function record(vm: SimVm, entry: string): void {
  vm.History.push(entry)
  saveVm(vm)
}

/** Virtual sizes Resize-VHD set (qemu-img cannot resize a VHDX). */
function diskSizes(): Record<string, number> {
  const path = join(stateDir, 'disks.json')
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, number>) : {}
}

function setDiskSize(path: string, size: number): void {
  writeFileSync(join(stateDir, 'disks.json'), JSON.stringify({...diskSizes(), [path]: size}))
}

function qemuInfo(args: string[]): {'virtual-size': number; format: string} {
  try {
    return JSON.parse(
      execFileSync('qemu-img', ['info', '--output', 'json', ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    )
  } catch (err) {
    const stderr = String((err as {stderr?: unknown}).stderr ?? err).trim()
    throw new CmdletError(stderr.split('\n')[0]!.replace(/^qemu-img: /, ''))
  }
}

const guestName = (vm: SimVm) => `hyperv-sim-${vm.Id.slice(0, 8)}-${vm.Name}`.slice(0, 63)

async function vmState(vm: SimVm): Promise<string> {
  if (!vm.Guest) return vm.History.at(-1) === 'Start-VM (no bootable OS)' ? 'Running' : 'Off'
  const power = await (await labVm()).labVmPower(engine, vm.Guest)
  return power === 'running' ? 'Running' : 'Off'
}

/** The guest's addresses as the KVP daemon would report them: link-local IPv6 first, as Hyper-V often lists it. */
async function guestAddresses(vm: SimVm): Promise<string[]> {
  if (
    !vm.Guest ||
    !vm.KvpDaemon ||
    faults.has('no-ip') ||
    faults.has('no-kvp') ||
    (await vmState(vm)) !== 'Running'
  )
    return []
  const ip = await (await labVm()).labVmAddress(engine, vm.Guest)
  const mac = vm.MacAddress.match(/../g)!.map((h) => parseInt(h, 16))
  mac[0]! ^= 2
  const linkLocal = `fe80::${[(mac[0]! << 8) | mac[1]!, (mac[2]! << 8) | 0xff, 0xfe00 | mac[3]!, (mac[4]! << 8) | mac[5]!].map((n) => n.toString(16)).join(':')}`
  return ip ? [linkLocal, ip] : [linkLocal]
}

const NEIGHBOUR_STATES: Record<string, string> = {
  REACHABLE: 'Reachable',
  STALE: 'Stale',
  DELAY: 'Delay',
  PROBE: 'Probe',
  FAILED: 'Unreachable',
  INCOMPLETE: 'Incomplete',
  PERMANENT: 'Permanent',
  NOARP: 'Permanent',
}

/** This machine's real neighbour table (`ip neigh`), as Get-NetNeighbor shows it. */
function neighbours(linkLayerAddress: string): Obj[] {
  if (!/^([0-9A-F]{2}-){5}[0-9A-F]{2}$/.test(linkLayerAddress))
    throw new CmdletError(`Cannot validate argument on parameter 'LinkLayerAddress'.`)
  if (faults.has('no-ip')) return []
  const lladdr = linkLayerAddress.replace(/-/g, ':').toLowerCase()
  const table = JSON.parse(execFileSync('ip', ['-j', 'neigh', 'show'], {encoding: 'utf8'}) || '[]') as Array<{
    dst: string
    lladdr?: string
    state?: string[]
  }>
  return table
    .filter((n) => n.lladdr === lladdr)
    .map((n) => ({
      IPAddress: n.dst,
      LinkLayerAddress: linkLayerAddress,
      State: NEIGHBOUR_STATES[n.state?.[0] ?? ''] ?? 'Stale',
    }))
}

/** Moves a stopped guest to another address of its network (its MAC stays). */
async function giveNewLease(vm: SimVm): Promise<void> {
  if (!network) throw new CmdletError('the simulator needs HYPERV_SIM_NETWORK for new-lease')
  const octets = (vm.Lease ?? '').split('.').map(Number)
  if (octets.length !== 4) throw new CmdletError(`the guest ${vm.Guest} has no address to move from`)
  octets[3] = ((octets[3]! + 100) % 200) + 20
  const engine = await guestEngine()
  const lan = engine.getNetwork(network)
  await lan.disconnect({Container: vm.Guest, Force: true})
  await lan.connect({Container: vm.Guest, EndpointConfig: {IPAMConfig: {IPv4Address: octets.join('.')}}})
  // A host keeps its entry for the guest's old address until the kernel ages it out, which is what the
  // driver must see past. Kept here, so the scenario does not hang on the garbage collector's timing.
  const [route] = JSON.parse(
    execFileSync('ip', ['-j', 'route', 'get', vm.Lease!], {encoding: 'utf8'}),
  ) as Array<{
    dev?: string
  }>
  if (route?.dev) {
    const lladdr = vm.MacAddress.match(/../g)!.join(':').toLowerCase()
    execFileSync('ip', ['neigh', 'replace', vm.Lease!, 'lladdr', lladdr, 'dev', route.dev, 'nud', 'stale'])
  }
}

/** Runs a shell command in the guest; true when it exits 0. */
async function inGuest(guest: string, script: string): Promise<boolean> {
  // Attached, so the stream ends when the command does.
  const exec = await (
    await guestEngine()
  )
    .getContainer(guest)
    .exec({Cmd: ['bash', '-c', script], AttachStdout: true, AttachStderr: true})
  const stream = await exec.start({})
  stream.resume()
  await new Promise((resolve) => stream.on('end', resolve))
  return (await exec.inspect()).ExitCode === 0
}

/** What a first boot's DHCP exchange does for the host: the guest talks to its gateway, so the host learns its MAC. */
async function announce(guest: string): Promise<void> {
  const gateway = Object.values(
    (await (await guestEngine()).getContainer(guest).inspect()).NetworkSettings.Networks ?? {},
  )[0]?.Gateway
  if (gateway) await inGuest(guest, `timeout 2 bash -c ': > /dev/tcp/${gateway}/9' 2>/dev/null; true`)
}

/** The KVP daemon's units in Debian and Ubuntu (hv-kvp-daemon) and in Fedora (hypervkvpd). */
const hasKvpDaemon = (guest: string) =>
  inGuest(
    guest,
    'systemctl is-enabled --quiet hv-kvp-daemon.service || systemctl is-enabled --quiet hypervkvpd.service',
  )

class Shell {
  private readonly variables = new Map<string, Obj[]>()
  readonly output: string[] = []

  async run(statements: Array<Statement | IfStatement>): Promise<void> {
    for (const statement of statements) {
      if ('condition' in statement) {
        if (await this.member(statement.condition)) await this.run(statement.body)
        continue
      }
      const result = await this.pipeline(statement.pipeline)
      if (statement.assign) this.variables.set(statement.assign, result)
    }
  }

  /** A member of the pipeline's object (one object, as PowerShell unwraps it), or a method's result. */
  private async member(expression: MemberExpression): Promise<unknown> {
    const objects = await this.pipeline(expression.target)
    let value: unknown = objects.length === 1 ? objects[0] : objects
    for (const name of expression.members) value = (value as Obj | undefined)?.[name]
    if (!expression.call) return value
    const method = (value as Record<string, unknown> | undefined)?.[expression.call.method]
    if (typeof method !== 'function')
      throw new CmdletError(
        `Method invocation failed because the object does not contain a method named '${expression.call.method}'.`,
      )
    return (method as (...args: string[]) => unknown).call(value, ...expression.call.args)
  }

  private variable(name: string): Obj[] {
    const value = this.variables.get(name)
    if (!value)
      throw new CmdletError(`The variable '$${name}' cannot be retrieved because it has not been set.`)
    return value
  }

  private async pipeline(pipeline: Pipeline): Promise<Obj[]> {
    let objects = pipeline.array
      ? await this.pipeline(pipeline.array)
      : pipeline.input
        ? this.variable(pipeline.input)
        : undefined
    for (const command of pipeline.commands) objects = await this.command(command, objects)
    return objects ?? []
  }

  private async value(value: Value | undefined, what: string): Promise<unknown> {
    if (value === undefined) throw new CmdletError(`Missing an argument for parameter '${what}'.`)
    switch (value.kind) {
      case 'string':
      case 'number':
      case 'bool':
        return value.value
      case 'word':
        return value.value
      case 'variable':
        return this.variable(value.name)
      case 'subexpression':
        return this.pipeline(value.pipeline)
      case 'properties':
        return value.items
    }
  }

  private async command(command: Command, input: Obj[] | undefined): Promise<Obj[]> {
    const cmdlet = CMDLETS[command.name]
    if (!cmdlet)
      throw new CmdletError(
        `The term '${command.name}' is not recognized as the name of a cmdlet, function, script file, or operable program.`,
      )
    const args: Record<string, unknown> = {}
    for (const [key, value] of command.parameters) {
      const spec = cmdlet.parameters[key]
      if (spec === undefined)
        throw new CmdletError(`A parameter cannot be found that matches parameter name '${key}'.`)
      if (spec === 'switch') {
        if (value !== undefined) throw new CmdletError(`${command.name}: -${key} is a switch`)
        args[key] = true
      } else {
        args[key] = await this.value(value, key)
        if (spec === 'string' && typeof args[key] !== 'string')
          throw new CmdletError(`Cannot bind parameter '${key}': a string is expected.`)
        if (spec === 'number' && typeof args[key] !== 'number')
          throw new CmdletError(`Cannot bind parameter '${key}': a number is expected.`)
        if (spec === 'bool' && typeof args[key] !== 'boolean')
          throw new CmdletError(`Cannot bind parameter '${key}': $true or $false is expected.`)
      }
    }
    return cmdlet.run(args, input, this)
  }
}

type ParameterKind = 'switch' | 'string' | 'number' | 'bool' | 'word' | 'any'

interface Cmdlet {
  parameters: Record<string, ParameterKind>
  run(args: Record<string, unknown>, input: Obj[] | undefined, shell: Shell): Obj[] | Promise<Obj[]>
}

/** The VMs a cmdlet acts on: -VM, or its pipeline input. */
function targetVms(args: Record<string, unknown>, input: Obj[] | undefined): SimVm[] {
  const objects = (args.vm as Obj[] | undefined) ?? input
  if (!objects)
    throw new CmdletError('Cannot process command because of one or more missing mandatory parameters: VM.')
  return objects.map((o) => {
    const path = vmFile(String(o.Id))
    if (!existsSync(path))
      throw new CmdletError(
        `The operation cannot be performed because the object is not in a valid state (VM ${o.Id} was removed).`,
      )
    return JSON.parse(readFileSync(path, 'utf8')) as SimVm
  })
}

const vmParameters: Record<string, ParameterKind> = {vm: 'any'}

/** CommandInfo.Parameters: a dictionary whose keys compare without case. */
class ParameterDictionary {
  constructor(private readonly names: string[]) {}
  ContainsKey(name: string): boolean {
    return this.names.includes(name.toLowerCase())
  }
}
const quiet = (args: Record<string, unknown>) => args.erroraction === 'SilentlyContinue'

/**
 * An enum value as PowerShell holds it: `[string]` gives its name, ConvertTo-Json its number
 * (so a driver that forgot the `[string]` would see numbers, as on a real host).
 */
class EnumValue {
  constructor(
    readonly name: string,
    readonly value: number,
  ) {}
  toString(): string {
    return this.name
  }
  toJSON(): number {
    return this.value
  }
}

const VM_STATES: Record<string, number> = {
  Other: 1,
  Running: 2,
  Off: 3,
  Stopping: 4,
  Saved: 6,
  Paused: 9,
  Starting: 10,
}
const SWITCH_TYPES: Record<string, number> = {Private: 0, Internal: 1, External: 2}

/** The object a VM is in the pipeline (what Select-Object reads). */
async function vmObject(vm: SimVm): Promise<Obj> {
  const state = await vmState(vm)
  return {...vm, State: new EnumValue(state, VM_STATES[state]!)}
}

const CMDLETS: Record<string, Cmdlet> = {
  'Hyper-V\\Get-VMSwitch': {
    parameters: {},
    run: () =>
      faults.has('no-switch')
        ? []
        : SIM_SWITCHES.map((s) => ({
            ...s,
            SwitchType: new EnumValue(s.SwitchType, SWITCH_TYPES[s.SwitchType]!),
          })),
  },
  'Hyper-V\\Get-VM': {
    parameters: {name: 'string', id: 'string', erroraction: 'word'},
    async run(args) {
      const all = loadVms()
      const found =
        args.id !== undefined
          ? all.filter((vm) => vm.Id === String(args.id).toLowerCase())
          : args.name !== undefined
            ? all.filter((vm) => vm.Name.toLowerCase() === String(args.name).toLowerCase())
            : all
      if (found.length === 0 && (args.id !== undefined || args.name !== undefined) && !quiet(args)) {
        throw new CmdletError(
          args.id !== undefined
            ? `Hyper-V was unable to find a virtual machine with id "${args.id}".`
            : `Hyper-V was unable to find a virtual machine with name "${args.name}".`,
        )
      }
      return Promise.all(found.map(vmObject))
    },
  },
  'Get-Command': {
    parameters: {module: 'string', name: 'string'},
    run(args) {
      const name = `${args.module === undefined ? '' : `${args.module}\\`}${args.name}`
      const cmdlet = CMDLETS[name]
      if (!cmdlet)
        throw new CmdletError(
          `The term '${args.name}' is not recognized as the name of a cmdlet, function, script file, or operable program.`,
        )
      return [
        {
          Name: args.name,
          ModuleName: args.module ?? '',
          Parameters: new ParameterDictionary(Object.keys(cmdlet.parameters)),
        },
      ]
    },
  },
  'Select-Object': {
    parameters: {property: 'any'},
    run(args, input) {
      const properties = args.property as Property[]
      return (input ?? []).map((o) =>
        Object.fromEntries(
          properties.map((p) => [p.name, p.toString ? String(o[p.source] ?? '') : (o[p.source] ?? null)]),
        ),
      )
    },
  },
  'Where-Object': {
    parameters: {property: 'any', eq: 'switch', value: 'string'},
    run(args, input) {
      const [property] = args.property as Property[]
      if (!args.eq || !property)
        throw new CmdletError('Where-Object: only -Property P -EQ -Value V is simulated')
      return (input ?? []).filter(
        (o) => String(o[property.source] ?? '').toLowerCase() === String(args.value).toLowerCase(),
      )
    },
  },
  'ConvertTo-Json': {
    parameters: {compress: 'switch', depth: 'number', inputobject: 'any'},
    run(args, _input, shell) {
      if (!args.compress || !Array.isArray(args.inputobject))
        throw new CmdletError('ConvertTo-Json: the simulator expects -Compress -InputObject @(...)')
      shell.output.push(JSON.stringify(args.inputobject))
      return []
    },
  },
  'Hyper-V\\Convert-VHD': {
    parameters: {path: 'string', destinationpath: 'string', vhdtype: 'word'},
    run(args) {
      const [source, target] = [String(args.path), String(args.destinationpath)]
      if (!existsSync(source)) throw new CmdletError(`The system cannot find the file specified: ${source}`)
      if (existsSync(target)) throw new CmdletError(`The file exists: ${target}`)
      if (args.vhdtype !== 'Dynamic' || !target.toLowerCase().endsWith('.vhdx'))
        throw new CmdletError('the simulator converts to dynamic VHDX only')
      if (faults.has('convert-fails')) {
        writeFileSync(target, Buffer.alloc(4096)) // a half-written destination, as a failed conversion leaves
        throw new CmdletError(
          `Failed to convert the virtual disk. The system failed to convert '${source}': There is not enough space on the disk. (0x80070070)`,
        )
      }
      // qemu-img refuses a bad cookie or checksum; the footer's current size is the disk's size, as Hyper-V reads it.
      const info = qemuInfo([
        '--image-opts',
        `driver=vpc,force_size_calc=current_size,file.filename=${source}`,
      ])
      execFileSync('qemu-img', [
        'convert',
        '--image-opts',
        `driver=vpc,force_size_calc=current_size,file.filename=${source}`,
        '-O',
        'vhdx',
        target,
      ])
      setDiskSize(target, info['virtual-size'])
      return []
    },
  },
  'Hyper-V\\Resize-VHD': {
    parameters: {path: 'string', sizebytes: 'number'},
    run(args) {
      const path = String(args.path)
      const info = qemuInfo(['-f', 'vhdx', path])
      const current = diskSizes()[path] ?? info['virtual-size']
      const size = Number(args.sizebytes)
      if (size < current)
        throw new CmdletError(
          `Failed to resize the virtual disk: the size specified for '${path}' is smaller than its current size.`,
        )
      if (size % 512 !== 0) throw new CmdletError('The size must be a multiple of 512 bytes.')
      setDiskSize(path, size)
      return []
    },
  },
  'Hyper-V\\New-VM': {
    parameters: {
      name: 'string',
      path: 'string',
      generation: 'number',
      vhdpath: 'string',
      bootdevice: 'word',
      switchname: 'string',
      memorystartupbytes: 'number',
    },
    run(args) {
      const switchName = String(args.switchname)
      if (!SIM_SWITCHES.some((s) => s.Name === switchName) || faults.has('no-switch'))
        throw new CmdletError(`Hyper-V was unable to find a virtual switch with name "${switchName}".`)
      if (!existsSync(String(args.vhdpath)))
        throw new CmdletError(`The system cannot find the file specified: ${args.vhdpath}`)
      if (Number(args.memorystartupbytes) % (2 * 1048576) !== 0)
        throw new CmdletError(
          "Failed to modify device 'Memory': the amount of memory must be a multiple of 2 MB.",
        )
      const vm: SimVm = {
        Id: randomUUID(),
        Name: String(args.name),
        Path: String(args.path),
        Generation: Number(args.generation ?? 1),
        VHDPath: String(args.vhdpath),
        BootDevice: String(args.bootdevice),
        SwitchName: switchName,
        MemoryStartupBytes: Number(args.memorystartupbytes),
        Notes: '',
        ...(faults.has('pre-1709') ? {} : {AutomaticCheckpointsEnabled: true}),
        SecureBoot: true,
        ProcessorCount: 1,
        DynamicMemoryEnabled: false,
        MacAddress: '000000000000',
        DvdDrives: [],
        History: ['New-VM'],
      }
      saveVm(vm)
      return [{...vm, State: new EnumValue('Off', VM_STATES.Off!)}]
    },
  },
  'Hyper-V\\Set-VM': {
    parameters: {
      ...vmParameters,
      notes: 'string',
      ...(faults.has('pre-1709') ? {} : {automaticcheckpointsenabled: 'bool' as const}),
    },
    run(args, input) {
      for (const vm of targetVms(args, input)) {
        if (args.notes !== undefined) vm.Notes = String(args.notes)
        if (args.automaticcheckpointsenabled !== undefined)
          vm.AutomaticCheckpointsEnabled = Boolean(args.automaticcheckpointsenabled)
        record(vm, 'Set-VM')
      }
      return []
    },
  },
  'Hyper-V\\Set-VMFirmware': {
    parameters: {...vmParameters, enablesecureboot: 'word'},
    run(args, input) {
      for (const vm of targetVms(args, input)) {
        if (vm.Generation !== 2)
          throw new CmdletError('Set-VMFirmware applies to Generation 2 virtual machines only.')
        vm.SecureBoot = args.enablesecureboot === 'On'
        record(vm, 'Set-VMFirmware')
      }
      return []
    },
  },
  'Hyper-V\\Set-VMProcessor': {
    parameters: {...vmParameters, count: 'number'},
    run(args, input) {
      for (const vm of targetVms(args, input)) {
        vm.ProcessorCount = Number(args.count)
        record(vm, 'Set-VMProcessor')
      }
      return []
    },
  },
  'Hyper-V\\Set-VMMemory': {
    parameters: {...vmParameters, dynamicmemoryenabled: 'bool'},
    run(args, input) {
      for (const vm of targetVms(args, input)) {
        vm.DynamicMemoryEnabled = Boolean(args.dynamicmemoryenabled)
        record(vm, 'Set-VMMemory')
      }
      return []
    },
  },
  'Hyper-V\\Set-VMNetworkAdapter': {
    parameters: {...vmParameters, staticmacaddress: 'string'},
    run(args, input) {
      const mac = String(args.staticmacaddress)
      if (!/^[0-9A-Fa-f]{12}$/.test(mac))
        throw new CmdletError(
          `Cannot validate argument on parameter 'StaticMacAddress': "${mac}" is not a valid MAC address.`,
        )
      for (const vm of targetVms(args, input)) {
        vm.MacAddress = mac.toUpperCase()
        record(vm, 'Set-VMNetworkAdapter')
      }
      return []
    },
  },
  'Hyper-V\\Set-VMNetworkAdapterVlan': {
    parameters: {...vmParameters, access: 'switch', vlanid: 'number'},
    run(args, input) {
      if (!args.access)
        throw new CmdletError('Set-VMNetworkAdapterVlan: the simulator knows access mode only')
      for (const vm of targetVms(args, input)) {
        vm.VlanId = Number(args.vlanid)
        record(vm, 'Set-VMNetworkAdapterVlan')
      }
      return []
    },
  },
  'Hyper-V\\Add-VMDvdDrive': {
    parameters: {...vmParameters, path: 'string'},
    run(args, input) {
      if (!existsSync(String(args.path)))
        throw new CmdletError(`The system cannot find the file specified: ${args.path}`)
      for (const vm of targetVms(args, input)) {
        vm.DvdDrives.push(String(args.path))
        record(vm, 'Add-VMDvdDrive')
      }
      return []
    },
  },
  'Hyper-V\\Start-VM': {
    parameters: vmParameters,
    async run(args, input) {
      if (faults.has('start-hangs')) {
        // Stuck until the VM is removed (or a minute passes), so a test can kill berth meanwhile.
        const files = ((args.vm as Obj[] | undefined) ?? input ?? []).map((o) => vmFile(String(o.Id)))
        for (const until = Date.now() + 60_000; files.some(existsSync) && Date.now() < until;)
          await new Promise((resolve) => setTimeout(resolve, 100))
      }
      for (const vm of targetVms(args, input)) {
        if ((await vmState(vm)) === 'Running') continue // a warning in Hyper-V: already in the specified state
        if (!existsSync(vm.VHDPath))
          throw new CmdletError(
            `'${vm.Name}' failed to start: the virtual hard disk ${vm.VHDPath} is missing.`,
          )
        if (vm.SecureBoot) {
          // Hyper-V's default template trusts Windows only: the Linux loader is refused and nothing boots.
          record(vm, 'Start-VM (no bootable OS)')
          continue
        }
        if (vm.Guest) {
          if (faults.has('new-lease')) await giveNewLease(vm)
          await (await labVm()).startLabVm(engine, vm.Guest)
        } else {
          const iso = vm.DvdDrives[0]
          if (!iso)
            throw new CmdletError(
              'no seed on a DVD drive: the simulator boots cloud images configured by cloud-init only',
            )
          const guest = guestName(vm)
          const {bootLabVm, readSeedIso} = await labVm()
          await bootLabVm({
            engine,
            name: guest,
            seed: readSeedIso(iso),
            mac: vm.MacAddress.match(/../g)!.join(':').toLowerCase(),
            network,
            labels: {'io.berth.sim': 'hyperv', 'io.berth.sim.state': stateDir},
          })
          vm.Guest = guest
        }
        if (!faults.has('no-ip')) await announce(vm.Guest)
        vm.Lease = await (await labVm()).labVmAddress(engine, vm.Guest)
        vm.KvpDaemon = await hasKvpDaemon(vm.Guest)
        record(vm, 'Start-VM')
      }
      return []
    },
  },
  'Hyper-V\\Stop-VM': {
    parameters: {...vmParameters, force: 'switch', turnoff: 'switch'},
    async run(args, input) {
      for (const vm of targetVms(args, input)) {
        const {killLabVm, stopLabVm} = await labVm()
        if (vm.Guest) await (args.turnoff ? killLabVm(engine, vm.Guest) : stopLabVm(engine, vm.Guest))
        record(vm, args.turnoff ? 'Stop-VM -TurnOff' : 'Stop-VM')
      }
      return []
    },
  },
  'Hyper-V\\Remove-VM': {
    parameters: {...vmParameters, force: 'switch'},
    async run(args, input) {
      for (const vm of targetVms(args, input)) {
        if ((await vmState(vm)) !== 'Off')
          throw new CmdletError(`Remove-VM: '${vm.Name}' must be turned off before it is removed.`)
        if (vm.Guest) await (await labVm()).removeLabVm(engine, vm.Guest)
        rmSync(vmFile(vm.Id), {force: true}) // the configuration only: Hyper-V leaves the disks
      }
      return []
    },
  },
  'Hyper-V\\Get-VMNetworkAdapter': {
    parameters: vmParameters,
    async run(args, input) {
      return Promise.all(
        targetVms(args, input).map(async (vm) => ({
          Name: 'Network Adapter',
          VMName: vm.Name,
          SwitchName: vm.SwitchName,
          MacAddress: vm.MacAddress,
          IPAddresses: await guestAddresses(vm),
        })),
      )
    },
  },
  'NetTCPIP\\Get-NetNeighbor': {
    parameters: {linklayeraddress: 'string', erroraction: 'word'},
    run(args) {
      const found = neighbours(String(args.linklayeraddress))
      const mac = String(args.linklayeraddress).replace(/-/g, '').toUpperCase()
      const vm = loadVms().find((v) => v.MacAddress.toUpperCase() === mac)
      if (vm) {
        vm.NeighbourAnswers = [...(vm.NeighbourAnswers ?? []), found.map((n) => String(n.IPAddress))]
        saveVm(vm)
      }
      if (found.length === 0 && !quiet(args))
        throw new CmdletError(
          "No MSFT_NetNeighbor objects found with property 'LinkLayerAddress' equal to the given value.",
        )
      return found
    },
  },
}

function preflight(): string {
  const elevated = !faults.has('not-admin') && !faults.has('hyperv-admins')
  return JSON.stringify([
    {
      HyperVModule: !faults.has('no-module'),
      Administrator: elevated,
      HyperVAdministrator: faults.has('hyperv-admins'),
    },
  ])
}

async function main(argv: string[]): Promise<number> {
  if (
    argv.length !== 4 ||
    argv[0] !== '-NoProfile' ||
    argv[1] !== '-NonInteractive' ||
    argv[2] !== '-Command'
  ) {
    process.stderr.write(
      `simulated PowerShell: expected -NoProfile -NonInteractive -Command SCRIPT, got ${JSON.stringify(argv)}\n`,
    )
    return 64
  }
  const script = argv[3]!
  if (!script.startsWith(PRELUDE) || !script.endsWith(EPILOGUE)) {
    process.stderr.write(
      "simulated PowerShell: the script lacks the driver's prelude (errors would not stop it)\n",
    )
    return 64
  }
  if (!stateDir) {
    process.stderr.write('simulated PowerShell: HYPERV_SIM_STATE is not set\n')
    return 64
  }
  mkdirSync(stateDir, {recursive: true})
  const body = script.slice(PRELUDE.length, -EPILOGUE.length)
  writeFileSync(join(stateDir, 'commands.log'), body + '\n', {flag: 'a'})
  if (body === PREFLIGHT) {
    process.stdout.write(preflight() + '\r\n')
    return 0
  }
  const shell = new Shell()
  try {
    await shell.run(parseScript(body))
  } catch (err) {
    // The driver's catch block prints the exception's message and exits 1; a parse error fails as PowerShell does.
    process.stdout.write(shell.output.map((line) => line + '\r\n').join(''))
    if (err instanceof CmdletError || err instanceof ParseError) {
      process.stderr.write(`${err.message}\n`)
      return err instanceof ParseError ? 64 : 1
    }
    throw err
  }
  process.stdout.write(shell.output.map((line) => line + '\r\n').join(''))
  return 0
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`simulated PowerShell crashed: ${err instanceof Error ? err.stack : String(err)}\n`)
    process.exitCode = 70
  },
)
