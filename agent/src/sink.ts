/** Where the collectors put their points: the InfluxWriter in the agent, a small in-memory sink in tests. */
import type {Point} from './lineprotocol.js'

export interface PointSink {
  /** Queues points; `onDurable` runs once all of them are safe (acknowledged by InfluxDB, or spooled). */
  write(points: Point[], onDurable?: () => void): void
}
