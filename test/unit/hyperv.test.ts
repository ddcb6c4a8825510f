/**
 * The Hyper-V driver's PowerShell command lines (exactly, with hostile names and paths), its
 * PowerShell runner, address choice and state mapping, and the VHD footer (fields, checksum,
 * geometry; read back by qemu-img as an independent implementation).
 */
import {execFile} from 'node:child_process'
import {chmod, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {createServer} from 'node:net'
import type {AddressInfo} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  firstAnswering,
  HyperVDriver,
  hypervDriver,
  hypervSeed,
  icsHostname,
  KVP_DAEMON_SETUP,
  machineState,
  neighbourCandidates,
  normalizeMac,
  randomMac,
  usableAddresses,
} from '../../drivers/hyperv/index.js'
import {
  asJsonArray,
  findPowerShell,
  parseJsonArrays,
  PowerShell,
  powerShellArgs,
  psQuote,
} from '../../drivers/hyperv/powershell.js'
import * as scripts from '../../drivers/hyperv/scripts.js'
import {
  appendVhdFooter,
  chsGeometry,
  footerChecksum,
  parseVhdFooter,
  vhdFooter,
} from '../../drivers/hyperv/vhd.js'
import type {DriverContext} from '../../src/core/drivers/contract.js'
import {buildSeedIso} from '../../src/core/vm/seed-iso.js'
import {parseScript} from '../sim/powershell/language.js'
import type {Statement} from '../sim/powershell/language.js'
import {installPowerShellSimulator} from '../sim/powershell/install.js'
import type {SimVm} from '../sim/powershell/powershell.js'

const exec = promisify(execFile)
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-hyperv-unit-'))
})

afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

const HOSTILE = 'C:\\Users\\O\'Brien $HOME\\my `vms`; rm -r "x"'

describe('PowerShell quoting', () => {
  it('makes single-quoted literals in which nothing expands', () => {
    expect(psQuote('plain')).toBe("'plain'")
    expect(psQuote('with space')).toBe("'with space'")
    expect(psQuote("O'Brien")).toBe("'O''Brien'")
    expect(psQuote('$env:USERNAME `n; Remove-Item x')).toBe("'$env:USERNAME `n; Remove-Item x'")
    expect(psQuote('')).toBe("''")
  })

  it('doubles the typographic single quotes PowerShell also ends strings with', () => {
    expect(psQuote('a\u2018b\u2019c\u201Ad\u201Be')).toBe(
      "'a\u2018\u2018b\u2019\u2019c\u201A\u201Ad\u201B\u201Be'",
    )
  })

  it('keeps double quotes out of the command line', () => {
    expect(psQuote('say "hi"')).toBe("('say ' + [char]34 + 'hi' + [char]34 + '')")
    expect(psQuote(HOSTILE)).not.toContain('"')
  })

  it("round-trips through a PowerShell tokenizer unchanged (the simulator's)", () => {
    for (const value of [
      HOSTILE,
      "it's",
      '\u2019quoted\u2018',
      '$(Remove-Item C:\\ -Recurse)',
      'a"b"c',
      '"',
      "''",
      '@{x=1}; exit',
    ]) {
      const [statement] = parseScript(`Hyper-V\\Get-VM -Name ${psQuote(value)}`) as Statement[]
      expect(statement!.pipeline.commands[0]!.parameters.get('name'), value).toEqual({kind: 'string', value})
    }
  })

  it('refuses NUL characters', () => {
    expect(() => psQuote('a\0b')).toThrow(/NUL/)
  })

  it('runs every script as powershell -NoProfile -NonInteractive -Command with errors as one line', () => {
    expect(powerShellArgs("Hyper-V\\Start-VM -Name 'a'")).toEqual([
      '-NoProfile',
      '-NonInteractive',
      '-Command',
      "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'; $WarningPreference = 'SilentlyContinue'; [Console]::OutputEncoding = New-Object Text.UTF8Encoding $false; " +
        "try { Hyper-V\\Start-VM -Name 'a' } catch { [Console]::Error.WriteLine($_.Exception.Message); exit 1 }",
    ])
    expect(asJsonArray('Hyper-V\\Get-VM')).toBe(
      'ConvertTo-Json -Compress -Depth 4 -InputObject @(Hyper-V\\Get-VM)',
    )
  })
})

