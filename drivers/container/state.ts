import type {BaseDriverState} from '../../src/core/store/record.js'

/** What the container driver keeps in the machine record. */
export interface ContainerState extends BaseDriverState {
  /** The local engine that runs the machine container (unix:///path or tcp://host:port). */
  Engine: string
  Image: string
  Network: string
  ContainerName: string
}
