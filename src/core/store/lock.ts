import {randomBytes} from 'node:crypto'
import {hostname} from 'node:os'
import {link, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {BerthError, ExitCode} from '../errors.js'

export interface LockOwner {
  pid: number
  host: string
  purpose: string
  since: string
  /** Tells this acquisition from any other, even in the same process. */
  token?: string
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

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

function parseOwner(text: string | undefined): LockOwner | undefined {
  try {
    const owner = JSON.parse(text ?? '') as LockOwner
    return typeof owner === 'object' && owner !== null && typeof owner.pid === 'number' ? owner : undefined
  } catch {
    return undefined
  }
}

async function readOwner(path: string): Promise<LockOwner | undefined> {
  return parseOwner(await readText(path))
}

/** Publishes `owner` at `path` only if nothing is there: written to a private file first, then hard-linked (atomic, never half-written). */
async function createWithOwner(path: string, owner: LockOwner): Promise<boolean> {
  const draft = `${path}.${owner.token}.new`
  await writeFile(draft, JSON.stringify(owner), {mode: 0o600, flag: 'wx'})
  try {
    await link(draft, path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  } finally {
    await rm(draft, {force: true})
  }
}

/** Whether the lock file `owner` was read from is abandoned: its process is gone, or it never got an owner and is old. */
async function isStale(path: string, owner: LockOwner | undefined, host: string): Promise<boolean> {
  if (owner === undefined) return (await lockAgeMs(path)) > HALF_WRITTEN_STALE_MS
  return owner.host === host && !isAlive(owner.pid)
}

/**
 * Removes the lock at `path` if it is still the stale one read as `seen`; false when another taker is at it.
 * Takers serialize on a guard file, and only takers remove a lock they do not own, so between the check under
 * the guard and the removal nobody can put a live lock there: two takers never both win. The guard is made as a
 * lock is (atomically, its owner in it) and is taken from its holder only when that process is gone: a taker
 * that is merely slow (a loaded machine stalls a process for many seconds) keeps it, since a second taker inside
 * this step could remove the live lock the first lets in.
 */
async function removeIfStill(path: string, seen: string | undefined, me: LockOwner): Promise<boolean> {
  const guard = `${path}.takeover`
  if (!(await createWithOwner(guard, me))) {
    const text = await readText(guard)
    if (text === undefined) return true // released meanwhile: try again now
    if (await isStale(guard, parseOwner(text), me.host)) {
      await rm(guard, {force: true})
      return true
    }
    await new Promise((resolve) => setTimeout(resolve, 5)) // another taker is at it
    return false
  }
  try {
    const now = await readText(path)
    if (now !== undefined && now === seen && (await isStale(path, parseOwner(now), me.host)))
      await rm(path, {force: true})
    return true
  } finally {
    await rm(guard, {force: true})
  }
}

/**
 * An exclusive lock file, created atomically with its owner in it. A lock whose owner process is
 * gone (same host) is stale and taken over, so a killed command never wedges a machine; the
 * takeover is atomic too (see removeIfStill).
 */
export async function acquireLock(
  path: string,
  purpose: string,
  waitMs: number,
): Promise<() => Promise<void>> {
  const deadline = Date.now() + waitMs
  const me: LockOwner = {
    pid: process.pid,
    host: hostname(),
    purpose,
    since: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
  }
  for (;;) {
    if (await createWithOwner(path, me)) {
      return async () => {
        if ((await readOwner(path))?.token === me.token) await rm(path, {force: true})
      }
    }
    const text = await readText(path)
    const owner = parseOwner(text)
    if (text === undefined) continue // released meanwhile
    // Taken over at once, unless another taker holds the guard: then the deadline applies as for a live owner.
    if (
      (await isStale(path, owner, me.host)) &&
      ((await removeIfStill(path, text, me)) || Date.now() < deadline)
    )
      continue
    if (Date.now() >= deadline) {
      const who = owner
        ? `pid ${owner.pid} (${owner.purpose}, since ${owner.since})`
        : 'another berth command'
      throw new BerthError(
        `busy: locked by ${who}`,
        ExitCode.failure,
        'wait for that command to finish, or retry',
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