describe('the Hyper-V command lines of each step', () => {
  const id = '6d3b0b2e-1f1e-4c9a-9d59-2b4cf4f5e0a1'

  it('preflight: module, Administrator, Hyper-V Administrators', () => {
    expect(scripts.preflightScript()).toBe(
      '$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent()); ' +
        'ConvertTo-Json -Compress -Depth 4 -InputObject @([pscustomobject]@{' +
        "HyperVModule = @(Get-Module -ListAvailable -Name 'Hyper-V').Count -gt 0; " +
        'Administrator = $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator); ' +
        "HyperVAdministrator = $principal.IsInRole([Security.Principal.SecurityIdentifier]'S-1-5-32-578')})",
    )
  })

  it('inventory: switches with their type names, and VMs of the same name', () => {
    expect(scripts.inventoryScript("it's mine")).toBe(
      "ConvertTo-Json -Compress -Depth 4 -InputObject @(Hyper-V\\Get-VMSwitch | Select-Object -Property Name, Id, @{Name='SwitchType'; Expression={[string]$_.SwitchType}}); " +
        "ConvertTo-Json -Compress -Depth 4 -InputObject @(Hyper-V\\Get-VM -Name 'it''s mine' -ErrorAction SilentlyContinue | Select-Object -Property Id, Name)",
    )
  })

  it('disk: Convert-VHD to a dynamic VHDX, then Resize-VHD', () => {
    expect(scripts.convertDiskScript(`${HOSTILE}\\m.vhd`, `${HOSTILE}\\m.vhdx`, 20971520000)).toBe(
      "Hyper-V\\Convert-VHD -Path ('C:\\Users\\O''Brien $HOME\\my `vms`; rm -r ' + [char]34 + 'x' + [char]34 + '\\m.vhd') " +
        "-DestinationPath ('C:\\Users\\O''Brien $HOME\\my `vms`; rm -r ' + [char]34 + 'x' + [char]34 + '\\m.vhdx') -VHDType Dynamic; " +
        "Hyper-V\\Resize-VHD -Path ('C:\\Users\\O''Brien $HOME\\my `vms`; rm -r ' + [char]34 + 'x' + [char]34 + '\\m.vhdx') -SizeBytes 20971520000",
    )
  })

  it('New-VM: Generation 2 from the VHDX on the switch, notes, no automatic checkpoints where Set-VM has them, id printed', () => {
    expect(
      scripts.newVmScript({
        name: 'dev',
        path: 'C:\\Users\\Jo Ann\\.berth\\machines\\dev',
        vhdxPath: 'C:\\Users\\Jo Ann\\.berth\\machines\\dev\\dev.vhdx',
        switchName: "Bob's $switch; x",
        memoryBytes: 2147483648,
        notes: 'berth machine C:\\Users\\Jo Ann\\.berth\\machines\\dev',
      }),
    ).toBe(
      "$vm = Hyper-V\\New-VM -Name 'dev' -Path 'C:\\Users\\Jo Ann\\.berth\\machines\\dev' -Generation 2 " +
        "-VHDPath 'C:\\Users\\Jo Ann\\.berth\\machines\\dev\\dev.vhdx' -BootDevice VHD -SwitchName 'Bob''s $switch; x' -MemoryStartupBytes 2147483648; " +
        "Hyper-V\\Set-VM -VM $vm -Notes 'berth machine C:\\Users\\Jo Ann\\.berth\\machines\\dev'; " +
        "if ((Get-Command -Module 'Hyper-V' -Name 'Set-VM').Parameters.ContainsKey('AutomaticCheckpointsEnabled')) { Hyper-V\\Set-VM -VM $vm -AutomaticCheckpointsEnabled $false }; " +
        'ConvertTo-Json -Compress -Depth 4 -InputObject @($vm | Select-Object -Property Id, Name)',
    )
  })

  it('configure: secure boot off, CPUs, memory, MAC, VLAN, seed DVD (by VM id)', () => {
    expect(
      scripts.configureVmScript(id, {
        cpuCount: 4,
        dynamicMemory: false,
        macAddress: '02AABBCCDDEE',
        vlanId: 42,
        seedIsoPath: "D:\\it's here\\seed.iso",
      }),
    ).toBe(
      `$vm = Hyper-V\\Get-VM -Id '${id}'; Hyper-V\\Set-VMFirmware -VM $vm -EnableSecureBoot Off; Hyper-V\\Set-VMProcessor -VM $vm -Count 4; ` +
        "Hyper-V\\Set-VMMemory -VM $vm -DynamicMemoryEnabled $false; Hyper-V\\Set-VMNetworkAdapter -VM $vm -StaticMacAddress '02AABBCCDDEE'; " +
        "Hyper-V\\Set-VMNetworkAdapterVlan -VM $vm -Access -VlanId 42; Hyper-V\\Add-VMDvdDrive -VM $vm -Path 'D:\\it''s here\\seed.iso'",
    )
    expect(
      scripts.configureVmScript(id, {
        cpuCount: 1,
        dynamicMemory: true,
        macAddress: '02AABBCCDDEE',
        seedIsoPath: 's.iso',
      }),
    ).not.toContain('Vlan')
    expect(
      scripts.configureVmScript(id, {
        cpuCount: 1,
        dynamicMemory: true,
        macAddress: '02AABBCCDDEE',
        seedIsoPath: 's.iso',
      }),
    ).toContain('-DynamicMemoryEnabled $true;')
  })

  it('start, stop, kill, state', () => {
    expect(scripts.startScript(id)).toBe(`$vm = Hyper-V\\Get-VM -Id '${id}'; Hyper-V\\Start-VM -VM $vm`)
    expect(scripts.stopScript(id, false)).toBe(
      `$vm = Hyper-V\\Get-VM -Id '${id}'; Hyper-V\\Stop-VM -VM $vm -Force`,
    )
    expect(scripts.stopScript(id, true)).toBe(
      `$vm = Hyper-V\\Get-VM -Id '${id}'; Hyper-V\\Stop-VM -VM $vm -TurnOff`,
    )
    expect(scripts.stateScript(id)).toBe(
      `ConvertTo-Json -Compress -Depth 4 -InputObject @(Hyper-V\\Get-VM -Id '${id}' -ErrorAction SilentlyContinue | ` +
        "Select-Object -Property Id, @{Name='State'; Expression={[string]$_.State}})",
    )
  })

  it('address: state, adapter addresses and the neighbour entries of the MAC', () => {
    expect(scripts.addressScript(id, '02-AA-BB-CC-DD-EE')).toBe(
      `$vm = Hyper-V\\Get-VM -Id '${id}'; ` +
        "ConvertTo-Json -Compress -Depth 4 -InputObject @($vm | Select-Object -Property Id, @{Name='State'; Expression={[string]$_.State}}); " +
        'ConvertTo-Json -Compress -Depth 4 -InputObject @(Hyper-V\\Get-VMNetworkAdapter -VM $vm | Select-Object -Property MacAddress, IPAddresses); ' +
        "ConvertTo-Json -Compress -Depth 4 -InputObject @(NetTCPIP\\Get-NetNeighbor -LinkLayerAddress '02-AA-BB-CC-DD-EE' -ErrorAction SilentlyContinue | " +
        "Select-Object -Property IPAddress, @{Name='State'; Expression={[string]$_.State}})",
    )
  })

  it('no command line carries a double quote, whatever the names and paths', () => {
    const all = [
      scripts.preflightScript(),
      scripts.inventoryScript(HOSTILE),
      scripts.convertDiskScript(HOSTILE, HOSTILE, 512),
      scripts.newVmScript({
        name: HOSTILE,
        path: HOSTILE,
        vhdxPath: HOSTILE,
        switchName: HOSTILE,
        memoryBytes: 1,
        notes: HOSTILE,
      }),
      scripts.configureVmScript(HOSTILE, {
        cpuCount: 1,
        dynamicMemory: true,
        macAddress: HOSTILE,
        vlanId: 1,
        seedIsoPath: HOSTILE,
      }),
      scripts.startScript(HOSTILE),
      scripts.stopScript(HOSTILE, true),
      scripts.stateScript(HOSTILE),
      scripts.addressScript(HOSTILE, HOSTILE),
      scripts.removeScript({name: HOSTILE, notes: HOSTILE}),
    ]
    for (const script of all) expect(powerShellArgs(script).join(' ')).not.toContain('"')
  })

  it('remove: by id, or by name and notes when the id was never recorded', () => {
    expect(scripts.removeScript({id})).toBe(
      `$vms = @(Hyper-V\\Get-VM -Id '${id}' -ErrorAction SilentlyContinue); ` +
        '$vms | Hyper-V\\Stop-VM -TurnOff -Force; $vms | Hyper-V\\Remove-VM -Force; ' +
        'ConvertTo-Json -Compress -Depth 4 -InputObject @($vms | Select-Object -Property Id)',
    )
    expect(scripts.removeScript({name: 'dev', notes: "berth machine C:\\O'Hara"})).toBe(
      "$vms = @(Hyper-V\\Get-VM -Name 'dev' -ErrorAction SilentlyContinue | Where-Object -Property Notes -EQ -Value 'berth machine C:\\O''Hara'); " +
        '$vms | Hyper-V\\Stop-VM -TurnOff -Force; $vms | Hyper-V\\Remove-VM -Force; ' +
        'ConvertTo-Json -Compress -Depth 4 -InputObject @($vms | Select-Object -Property Id)',
    )
  })
})

