import {describe, expect, it} from 'vitest'
import {poll} from '../../src/core/poll.js'

describe('poll, the one deadline loop', () => {
  it('returns the first value an attempt gives, after the misses before it', async () => {
    let calls = 0
    const value = await poll(async () => (++calls === 3 ? 'up' : undefined), {
      timeoutMs: 5000,
      intervalMs: 10,
      onTimeout: () => 'timed out',
    })
    expect([value, calls]).toEqual(['up', 3])
  })

  it('makes one attempt even with no time, and gives onTimeout the attempts and the last retryable error', async () => {
    let calls = 0
    const outcome = await poll(
      async () => {
        calls++
        throw new Error(`miss ${calls}`)
      },
      {timeoutMs: 0, onTimeout: (o) => o},
    )
    expect(calls).toBe(1)
    expect(outcome.attempts).toBe(1)
    expect((outcome.lastError as Error).message).toBe('miss 1')
  })

  it('ends at once on an error that is not retryable', async () => {
    let calls = 0
    const wait = poll(
      async () => {
        calls++
        throw new Error(calls === 1 ? 'transient' : 'fatal')
      },
      {
        timeoutMs: 5000,
        intervalMs: 10,
        retryable: (err) => (err as Error).message === 'transient',
        onTimeout: () => 0,
      },
    )
    await expect(wait).rejects.toThrow('fatal')
    expect(calls).toBe(2)
  })

  it('never sleeps past the deadline, tells each attempt the time left, and throws what onTimeout throws', async () => {
    const left: number[] = []
    const started = Date.now()
    const wait = poll(
      async (remainingMs) => {
        left.push(remainingMs)
        return undefined
      },
      {
        timeoutMs: 150,
        intervalMs: 1000,
        onTimeout: ({attempts}) => {
          throw new Error(`gave up after ${attempts}`)
        },
      },
    )
    await expect(wait).rejects.toThrow('gave up after 2')
    expect(Date.now() - started).toBeLessThan(900)
    expect(left[0]).toBeGreaterThan(100)
    expect(left[1]).toBeLessThanOrEqual(10)
  })
})
