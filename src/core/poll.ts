/** What a wait saw when its time ran out. */
export interface PollOutcome {
  attempts: number
  /** The last error an attempt threw, if any (retryable errors only). */
  lastError: unknown
}

export interface PollOptions<T> {
  timeoutMs: number
  /** The pause between attempts, never past the deadline. */
  intervalMs?: number
  /** Which errors of an attempt are a miss, to try again; the others end the wait. Default: all. */
  retryable?: (err: unknown) => boolean
  /** What the wait gives when the time is up: usually throws the one-line error, or returns a fallback. */
  onTimeout: (outcome: PollOutcome) => T
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * The one deadline loop: calls `attempt` (at least once) until it returns a value other than undefined or
 * `timeoutMs` has passed. `attempt` gets the time left, to bound its own waits by it.
 */
export async function poll<T>(
  attempt: (remainingMs: number) => Promise<T | undefined>,
  {timeoutMs, intervalMs = 1000, retryable = () => true, onTimeout}: PollOptions<T>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  const outcome: PollOutcome = {attempts: 0, lastError: undefined}
  for (;;) {
    outcome.attempts++
    try {
      const value = await attempt(Math.max(0, deadline - Date.now()))
      if (value !== undefined) return value
    } catch (err) {
      if (!retryable(err)) throw err
      outcome.lastError = err
    }
    const remaining = deadline - Date.now()
    if (remaining <= 0) return onTimeout(outcome)
    await sleep(Math.min(intervalMs, remaining))
  }
}
