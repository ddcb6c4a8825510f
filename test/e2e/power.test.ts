/**
 * Power commands and the per-machine lock: restart, kill and start change the machine's real
 * state; a command on a locked machine waits, while commands on other machines go on.
 */
import {hostname} from 'node:os'
import {rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Lab} from '../lab/lab.js'

let lab: Lab
let a: string
let b: string

beforeAll(async () => {
  lab = await Lab.create()
  a = lab.name('pa')
  b = lab.name('pb')
  const created = await lab.berth(['create', '-q', a, b])
  expect(created.code, created.stderr).toBe(0)
})

afterAll(async () => {
  await lab?.berth(['rm', '-f', a, b])
  await lab?.cleanup()
})

async function state(name: string) {
  return (await lab.berth(['status', name])).stdout.trim()
}

describe('power commands', () => {
  it('restart, kill and start change the real state and the engine comes back', async () => {
    expect((await lab.berth(['restart', a])).code).toBe(0)
    expect(await state(a)).toBe('Running')
    expect((await lab.docker(a, ['info', '--format', '{{.Name}}'])).stdout.trim()).toBe(a)
    const killed = await lab.berth(['kill', '--json', a])
    expect(JSON.parse(killed.stdout)).toEqual([{name: a, ok: true, state: 'Stopped'}])
    expect((await lab.berth(['start', a])).code).toBe(0)
    expect(await state(a)).toBe('Running')
    expect((await lab.docker(a, ['info', '--format', '{{.Name}}'])).stdout.trim()).toBe(a)
  })

  it('a command waits for the lock on its machine; commands on other machines do not', async () => {
    // A lock held by a live process (this test) on machine a.
    const lock = join(lab.storePath, 'locks', `${a}.lock`)
    await writeFile(
      lock,
      JSON.stringify({
        pid: process.pid,
        host: hostname(),
        purpose: 'e2e holder',
        since: new Date().toISOString(),
      }),
    )
    let finished = false
    const stopA = lab.berth(['stop', a]).then((r) => {
      finished = true
      return r
    })
    const stopB = await lab.berth(['stop', b])
    expect(stopB.code, stopB.stderr).toBe(0)
    expect(await state(b)).toBe('Stopped')
    expect(finished).toBe(false)
    expect(await state(a)).toBe('Running')
    await rm(lock)
    const result = await stopA
    expect(result.code, result.stderr).toBe(0)
    expect(await state(a)).toBe('Stopped')
  })

  it('bad input: missing machines and unknown flags give one line and a non-zero exit', async () => {
    for (const args of [
      ['restart', 'never-made'],
      ['kill', 'never-made'],
      ['start', '--bogus', a],
    ]) {
      const result = await lab.berth(args)
      expect(result.code, args.join(' ')).not.toBe(0)
      expect(result.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1)
    }
  })

  it('rm -f removes the machines that exist even when another named one is already gone', async () => {
    const removed = await lab.berth(['rm', '-f', 'never-made', b])
    expect(removed.code, removed.stderr).toBe(0)
    expect(removed.stderr).toMatch(/never-made does not exist/)
    expect(removed.stdout.trim()).toBe(`Successfully removed ${b}`)
    expect((await lab.berth(['status', b])).code).not.toBe(0)
  })
})
