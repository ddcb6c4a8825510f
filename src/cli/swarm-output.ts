import {BerthError, ExitCode, oneLine} from '../core/errors.js'
import type {SwarmOutcome} from '../core/swarm/swarm.js'
import type {Outcome} from './progress.js'

/** Outcomes of a swarm command on several machines as JSON rows. */
export function outcomeRows(outcomes: Outcome<SwarmOutcome>[]) {
  return outcomes.map((o) => (o.ok ? {name: o.title, ok: true, ...o.value} : {name: o.title, ok: false, error: oneLine(o.error)}))
}

/** The error a multi-machine swarm command ends with: the only one as is, or a count and the first. */
export function outcomeFailure(outcomes: Outcome<SwarmOutcome>[]): unknown {
  const failed = outcomes.filter((o) => !o.ok) as Array<{title: string; error: unknown}>
  if (failed.length === 0) return undefined
  const first = failed[0]!
  if (outcomes.length === 1) return first.error
  return new BerthError(`${failed.length} of ${outcomes.length} machines failed; ${first.title}: ${oneLine(first.error)}`,
    first.error instanceof BerthError ? first.error.exitCode : ExitCode.failure)
}
