import {createInterface} from 'node:readline/promises'
import {BerthError, ExitCode} from '../core/errors.js'

/** Asks on a terminal; without one (scripts, CI) there is nobody to ask and the command goes on, as `rm` does. */
export async function confirm(question: string): Promise<void> {
  if (!process.stdin.isTTY) return
  const rl = createInterface({input: process.stdin, output: process.stderr})
  const answer = await rl.question(question)
  rl.close()
  if (!/^y(es)?$/i.test(answer.trim())) throw new BerthError('aborted', ExitCode.failure)
}