describe('automatic checkpoints on a current and an old Hyper-V (the script run by the PowerShell simulator)', () => {
  let simBin: string
  let vhdx: string
  const vm = {name: 'dev', switchName: 'Default Switch', memoryBytes: 1 << 30, notes: "berth machine O'Brien"}

  beforeAll(async () => {
    simBin = await installPowerShellSimulator('berth-sim-powershell-unit')
    vhdx = join(dir, 'dev.vhdx')
    await writeFile(vhdx, '')
  })

  afterAll(async () => {
    await rm(simBin, {recursive: true, force: true})
  })

  /** Runs a script on a fresh simulated host and returns the VMs it made. */
  async function runOnHost(script: string, faults: string): Promise<SimVm[]> {
    const state = await mkdtemp(join(dir, 'hyperv-sim-'))
    await exec(join(simBin, 'powershell.exe'), powerShellArgs(script), {
      env: {...process.env, HYPERV_SIM_STATE: state, HYPERV_SIM_FAULTS: faults},
    })
    const vms = join(state, 'vms')
    return Promise.all(
      (await readdir(vms)).map(async (f) => JSON.parse(await readFile(join(vms, f), 'utf8')) as SimVm),
    )
  }

  it('turns them off where Set-VM has the parameter', async () => {
    const [made] = await runOnHost(scripts.newVmScript({...vm, path: dir, vhdxPath: vhdx}), '')
    expect(made).toMatchObject({Name: 'dev', Notes: vm.notes, AutomaticCheckpointsEnabled: false})
    expect(made!.History).toEqual(['New-VM', 'Set-VM', 'Set-VM'])
  })

  it('leaves the parameter out on Windows 10 before 1709 and Server 2016, where passing it fails', async () => {
    const [made] = await runOnHost(scripts.newVmScript({...vm, path: dir, vhdxPath: vhdx}), 'pre-1709')
    expect(made).toMatchObject({Name: 'dev', Notes: vm.notes})
    expect(made).not.toHaveProperty('AutomaticCheckpointsEnabled')
    expect(made!.History).toEqual(['New-VM', 'Set-VM'])
    const unconditional =
      `$vm = Hyper-V\\New-VM -Name 'dev' -Path ${psQuote(dir)} -Generation 2 -VHDPath ${psQuote(vhdx)} -BootDevice VHD -SwitchName 'Default Switch' -MemoryStartupBytes 1073741824; ` +
      "Hyper-V\\Set-VM -VM $vm -Notes 'x' -AutomaticCheckpointsEnabled $false"
    await expect(runOnHost(unconditional, 'pre-1709')).rejects.toThrow(
      /A parameter cannot be found that matches parameter name 'automaticcheckpointsenabled'/,
    )
  })
})

