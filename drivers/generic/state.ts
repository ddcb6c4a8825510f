import type {BaseDriverState} from '../../src/core/drivers/kit.js'

/** What the generic driver keeps in the machine record. */
export interface GenericState extends BaseDriverState {
  /** The user's key, copied into the machine's folder by create (SSHKeyPath then names the copy). */
  SourceSSHKeyPath: string
}
