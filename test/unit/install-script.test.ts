/**
 * The engine install command as a real shell runs it, with a stand-in `curl` on PATH that records its
 * arguments and "downloads" a script: a hostile URL stays one argument, the script runs from a private
 * folder (never a fixed /tmp path), that folder is gone afterwards, and the script's exit status is the command's.
 */
import {execFile} from 'node:child_process'
import {existsSync} from 'node:fs'
import {chmod, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {installScriptCommand} from '../../src/core/provision/provision.js'

let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-install-'))
  // curl ARGS... -o FILE: records each argument on its own line, writes a script that reports where it ran.
  await writeFile(
    join(dir, 'curl'),
    `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > "${dir}/curl-args"\n` +
      `while [ "$1" != -o ]; do shift; done\n` +
      `printf 'echo "ran from $0"; [ -d "$(dirname "$0")" ] && stat -c %%a "$(dirname "$0")"; exit "\${CODE:-0}"\\n' > "$2"\n`,
  )
  await chmod(join(dir, 'curl'), 0o755)
})

afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

function sh(command: string, env: Record<string, string> = {}): Promise<{code: number; stdout: string}> {
  return new Promise((resolve) =>
    execFile(
      'sh',
      ['-c', command],
      {env: {...process.env, PATH: `${dir}:${process.env.PATH}`, TMPDIR: dir, ...env}},
      (err, stdout) => resolve({code: err ? Number(err.code) : 0, stdout}),
    ),
  )
}

describe('engine install script', () => {
  it('passes a hostile URL to curl as one https-only argument and runs nothing else from it', async () => {
    const url = `https://get.example/x';touch ${dir}/pwned;'$(touch ${dir}/pwned2)`
    const result = await sh(installScriptCommand(url, 'false'))
    expect(result.code).toBe(0)
    const args = (await readFile(join(dir, 'curl-args'), 'utf8')).trim().split('\n')
    expect(args.slice(0, 5)).toEqual(['-fsSL', '--proto', '=https', '--proto-redir', '=https'])
    expect(args[5]).toBe(url)
    expect(existsSync(join(dir, 'pwned'))).toBe(false)
    expect(existsSync(join(dir, 'pwned2'))).toBe(false)
  })

  it('runs the script from a private mktemp folder, removed afterwards, and passes its exit status on', async () => {
    const ok = await sh(installScriptCommand('https://get.example/', 'false'))
    const [ran, mode] = ok.stdout.trim().split('\n')
    const folder = /^ran from (.*)\/install\.sh$/.exec(ran!)?.[1]
    expect(folder?.startsWith(`${dir}/tmp.`), ran).toBe(true)
    expect(mode).toBe('700')
    expect(existsSync(folder!)).toBe(false)
    const failed = await sh(installScriptCommand('https://get.example/', 'false'), {CODE: '7'})
    expect(failed.code).toBe(7)
  })
})