describe('the PowerShell runner', () => {
  async function fakePowerShell(name: string, body: string): Promise<string> {
    const folder = await mkdtemp(join(dir, 'bin-'))
    await writeFile(join(folder, name), `#!/bin/sh\n${body}\n`)
    await chmod(join(folder, name), 0o755)
    return folder
  }

  it('finds powershell.exe before pwsh on PATH', async () => {
    const pwshOnly = await fakePowerShell('pwsh', 'exit 0')
    const both = await fakePowerShell('powershell.exe', 'exit 0')
    expect(findPowerShell(pwshOnly)).toBe(join(pwshOnly, 'pwsh'))
    expect(findPowerShell(`${pwshOnly}:${both}`)).toBe(join(both, 'powershell.exe'))
    expect(findPowerShell(join(dir, 'nowhere'))).toBeUndefined()
  })

  it('passes the script as one argument and returns stdout', async () => {
    const folder = await fakePowerShell('pwsh', 'for a in "$@"; do printf "[%s]\\n" "$a"; done')
    const out = await new PowerShell(join(folder, 'pwsh')).run("Hyper-V\\Get-VM -Name 'a b'")
    expect(out.trim().split('\n')).toEqual(powerShellArgs("Hyper-V\\Get-VM -Name 'a b'").map((a) => `[${a}]`))
  })

  it('turns a failure into one line naming the cmdlet', async () => {
    const folder = await fakePowerShell(
      'pwsh',
      'echo "Hyper-V was unable to find a virtual machine with name \\"x\\"." >&2; echo "second line" >&2; exit 1',
    )
    await expect(new PowerShell(join(folder, 'pwsh')).run("Hyper-V\\Start-VM -Name 'x'")).rejects.toThrow(
      /^Hyper-V\\Start-VM failed: Hyper-V was unable to find a virtual machine with name "x"\.$/,
    )
  })

  it('gives up at its deadline', async () => {
    const folder = await fakePowerShell('pwsh', 'sleep 5')
    const started = Date.now()
    await expect(new PowerShell(join(folder, 'pwsh')).run('Hyper-V\\Stop-VM', 300)).rejects.toThrow(
      /did not finish within 0.3s \(Hyper-V\\Stop-VM\)/,
    )
    expect(Date.now() - started).toBeLessThan(3000)
  })

  it('reads the JSON arrays a script printed, skipping other lines, and refuses a missing or broken one', () => {
    expect(
      parseJsonArrays(
        '\uFEFF[{"a":1}]\r\nWARNING: the virtual machine is already in the specified state.\r\n[]\n',
        2,
        'x',
      ),
    ).toEqual([[{a: 1}], []])
    expect(() => parseJsonArrays('WARNING: something\n', 1, 'the query')).toThrow(
      /^PowerShell answered the query with "WARNING: something", not 1 JSON array/,
    )
    expect(() => parseJsonArrays('[{"a":1}]\n', 2, 'x')).toThrow(/not 2 JSON array/)
    expect(() => parseJsonArrays('[{"a":\n', 1, 'x')).toThrow(/not 1 JSON array/)
  })
})

