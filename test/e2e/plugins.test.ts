/**
 * External drivers: an npm package that is an oclif plugin with `"berth": {"drivers": [...]}`,
 * added with `berth plugins`, makes machines like a built-in driver does. The sample driver in
 * test/fixtures/sample-driver adopts an existing host; here that host is a lab system container.
 */
import {mkdtemp, mkdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {Driver} from '../../src/core/drivers/contract.js'
import {busyboxTar, Lab, REPO, run, startBareHost} from '../lab/lab.js'

let lab: Lab
let dataDir: string
let host: Driver
let hostIp: string
let hostKey: string

beforeAll(async () => {
  lab = await Lab.create()
  dataDir = await mkdtemp(join(tmpdir(), 'berth-data-'))
  const bare = await startBareHost(lab)
  host = bare.driver
  hostIp = bare.ip
  hostKey = bare.key
})

afterAll(async () => {
  await host?.remove()
  await lab?.cleanup()
  await rm(dataDir, {recursive: true, force: true})
})

const pluginEnv = () => ({BERTH_DATA_DIR: dataDir, BERTH_CACHE_DIR: join(dataDir, 'cache')})

function berth(args: string[]) {
  return lab.berth(args, {env: pluginEnv()})
}

describe('external driver plugins', () => {
  it('an installed plugin contributes a driver, its flags included, that makes a real machine', async () => {
    const before = await berth(['create', '-d', 'sample', 'x'])
    expect(before.code).toBe(2)
    expect(before.stderr).toMatch(/unknown driver "sample"/)

    const link = await berth(['plugins', 'link', '--no-install', join(REPO, 'test/fixtures/sample-driver')])
    expect(link.code, link.stderr).toBe(0)
    expect((await berth(['plugins'])).stdout).toContain('berth-driver-sample')

    const name = lab.name('s')
    const created = await berth([
      'create',
      '-d',
      'sample',
      '--sample-address',
      hostIp,
      '--sample-ssh-key',
      hostKey,
      name,
    ])
    expect(created.code, created.stderr).toBe(0)
    const env = await lab.dockerEnv(name, pluginEnv())
    expect((await run('docker', ['import', '-', 'bb:plugin'], {env, input: await busyboxTar()})).code).toBe(0)
    const job = await run(
      'docker',
      ['run', '--rm', 'bb:plugin', '/bin/busybox', 'echo', 'made by a plugin driver'],
      {env},
    )
    expect(job.stdout.trim()).toBe('made by a plugin driver')
    const info = await run('docker', ['info', '--format', '{{json .Labels}}'], {env})
    expect(info.stdout).toContain('provider=sample')

    const listed = JSON.parse((await berth(['ls', '--json'])).stdout) as Array<{
      name: string
      driver: string
      state: string
    }>
    expect(listed.find((m) => m.name === name)).toMatchObject({driver: 'sample', state: 'Running'})
    expect((await berth(['rm', '-y', name])).code).toBe(0)

    const unlink = await berth(['plugins', 'unlink', 'berth-driver-sample'])
    expect(unlink.code, unlink.stderr).toBe(0)
    expect((await berth(['create', '-d', 'sample', 'y'])).stderr).toMatch(/unknown driver/)
  })

  it('a broken plugin is named in a one-line warning and the built-in drivers keep working', async () => {
    const broken = await mkdtemp(join(tmpdir(), 'berth-broken-plugin-'))
    await mkdir(broken, {recursive: true})
    await writeFile(
      join(broken, 'package.json'),
      JSON.stringify({
        name: 'berth-driver-broken',
        version: '1.0.0',
        type: 'module',
        oclif: {},
        berth: {drivers: ['./driver.js']},
      }),
    )
    await writeFile(join(broken, 'driver.js'), 'export default {name: "Bad Name", options: []}\n')
    try {
      expect((await berth(['plugins', 'link', '--no-install', broken])).code).toBe(0)
      const listing = await berth(['ls'])
      expect(listing.code).toBe(0)
      expect(listing.stderr).toMatch(
        /^Warning: driver plugin berth-driver-broken .* cannot be used: its name must be/m,
      )
      expect((await berth(['create', '-d', 'generic', 'z'])).stderr).toMatch(
        /--generic-ip-address is required/,
      )
    } finally {
      await berth(['plugins', 'unlink', 'berth-driver-broken'])
      await rm(broken, {recursive: true, force: true})
    }
  })

  it('completion scripts are generated for bash and zsh', async () => {
    for (const shell of ['bash', 'zsh']) {
      const result = await berth(['autocomplete', 'script', shell])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toMatch(/autocomplete/)
    }
  })
})
