import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // e2e files share one lab engine but use their own stores and uniquely named machines, so
    // they may run side by side; most of their time is spent waiting on SSH and the engines, so
    // three at a time on two cores halves the wall time without starving any of them.
    fileParallelism: true,
    maxWorkers: 3,
    minWorkers: 1,
    testTimeout: 10 * 60_000,
    hookTimeout: 20 * 60_000,
    reporters: ['default'],
  },
})
