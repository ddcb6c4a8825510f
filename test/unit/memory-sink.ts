import type {Point} from '../../agent/src/lineprotocol.js'
import type {PointSink} from '../../agent/src/sink.js'

/**
 * A PointSink that keeps what it is given. By default it acknowledges every write at once, like a
 * healthy InfluxDB; with `{ackAtOnce: false}` the writes stay pending until `acknowledge()`, so a
 * test can see what a collector does before and after its points are safe.
 */
export class MemorySink implements PointSink {
  readonly points: Point[] = []
  private pending: (() => void)[] = []

  constructor(private readonly options: {ackAtOnce: boolean} = {ackAtOnce: true}) {}

  write(points: Point[], onDurable?: () => void): void {
    this.points.push(...points)
    if (!onDurable) return
    if (this.options.ackAtOnce) onDurable()
    else this.pending.push(onDurable)
  }

  /** Runs the callbacks of every write so far, in write order. */
  acknowledge(): void {
    const callbacks = this.pending
    this.pending = []
    for (const callback of callbacks) callback()
  }
}
