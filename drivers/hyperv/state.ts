import type {BaseDriverState} from '../../src/core/drivers/kit.js'

/** What the Hyper-V driver keeps in the machine record, under docker-machine's Hyper-V field names. */
export interface HyperVState extends BaseDriverState {
  VSwitch: string
  /** Set with VSwitch by the pre-create check: whether NAME.mshome.net may name the guest. */
  VSwitchType: string
  /** MB */
  MemSize: number
  CPU: number
  /** MB */
  DiskSize: number
  ImageURL: string
  ImageChecksum: string
  MacAddr: string
  VLanID?: number
  DisableDynamicMemory: boolean
  /** Seconds to wait for the guest's address. */
  IPTimeout: number
  VMId: string
}