describe('addresses, states and options', () => {
  it('prefers IPv4 and never takes a link-local address', () => {
    expect(usableAddresses(['fe80::1', '2001:db8::5', '192.168.1.20', '169.254.3.3'], true)).toEqual([
      '192.168.1.20',
      '2001:db8::5',
    ])
    expect(usableAddresses(['fe80::1', '2001:db8::5'], false)).toEqual([])
    expect(usableAddresses(['169.254.3.3', 'fe80::1', '127.0.0.1', '0.0.0.0'], true)).toEqual([])
  })

  it('tries the neighbour entries the host has not given up on', () => {
    const report = {
      state: 'Running',
      guestAddresses: [],
      neighbours: [
        {ip: 'fe80::1', state: 'Stale'},
        {ip: '172.17.0.7', state: 'Stale'},
        {ip: '172.17.0.3', state: 'Unreachable'},
        {ip: '172.17.0.9', state: 'Reachable'},
        {ip: '172.17.0.4', state: 'Incomplete'},
      ],
    }
    expect(neighbourCandidates(report, false)).toEqual(['172.17.0.7', '172.17.0.9'])
  })

  it('takes the first address where something answers, accepting or refusing, and not one where nothing does', async () => {
    const server = createServer((socket) => socket.end())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    try {
      expect(await firstAnswering(['127.0.0.1'], port)).toBe('127.0.0.1')
      expect(await firstAnswering(['127.0.0.2'], 1)).toBe('127.0.0.2') // a refusal is an answer: the guest is there
      // 100::/64 is the IPv6 discard prefix (RFC 6666): nothing there answers.
      const started = Date.now()
      expect(await firstAnswering(['100::1', '127.0.0.1'], port, 500)).toBe('127.0.0.1')
      expect(await firstAnswering(['100::1'], port, 500)).toBeUndefined()
      expect(Date.now() - started).toBeLessThan(3000)
    } finally {
      server.close()
    }
  })

  it('maps Hyper-V VM states', () => {
    expect(machineState('Running')).toBe('Running')
    expect(machineState('Off')).toBe('Stopped')
    expect(machineState('Saved')).toBe('Saved')
    expect(machineState('Paused')).toBe('Paused')
    expect(machineState('Starting')).toBe('Starting')
    expect(machineState('Stopping')).toBe('Stopping')
    expect(machineState('RunningCritical')).toBe('Error')
    expect(machineState(undefined)).toBe('NotFound')
  })

  it('normalizes MAC addresses and makes unicast, locally administered ones', () => {
    expect(normalizeMac('00:15:5d:01:02:03')).toBe('00155D010203')
    expect(normalizeMac('00-15-5D-01-02-03')).toBe('00155D010203')
    expect(() => normalizeMac('01:00:5e:00:00:01')).toThrow(/multicast/)
    expect(() => normalizeMac('00:15:5d')).toThrow(/not a MAC/)
    for (let i = 0; i < 20; i++) {
      const mac = randomMac()
      expect(mac).toMatch(/^[0-9A-F]{12}$/)
      expect(parseInt(mac.slice(0, 2), 16) & 0x03).toBe(0x02)
    }
  })

  const context: DriverContext = {
    machineName: 'dev',
    machineDir: '/s/machines/dev',
    storePath: '/s',
    log: () => {},
  }

  it('configure validates flags and touches nothing', async () => {
    const state = await hypervDriver.configure(
      {'hyperv-memory': 4096, 'hyperv-vlan-id': 7, 'hyperv-static-macaddress': '00:15:5d:aa:bb:cc'},
      context,
    )
    expect(state).toMatchObject({
      MemSize: 4096,
      CPU: 2,
      DiskSize: 20000,
      VLanID: 7,
      MacAddr: '00155DAABBCC',
      VSwitch: '',
      SSHUser: 'docker',
      IPTimeout: 300,
    })
    expect(state.ImageChecksum).toMatch(/SHA512SUMS$/)
    await expect(hypervDriver.configure({'hyperv-vlan-id': 5000}, context)).rejects.toThrow(
      /--hyperv-vlan-id 5000 must be a whole number from 1 to 4094/,
    )
    await expect(hypervDriver.configure({'hyperv-cpu-count': 0}, context)).rejects.toThrow(
      /--hyperv-cpu-count/,
    )
    await expect(hypervDriver.configure({'hyperv-memory': 1025}, context)).rejects.toThrow(
      /--hyperv-memory 1025 must be a multiple of 2 MB/,
    )
    await expect(hypervDriver.configure({'hyperv-image-url': 'ftp://x/y.raw'}, context)).rejects.toThrow(
      /http/,
    )
    await expect(hypervDriver.configure({'hyperv-virtual-switch': ' '}, context)).rejects.toThrow(
      /must not be empty/,
    )
  })
})

