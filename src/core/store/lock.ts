import {hostname} from 'node:os'
import {open, readFile, rm, stat} from 'node:fs/promises'
import {BerthError, ExitCode} from '../errors.js'

export interface LockOwner {
  pid: number
  host: string
  purpose: string
  since: string
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** How long a lock file without a readable owner may exist before it is taken for abandoned. */
const HALF_WRITTEN_STALE_MS = 10_000

async function lockAgeMs(path: string): Promise<number> {
  try {
    return Date.now() - (await stat(path)).mtimeMs
  } catch {
    return 0
  }
}

async function readOwner(path: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockOwner
  } catch {
    return undefined
  }
}

/**
 * An exclusive lock file (O_EXCL). A lock whose owner process is gone (same host) is stale and
 * taken over, so a killed command never wedges a machine.
 */
export async function acquireLock(path: string, purpose: string, waitMs: number): Promise<() => Promise<void>> {
  const deadline = Date.now() + waitMs
  const me: LockOwner = {pid: process.pid, host: hostname(), purpose, since: new Date().toISOString()}
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600)
      try {
        await handle.writeFile(JSON.stringify(me))
      } catch (err) {
        await rm(path, {force: true})
        throw err
      } finally {
        await handle.close()
      }
      return async () => {
        const owner = await readOwner(path)
        if (owner?.pid === me.pid) await rm(path, {force: true})
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const owner = await readOwner(path)
    // An unreadable lock is one whose writer died between create and write; it is stale once old.
    const abandoned = owner === undefined && (await lockAgeMs(path)) > HALF_WRITTEN_STALE_MS
    if (abandoned || (owner && owner.host === me.host && !isAlive(owner.pid))) {
      await rm(path, {force: true})
      continue
    }
    if (Date.now() >= deadline) {
      const who = owner ? `pid ${owner.pid} (${owner.purpose}, since ${owner.since})` : 'another berth command'
      throw new BerthError(`busy: locked by ${who}`, ExitCode.failure, 'wait for that command to finish, or retry')
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
