/**
 * Stale-lock takeover raced by many separate processes. Needs dist/ (the test script builds first).
 */
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {hostname, tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'
import {expect, it} from 'vitest'

const LOCK_MODULE = resolve(import.meta.dirname, '../../dist/src/core/store/lock.js')
const PROCESSES = Number(process.env.LOCK_RACE_PROCESSES ?? 200)

/**
 * Each process says it is ready, waits for a byte on stdin (sent to all at once, so they race at the same instant), then
 * tries to take the lock whose owner is dead. The one that gets it proves it is alone by creating
 * `holder` exclusively and keeps the lock until every other racer has exited (the test then writes `release`), so a
 * racer stalled past its deadline by a loaded machine still finds a live holder; they give up as busy (exit 3).
 */
const RACER = `
const {acquireLock} = await import(process.env.LOCK_MODULE)
const {appendFile, open} = await import('node:fs/promises')
const dir = process.env.DIR
await appendFile(dir + '/ready', 'x')
await new Promise((r) => process.stdin.once('data', r))
process.stdin.destroy()
try {
  await acquireLock(dir + '/m.lock', 'race', 2000)
} catch {
  process.exit(3)
}
try {
  await (await open(dir + '/holder', 'wx')).close()
} catch {
  await appendFile(dir + '/violations', process.pid + ' found another holder\\n')
  process.exit(1)
}
const {existsSync} = await import('node:fs')
while (!existsSync(dir + '/release')) await new Promise((r) => setTimeout(r, 100))
process.exit(0)
`

function startRacer(dir: string): {go: () => void; exited: Promise<number>} {
  const child = spawn(process.execPath, ['--input-type=module', '-e', RACER], {
    env: {...process.env, DIR: dir, LOCK_MODULE: pathToFileURL(LOCK_MODULE).href},
    stdio: ['pipe', 'ignore', 'ignore'],
  })
  const exited = new Promise<number>((done, reject) => {
    child.on('error', reject)
    child.on('close', (code) => done(code ?? 1))
  })
  return {go: () => child.stdin!.end('go'), exited}
}

it(`${PROCESSES} processes racing at once to take over one stale lock: exactly one holder`, async () => {
  if (!existsSync(LOCK_MODULE)) throw new Error('dist/ is missing: run `npm run build` first')
  const dir = await mkdtemp(join(tmpdir(), 'berth-lock-race-'))
  try {
    // The first lock's owner is a process that has exited.
    const dead = spawn(process.execPath, ['-e', ''])
    await new Promise((r) => dead.on('close', r))
    await writeFile(
      join(dir, 'm.lock'),
      JSON.stringify({pid: dead.pid, host: hostname(), purpose: 'dead', since: ''}),
    )
    const racers = Array.from({length: PROCESSES}, () => startRacer(dir))
    while ((await readFile(join(dir, 'ready'), 'utf8').catch(() => '')).length < PROCESSES)
      await new Promise((r) => setTimeout(r, 100))
    for (const racer of racers) racer.go()
    // The holder (or, were the lock broken, each of several) waits for `release`; everyone else exits on their own.
    let exited = 0
    const counted = racers.map((r) => r.exited.finally(() => ++exited))
    while (exited < PROCESSES - 1) await new Promise((r) => setTimeout(r, 100))
    await writeFile(join(dir, 'release'), '')
    const codes = await Promise.all(counted)
    expect(await readFile(join(dir, 'violations'), 'utf8').catch(() => '')).toBe('')
    expect(codes.filter((c) => c === 0)).toHaveLength(1)
    expect(codes.filter((c) => c === 3)).toHaveLength(PROCESSES - 1)
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}, 900_000)
