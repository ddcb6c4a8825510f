/** Exit codes berth uses; 3 matches docker-machine's "pre-create check failed". */
export const ExitCode = {
  failure: 1,
  usage: 2,
  preCreateCheck: 3,
  notFound: 4,
  timeout: 5,
} as const

/** An error meant for a user: one line, an exit code, optionally a hint on what to do. */
export class BerthError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.failure,
    readonly hint?: string,
    /** docker-machine's own words for this failure, printed instead under its name (no hint, as it gave none). */
    readonly dockerMachineMessage?: string,
  ) {
    super(message)
    this.name = 'BerthError'
  }
}

/** A machine whose engine is asked for while it is not running (docker-machine: drivers.ErrHostIsNotRunning). */
export class HostNotRunningError extends BerthError {
  constructor(name: string, state: string) {
    super(
      `machine "${name}" is ${state}, not Running`,
      ExitCode.failure,
      `run \`berth start ${name}\``,
      'Host is not running',
    )
  }
}

export class MachineNotFoundError extends BerthError {
  constructor(name: string) {
    // docker-machine's words: libmachine/mcnerror/errors.go, ErrHostDoesNotExist.
    super(
      `machine "${name}" does not exist`,
      ExitCode.notFound,
      'run `berth ls` to see your machines',
      `Docker machine "${name}" does not exist. Use "docker-machine ls" to list machines. Use "docker-machine create" to add a new one.`,
    )
  }
}

/** Flattens any error to the single line a user sees. */
export function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return (
    message
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean)[0] ?? 'unknown error'
  )
}

/**
 * Runs `work` and fails with a BerthError when it does not settle within `ms`. Work given as a
 * function receives a signal that is aborted at the deadline, so its sockets close then too.
 */
export async function withTimeout<T>(
  work: Promise<T> | ((signal: AbortSignal) => Promise<T>),
  ms: number,
  what: string,
): Promise<T> {
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort()
      reject(new BerthError(`${what} timed out after ${ms / 1000}s`, ExitCode.timeout))
    }, ms)
  })
  try {
    return await Promise.race([typeof work === 'function' ? work(controller.signal) : work, deadline])
  } finally {
    clearTimeout(timer)
  }
}
