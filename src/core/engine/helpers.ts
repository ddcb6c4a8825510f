/** What every caller of the Docker Engine API needs from dockerode's answers, written once. */
import type Docker from 'dockerode'
import {oneLine} from '../errors.js'

/** The engine answered 404: no such container, image, volume, network, node, service or secret. */
export function isNotFound(err: unknown): boolean {
  return (err as {statusCode?: number}).statusCode === 404
}

/** The engine's own message from a dockerode error ("(HTTP code 503) unexpected - X" → "X"). */
export function engineMessage(err: unknown): string {
  const json = (err as {json?: {message?: string}}).json
  return json?.message ? oneLine(json.message) : oneLine(err).replace(/^\(HTTP code \d+\)\s*[\w ]*-\s*/, '')
}

/** Whether the engine has the image. */
export async function hasImage(docker: Docker, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect()
    return true
  } catch (err) {
    if (isNotFound(err)) return false
    throw err
  }
}

/** Removes a container whatever its state; false when there was none. */
export async function removeContainer(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getContainer(name).remove({force: true})
    return true
  } catch (err) {
    if (isNotFound(err)) return false
    throw err
  }
}

/** Waits for a pull or image load to finish; rejects with the first error its progress reports. */
export function followProgress(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, output: {error?: string}[]) => {
      const failed = err?.message ?? output.find((o) => o.error)?.error
      if (failed) reject(new Error(failed))
      else resolve()
    })
  })
}
