import type {BaseDriverState} from '../../src/core/drivers/kit.js'

/** What the VirtualBox driver keeps in the machine record. */
export interface VirtualBoxState extends BaseDriverState {
  VMName: string
  CPU: number
  Memory: number
  DiskSize: number
  ImageURL: string
  ImageChecksum: string
  HostOnlyCIDR: string
  NoHostOnly: boolean
  HostOnlyStyle: string
  NatNicType: string
  ShareFolder: string
  UIType: string
  BootTimeout: number
  StopTimeout: number
  /** Set by create; SSHPort is the NAT forward's port on 127.0.0.1, as in docker-machine's records. */
  NatMAC?: string
  HostOnlyMAC?: string
  HostOnlyAdapter?: string
  /** The guest's SSH host key, pinned at first contact (the driver's own SSH, for the IP). */
  GuestHostKey?: string
  /** Without a host-only NIC the engine is forwarded on 127.0.0.1 with the same port on both ends. */
  EnginePort?: number
}
