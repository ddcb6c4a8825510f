/**
 * The PowerShell the Hyper-V driver runs, one function per step. Cmdlets are module-qualified
 * (`Hyper-V\Get-VM`: VMware PowerCLI has a Get-VM too), every value is a single-quoted literal,
 * and results are JSON arrays on one line each. Enum properties (State, SwitchType) are turned
 * into their names with `[string]`, since ConvertTo-Json writes enums as numbers.
 */
import {asJsonArray, psQuote} from './powershell.js'

/** Hyper-V Administrators, a built-in group whose members manage VMs without elevation. */
export const HYPERV_ADMINISTRATORS_SID = 'S-1-5-32-578'

/** Hyper-V module present, and whether the user is an elevated Administrator or a Hyper-V Administrator. */
export function preflightScript(): string {
  return (
    '$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent()); ' +
    asJsonArray(
      '[pscustomobject]@{' +
        "HyperVModule = @(Get-Module -ListAvailable -Name 'Hyper-V').Count -gt 0; " +
        'Administrator = $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator); ' +
        `HyperVAdministrator = $principal.IsInRole([Security.Principal.SecurityIdentifier]${psQuote(HYPERV_ADMINISTRATORS_SID)})}`,
    )
  )
}

const name = (property: string) => `@{Name=${psQuote(property)}; Expression={[string]$_.${property}}}`

/** The virtual switches, and the VMs already named like the machine. */
export function inventoryScript(vmName: string): string {
  return (
    asJsonArray(`Hyper-V\\Get-VMSwitch | Select-Object -Property Name, Id, ${name('SwitchType')}`) +
    '; ' +
    asJsonArray(
      `Hyper-V\\Get-VM -Name ${psQuote(vmName)} -ErrorAction SilentlyContinue | Select-Object -Property Id, Name`,
    )
  )
}

/** A fixed VHD to a dynamic VHDX, grown to the machine's disk size. */
export function convertDiskScript(vhdPath: string, vhdxPath: string, sizeBytes: number): string {
  return (
    `Hyper-V\\Convert-VHD -Path ${psQuote(vhdPath)} -DestinationPath ${psQuote(vhdxPath)} -VHDType Dynamic; ` +
    `Hyper-V\\Resize-VHD -Path ${psQuote(vhdxPath)} -SizeBytes ${sizeBytes}`
  )
}

export interface NewVm {
  name: string
  /** The folder the VM's configuration goes to (the machine's folder). */
  path: string
  vhdxPath: string
  switchName: string
  memoryBytes: number
  /** Written to the VM's notes, to recognise it when only its name is known. */
  notes: string
}

/** Creates the VM (Generation 2, booting from the disk) and prints its id. */
export function newVmScript(vm: NewVm): string {
  return (
    `$vm = Hyper-V\\New-VM -Name ${psQuote(vm.name)} -Path ${psQuote(vm.path)} -Generation 2 -VHDPath ${psQuote(vm.vhdxPath)} ` +
    `-BootDevice VHD -SwitchName ${psQuote(vm.switchName)} -MemoryStartupBytes ${vm.memoryBytes}; ` +
    `Hyper-V\\Set-VM -VM $vm -Notes ${psQuote(vm.notes)}; ` +
    // Windows 10 checkpoints a VM at every start by default: differencing disks berth did not ask for.
    // The Hyper-V of Windows 10 before 1709 and of Server 2016 has none, and Set-VM no such parameter.
    "if ((Get-Command -Module 'Hyper-V' -Name 'Set-VM').Parameters.ContainsKey('AutomaticCheckpointsEnabled')) " +
    '{ Hyper-V\\Set-VM -VM $vm -AutomaticCheckpointsEnabled $false }; ' +
    asJsonArray('$vm | Select-Object -Property Id, Name')
  )
}

const byId = (id: string) => `$vm = Hyper-V\\Get-VM -Id ${psQuote(id)}; `

export interface VmSettings {
  cpuCount: number
  dynamicMemory: boolean
  /** 12 hex digits, as Set-VMNetworkAdapter takes it. */
  macAddress: string
  vlanId?: number
  seedIsoPath: string
}

/** Secure boot off (cloud images are not signed for Microsoft's Windows key), CPUs, memory, MAC, VLAN, seed DVD. */
export function configureVmScript(id: string, settings: VmSettings): string {
  return (
    byId(id) +
    'Hyper-V\\Set-VMFirmware -VM $vm -EnableSecureBoot Off; ' +
    `Hyper-V\\Set-VMProcessor -VM $vm -Count ${settings.cpuCount}; ` +
    `Hyper-V\\Set-VMMemory -VM $vm -DynamicMemoryEnabled ${settings.dynamicMemory ? '$true' : '$false'}; ` +
    `Hyper-V\\Set-VMNetworkAdapter -VM $vm -StaticMacAddress ${psQuote(settings.macAddress)}; ` +
    (settings.vlanId === undefined
      ? ''
      : `Hyper-V\\Set-VMNetworkAdapterVlan -VM $vm -Access -VlanId ${settings.vlanId}; `) +
    `Hyper-V\\Add-VMDvdDrive -VM $vm -Path ${psQuote(settings.seedIsoPath)}`
  )
}

export function startScript(id: string): string {
  return byId(id) + 'Hyper-V\\Start-VM -VM $vm'
}

/** A guest shutdown through the integration services; `turnOff` pulls the plug instead. */
export function stopScript(id: string, turnOff: boolean): string {
  return byId(id) + `Hyper-V\\Stop-VM -VM $vm ${turnOff ? '-TurnOff' : '-Force'}`
}

/** The VM's state, adapters (guest-reported addresses need the KVP daemon) and the host's neighbour entries for its MAC. */
export function addressScript(id: string, neighbourMac: string): string {
  return (
    byId(id) +
    asJsonArray(`$vm | Select-Object -Property Id, ${name('State')}`) +
    '; ' +
    asJsonArray('Hyper-V\\Get-VMNetworkAdapter -VM $vm | Select-Object -Property MacAddress, IPAddresses') +
    '; ' +
    asJsonArray(
      `NetTCPIP\\Get-NetNeighbor -LinkLayerAddress ${psQuote(neighbourMac)} -ErrorAction SilentlyContinue | ` +
        `Select-Object -Property IPAddress, ${name('State')}`,
    )
  )
}

export function stateScript(id: string): string {
  return asJsonArray(
    `Hyper-V\\Get-VM -Id ${psQuote(id)} -ErrorAction SilentlyContinue | Select-Object -Property Id, ${name('State')}`,
  )
}

/**
 * Removes the VM (turned off first; Remove-VM keeps disks) by id, or, when the id was never
 * recorded, the VMs of that name whose notes say they are this machine's.
 */
export function removeScript(target: {id: string} | {name: string; notes: string}): string {
  const select =
    'id' in target
      ? `Hyper-V\\Get-VM -Id ${psQuote(target.id)} -ErrorAction SilentlyContinue`
      : `Hyper-V\\Get-VM -Name ${psQuote(target.name)} -ErrorAction SilentlyContinue | Where-Object -Property Notes -EQ -Value ${psQuote(target.notes)}`
  return (
    `$vms = @(${select}); ` +
    '$vms | Hyper-V\\Stop-VM -TurnOff -Force; $vms | Hyper-V\\Remove-VM -Force; ' +
    asJsonArray('$vms | Select-Object -Property Id')
  )
}