describe('the address wait', () => {
  const context: DriverContext = {
    machineName: 'dev',
    machineDir: '/s/machines/dev',
    storePath: '/s',
    log: () => {},
  }
  /** Where the guest's SSH port answers (firstAnswering itself is tested above). */
  const GUEST = '10.9.8.7'

  /**
   * A driver whose Hyper-V reports a running VM with these adapter addresses and no neighbour
   * entry, on a switch of this type, and whose resolver answers with `resolve`.
   */
  async function driverOn(
    switchName: string,
    switchType: string,
    resolve: (name: string) => Promise<string[]>,
    guestAddresses: string[] = [],
  ) {
    const state = await hypervDriver.configure(
      {'hyperv-ip-timeout': 1, 'hyperv-static-macaddress': '02:aa:bb:cc:dd:ee'},
      context,
    )
    Object.assign(state, {
      VMId: '6d3b0b2e-1f1e-4c9a-9d59-2b4cf4f5e0a1',
      VSwitch: switchName,
      VSwitchType: switchType,
    })
    const lookups: string[] = []
    const powershell = {
      run: async (script: string) =>
        script.includes('Get-NetNeighbor')
          ? `[{"Id":"${state.VMId}","State":"Running"}]\r\n${JSON.stringify([{MacAddress: '02AABBCCDDEE', IPAddresses: guestAddresses}])}\r\n[]\r\n`
          : '',
    }
    const driver = new HyperVDriver(state, context, {
      powershell,
      lookup: (name) => {
        lookups.push(name)
        return resolve(name)
      },
      answering: async (addresses) => addresses.find((a) => a === GUEST),
    })
    return {driver, state, lookups}
  }

  const notFound = () =>
    Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND dev.mshome.net'), {code: 'ENOTFOUND'}))

  it('names the guest NAME.mshome.net on an Internal switch (the Default Switch is one) only', () => {
    expect(icsHostname({VSwitch: 'Default Switch', VSwitchType: 'Internal'} as never, 'dev')).toBe(
      'dev.mshome.net',
    )
    expect(icsHostname({VSwitch: 'NAT', VSwitchType: 'Internal'} as never, 'web.prod')).toBe('web.mshome.net')
    expect(icsHostname({VSwitch: 'LAN', VSwitchType: 'External'} as never, 'dev')).toBeUndefined()
  })

  it("takes NAME.mshome.net's address on the Default Switch when Hyper-V and the neighbour table have none, once it answers on SSH", async () => {
    const {driver, state, lookups} = await driverOn('Default Switch', 'Internal', async () => [
      'fe80::5',
      '192.0.2.1',
      GUEST,
    ])
    await driver.start()
    expect(state.IPAddress).toBe(GUEST)
    expect(lookups).toEqual(['dev.mshome.net'])
  })

  it('prefers what Hyper-V reports, and never asks DNS on an External switch', async () => {
    const reported = await driverOn('Default Switch', 'Internal', notFound, ['10.1.2.3'])
    await reported.driver.start()
    expect(reported.state.IPAddress).toBe('10.1.2.3')
    expect(reported.lookups).toEqual([])
    const external = await driverOn('LAN', 'External', async () => [GUEST])
    await expect(external.driver.start()).rejects.toThrow(
      /^Hyper-V VM dev got no usable IP address within 1s \(Hyper-V reports none and the neighbour table has no entry for 02-AA-BB-CC-DD-EE\)$/,
    )
    expect(external.lookups).toEqual([])
  })

  it('fails with one line saying what was tried: a name that does not resolve, or resolves where nothing answers', async () => {
    const unknown = await driverOn('Default Switch', 'Internal', notFound)
    await expect(unknown.driver.start()).rejects.toThrow(
      /^Hyper-V VM dev got no usable IP address within 1s \(Hyper-V reports none, the neighbour table has no entry for 02-AA-BB-CC-DD-EE, and dev\.mshome\.net does not resolve\)$/,
    )
    const silent = await driverOn('Default Switch', 'Internal', async () => ['192.0.2.1'])
    await expect(silent.driver.start()).rejects.toThrow(
      /, and dev\.mshome\.net resolves to 192\.0\.2\.1, where nothing answers\)$/,
    )
    const failing = await driverOn('Default Switch', 'Internal', () =>
      Promise.reject(Object.assign(new Error('timeout'), {code: 'ETIMEOUT'})),
    )
    await expect(failing.driver.start()).rejects.toThrow(
      /, and looking up dev\.mshome\.net failed \(ETIMEOUT\)\)$/,
    )
  })
})

