import {Listr, ListrLogger, ProcessOutput} from 'listr2'
import {BerthError, ExitCode, oneLine} from '../core/errors.js'
import type {Reporter} from '../core/machine/machine.js'

export interface ProgressItem<T> {
  title: string
  run(reporter: Reporter): Promise<T>
}

export type Outcome<T> = {title: string; ok: true; value: T} | {title: string; ok: false; error: unknown}

export interface ProgressOptions {
  quiet?: boolean
  concurrency?: number
}

/**
 * Runs items in parallel (bounded) with a live task list on a terminal, plain lines when stderr
 * is not one, and nothing with `quiet`. Progress goes to stderr; stdout stays for data.
 * One item's failure does not stop the others.
 */
export async function runWithProgress<T>(
  items: ProgressItem<T>[],
  options: ProgressOptions = {},
): Promise<Outcome<T>[]> {
  const outcomes: Outcome<T>[] = new Array(items.length)
  const processOutput = new ProcessOutput(process.stderr, process.stderr)
  const logger = new ListrLogger({processOutput})
  const list = new Listr(
    items.map((item, index) => ({
      title: item.title,
      task: async (_ctx: unknown, task: {output: string; title: string}) => {
        try {
          const value = await item.run({step: (message) => (task.output = message)})
          outcomes[index] = {title: item.title, ok: true, value}
        } catch (error) {
          outcomes[index] = {title: item.title, ok: false, error}
          throw new Error(oneLine(error))
        }
      },
    })),
    {
      concurrent: options.concurrency ?? 8,
      exitOnError: false,
      registerSignalListeners: false,
      silentRendererCondition: options.quiet === true,
      fallbackRendererCondition: !process.stderr.isTTY,
      rendererOptions: {logger, collapseErrors: false, collapseSubtasks: false},
      fallbackRendererOptions: {logger, timestamp: undefined},
    },
  )
  await list.run().catch(() => undefined)
  return outcomes
}

/** Fails with the single error, or with a summary naming the first failure when several ran. */
export function throwIfFailed<T>(outcomes: Outcome<T>[]): void {
  const failed = outcomes.filter((o): o is Extract<Outcome<T>, {ok: false}> => !o.ok)
  if (failed.length === 0) return
  const first = failed[0]!
  if (outcomes.length === 1) throw first.error
  throw new BerthError(
    `${failed.length} of ${outcomes.length} machines failed; ${first.title}: ${oneLine(first.error)}`,
    first.error instanceof BerthError ? first.error.exitCode : ExitCode.failure,
  )
}
