/** Where the collectors put their points: the InfluxWriter in the agent, a small in-memory sink in tests. */
import type {Point} from './lineprotocol.js'

export interface PointSink {
  /** Queues points; `onDurable` runs once all of them are safe (acknowledged by InfluxDB, or spooled). */
  write(points: Point[], onDurable?: () => void): void
  /**
   * Undefined while the sink keeps up; while it holds more unsent points than it should, a promise that
   * resolves once it has caught up. Log streams stop reading until then, so a backlog waits in the
   * engine's log files, not in the agent's memory.
   */
  backlog?(): Promise<void> | undefined
}