describe('the KVP daemon the seed sets up (Hyper-V learns guest addresses from it)', () => {
  it("is in the Hyper-V seed's runcmd, read back with isoinfo", async () => {
    const path = join(dir, 'hyperv-seed.iso')
    await writeFile(
      path,
      buildSeedIso(
        hypervSeed('dev', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests berth@dev', '02AABBCCDDEE'),
      ),
    )
    const userData = (await exec('isoinfo', ['-J', '-i', path, '-x', '/user-data'])).stdout
    const config = JSON.parse(userData.replace(/^#cloud-config\n/, ''))
    expect(config.runcmd).toEqual([['sh', '-c', KVP_DAEMON_SETUP]])
    expect(config.users[0].name).toBe('docker')
    expect(KVP_DAEMON_SETUP).toMatch(
      /\*" ubuntu "\*\) pkg=linux-cloud-tools-virtual ;; \*\) pkg=hyperv-daemons ;;/,
    )
  })

  /** Runs the setup with apt-get and systemctl that log their calls; apt-get knows packages only after `update` unless `lists`. */
  async function setUp(lists: boolean, installable = true): Promise<{code: number; calls: string[]}> {
    const bin = await mkdtemp(join(dir, 'kvp-'))
    const calls = join(bin, 'calls')
    if (lists) await writeFile(`${calls}.lists`, '')
    await writeFile(
      join(bin, 'apt-get'),
      [
        '#!/bin/sh',
        'echo "apt-get $*" >> "$CALLS"',
        'case "$*" in *update*) touch "$CALLS.lists"; exit 0 ;; esac',
        `[ -e "$CALLS.lists" ] && ${installable} || { echo "E: Unable to locate package" >&2; exit 100; }`,
        '',
      ].join('\n'),
    )
    await writeFile(join(bin, 'systemctl'), '#!/bin/sh\necho "systemctl $*" >> "$CALLS"\n')
    await chmod(join(bin, 'apt-get'), 0o755)
    await chmod(join(bin, 'systemctl'), 0o755)
    const code = await exec('sh', ['-c', KVP_DAEMON_SETUP], {
      env: {PATH: `${bin}:/usr/bin:/bin`, CALLS: calls},
    }).then(
      () => 0,
      (err) => err.code as number,
    )
    return {code, calls: (await readFile(calls, 'utf8')).trim().split('\n')}
  }

  it("installs the distribution's package, refreshing the package lists only when the install fails without, and enables the unit", async () => {
    const release = await readFile('/etc/os-release', 'utf8')
    const pkg = /^(ID|ID_LIKE)=.*\bubuntu\b/m.test(release) ? 'linux-cloud-tools-virtual' : 'hyperv-daemons'
    const install = `apt-get -q -y install --no-install-recommends ${pkg}`
    const enable = 'systemctl enable --now --no-block hv-kvp-daemon.service'
    expect(await setUp(true)).toEqual({code: 0, calls: [install, enable]})
    expect(await setUp(false)).toEqual({code: 0, calls: [install, 'apt-get -q update', install, enable]})
    expect(await setUp(false, false)).toEqual({code: 1, calls: [install, 'apt-get -q update', install]})
  })
})

describe('the VHD footer', () => {
  const date = new Date('2026-01-02T03:04:05Z')
  const uniqueId = Buffer.from('00112233445566778899aabbccddeeff', 'hex')

  it("holds the specification's fields", () => {
    const footer = vhdFooter(2 * 1024 ** 3, {date, uniqueId})
    expect(footer.length).toBe(512)
    const parsed = parseVhdFooter(footer)
    expect(parsed).toMatchObject({
      cookie: 'conectix',
      features: 2,
      version: 0x00010000,
      dataOffset: 0xffffffffffffffffn,
      creatorApplication: 'brth',
      creatorHostOs: 'Wi2k',
      originalSize: 2n * 1024n ** 3n,
      currentSize: 2n * 1024n ** 3n,
      geometry: {cylinders: 4161, heads: 16, sectorsPerTrack: 63},
      diskType: 2,
    })
    expect(parsed.timestamp.toISOString()).toBe('2026-01-02T03:04:05.000Z')
    expect(footer.readUInt32BE(24)).toBe(820638245) // seconds since 2000-01-01T00:00:00Z
    expect(parsed.uniqueId.equals(uniqueId)).toBe(true)
    expect(footer[84]).toBe(0)
    expect(footer.subarray(85).every((b) => b === 0)).toBe(true)
  })

  it("carries the ones' complement of its byte sum as checksum", () => {
    const footer = vhdFooter(10 * 1024 * 1024, {date, uniqueId})
    let sum = 0
    for (let i = 0; i < 512; i++) if (i < 64 || i >= 68) sum += footer[i]!
    expect(footer.readUInt32BE(64)).toBe(~sum >>> 0)
    expect(footerChecksum(footer)).toBe(footer.readUInt32BE(64))
    const tampered = Buffer.from(footer)
    tampered[50] ^= 1
    expect(footerChecksum(tampered)).not.toBe(footer.readUInt32BE(64))
  })

  it('computes CHS geometry by the specification for small, large and capped disks', () => {
    expect(chsGeometry(10241 * 512)).toEqual({cylinders: 150, heads: 4, sectorsPerTrack: 17})
    expect(chsGeometry(20000 * 1048576)).toEqual({cylinders: 40634, heads: 16, sectorsPerTrack: 63})
    expect(chsGeometry(200 * 1024 ** 3)).toEqual({cylinders: 65535, heads: 16, sectorsPerTrack: 255})
  })

  it('refuses sizes that are not whole sectors', () => {
    expect(() => vhdFooter(1000)).toThrow(/multiple of 512/)
  })

  it('turns a raw file into a fixed VHD that qemu-img reads back', async () => {
    const path = join(dir, 'disk.vhd')
    const raw = Buffer.alloc(5 * 1024 * 1024 + 300, 7)
    await writeFile(path, raw)
    expect(await appendVhdFooter(path, {date, uniqueId})).toBe(5243392)
    const file = await readFile(path)
    expect(file.length).toBe(5243392 + 512)
    expect(file.subarray(0, raw.length).equals(raw)).toBe(true)
    expect(file.subarray(raw.length, 5243392).every((b) => b === 0)).toBe(true)
    const footer = parseVhdFooter(file.subarray(5243392))
    // qemu checks the cookie and the checksum; its own CHS arithmetic must agree with the footer's geometry.
    const chs = JSON.parse((await exec('qemu-img', ['info', '--output', 'json', '-f', 'vpc', path])).stdout)
    expect(chs['virtual-size']).toBe(
      footer.geometry.cylinders * footer.geometry.heads * footer.geometry.sectorsPerTrack * 512,
    )
    const current = JSON.parse(
      (
        await exec('qemu-img', [
          'info',
          '--output',
          'json',
          '--image-opts',
          `driver=vpc,force_size_calc=current_size,file.filename=${path}`,
        ])
      ).stdout,
    )
    expect(current['virtual-size']).toBe(5243392)
    const corrupt = Buffer.from(file)
    corrupt[5243392 + 45] ^= 0xff
    await writeFile(join(dir, 'corrupt.vhd'), corrupt)
    await expect(exec('qemu-img', ['info', '-f', 'vpc', join(dir, 'corrupt.vhd')])).rejects.toThrow(
      /checksum/i,
    )
  })
})
