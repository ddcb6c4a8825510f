/** The VBoxManage simulator's state file, shared by the simulator (main.ts) and the tests (harness.ts). */
import {createHash} from 'node:crypto'

export interface SimVm {
  name: string
  uuid: string
  cfgFile: string
  ostype: string
  /** modifyvm settings by option name without dashes (memory, nic1, macaddress2, ...). */
  settings: Record<string, string>
  /** NAT rules per NIC number. */
  natpf: Record<string, string[]>
  controllers: Array<{name: string; type: string; portcount: number}>
  /** "SATA-0-0" -> medium path */
  attachments: Record<string, string>
  sharedFolders: Array<{name: string; path: string}>
  state: 'poweroff' | 'running' | 'aborted'
  stateChanged: string
  /** Whether the lab host of its first boot was made (the seed is applied once). */
  booted: boolean
  /** The host-only address its DHCP server leased. */
  lease?: string
}

export interface SimState {
  vms: Record<string, SimVm>
  media: Record<string, {uuid: string; type: 'disk' | 'dvd'; sizeMb?: number}>
  hostonlyifs: Array<{name: string; ip: string; mask: string; guid: string; mac: string}>
  hostonlynets: Array<{name: string; mask: string; lower: string; upper: string; guid: string}>
  dhcpservers: Array<{network: string; ip: string; mask: string; lower: string; upper: string}>
  calls: Record<string, number>
}

/** The label on every lab resource the simulator makes; its value names the state folder. */
export const SIM_LABEL = 'io.berth.vboxsim'

export function simLabel(stateDir: string): string {
  return createHash('sha256').update(stateDir).digest('hex').slice(0, 10)
}
