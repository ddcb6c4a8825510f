// Shared helpers for the benchmarks: run the built CLI against a temporary store on the lab engine.
import {spawn} from 'node:child_process'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

export const REPO = resolve(import.meta.dirname, '..')
export const LAB_ENGINE = process.env.BERTH_LAB_ENGINE ?? 'unix:///run/berth-lab/docker.sock'

export async function tempStore() {
  return mkdtemp(join(tmpdir(), 'berth-bench-'))
}

export async function removeStore(path) {
  await rm(path, {recursive: true, force: true})
}

/** Runs berth; resolves with exit code, output and wall seconds. */
export function berth(store, args) {
  const env = {...process.env, BERTH_STORAGE_PATH: store, BERTH_CONTAINER_ENGINE: LAB_ENGINE}
  for (const key of Object.keys(env)) if (key.startsWith('DOCKER_')) delete env[key]
  const started = performance.now()
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(REPO, 'bin/run.js'), ...args], {env})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c) => (stdout += c))
    child.stderr.on('data', (c) => (stderr += c))
    child.on('error', fail)
    child.on('close', (code) => done({code, stdout, stderr, seconds: (performance.now() - started) / 1000}))
  })
}

export function median(values) {
  const sorted = [...values].sort((x, y) => x - y)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function must(result, what) {
  if (result.code !== 0)
    throw new Error(`${what} failed (${result.code}): ${result.stderr.trim().split('\n').pop()}`)
  return result
}
