import type {BaseDriverState} from '../../src/core/drivers/kit.js'

/** What the container driver keeps in the machine record. */
export interface ContainerState extends BaseDriverState {
  /** The local engine that runs the machine container (unix:///path or tcp://host:port). */
  Engine: string
  Image: string
  Network: string
  ContainerName: string
}
