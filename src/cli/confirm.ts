import {createInterface} from 'node:readline'

/** The first line of standard input, or undefined when it ends first. Reads pipes too, not just terminals. */
export function readLine(input: NodeJS.ReadableStream = process.stdin): Promise<string | undefined> {
  return new Promise((resolve) => {
    const rl = createInterface({input, terminal: false})
    let answered = false
    rl.once('line', (line) => {
      answered = true
      rl.close()
      resolve(line)
    })
    rl.once('close', () => answered || resolve(undefined))
  })
}

/**
 * Asks and reads the answer from standard input, terminal or not, as docker-machine's confirmInput
 * (commands/commands.go) did: `echo n | rm x` keeps x. Only an answer starting with y (any case) is
 * a yes; an empty line or the end of input is a no.
 */
export async function confirm(
  question: string,
  output: NodeJS.WritableStream = process.stderr,
): Promise<boolean> {
  output.write(question)
  const answer = await readLine()
  if (answer === undefined) output.write('\n')
  return (answer ?? '').trim().toLowerCase().startsWith('y')
}
