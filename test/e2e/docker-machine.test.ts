/**
 * berth as a drop-in for docker-machine: the calls GitLab Runner's docker+machine executor makes,
 * through the `docker-machine` name, with its store read directly as the runner reads it.
 */
import {mkdir, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {busyboxTar, cleanEnv, dockerMachineHostOptions, LAB_ENGINE, labDocker, REPO, run} from '../lab/lab.js'

let store: string
let busybox: Buffer
const suffix = Math.random().toString(16).slice(2, 8)
const names = Array.from({length: 6}, (_, i) => `runner-${suffix}-${i}`)

/** The runner's way of calling: the global flag first, the store from MACHINE_STORAGE_PATH. */
function machine(...args: string[]) {
  return run(
    process.execPath,
    [join(REPO, 'bin/docker-machine.js'), '--bugsnag-api-token=no-report', ...args],
    {
      env: cleanEnv({MACHINE_STORAGE_PATH: store}),
    },
  )
}

async function configJson(name: string) {
  return JSON.parse(await readFile(join(store, 'machines', name, 'config.json'), 'utf8'))
}

beforeAll(async () => {
  store = await mkdtemp(join(tmpdir(), 'berth-dm-'))
  busybox = await busyboxTar()
})

afterAll(async () => {
  await machine('rm', '-f', ...names)
  await rm(store, {recursive: true, force: true})
})

describe('GitLab Runner call sequence, 6 machines in parallel', () => {
  it('create, config, url, inspect -f, a job through the docker CLI, stop, rm -y', async () => {
    await Promise.all(
      names.map(async (name) => {
        const created = await machine(
          'create',
          '--driver',
          'container',
          `--container-engine=${LAB_ENGINE}`,
          `--engine-label=runner=${name}`,
          name,
        )
        expect(created.code, created.stderr).toBe(0)

        const config = await machine('config', name)
        expect(config.code, config.stderr).toBe(0)

        const url = await machine('url', name)
        expect(url.stdout).toMatch(/^tcp:\/\/[0-9.]+:2376\n$/)
        const storePath = await machine('inspect', name, '-f', '{{.HostOptions.AuthOptions.StorePath}}')
        expect(storePath.stdout).toBe(`${join(store, 'machines', name)}\n`)

        // The runner reads config.json itself.
        const record = await configJson(name)
        expect(record.ConfigVersion).toBe(3)
        expect(record.DriverName).toBe('container')
        expect(record.Name).toBe(name)
        expect(url.stdout.trim()).toBe(`tcp://${record.Driver.IPAddress}:2376`)
        expect(record.HostOptions.EngineOptions.Labels).toContain(`runner=${name}`)
        for (const file of ['ca.pem', 'cert.pem', 'key.pem'])
          await stat(join(record.HostOptions.AuthOptions.StorePath, file))

        // The job: the docker CLI with exactly the runner's environment.
        const env = cleanEnv({
          DOCKER_HOST: url.stdout.trim(),
          DOCKER_CERT_PATH: storePath.stdout.trim(),
          DOCKER_TLS_VERIFY: '1',
        })
        expect((await run('docker', ['import', '-', 'job:latest'], {env, input: busybox})).code).toBe(0)
        const job = await run(
          'docker',
          ['run', '--rm', 'job:latest', '/bin/busybox', 'echo', `job on ${name}`],
          {env},
        )
        expect(job.stdout.trim()).toBe(`job on ${name}`)

        const stop = await machine('stop', name)
        expect(stop.code, stop.stderr).toBe(0)
        expect((await machine('status', name)).stdout).toBe('Stopped\n')
        const dead = await machine('config', name)
        expect(dead.code).toBe(1)
        expect(dead.stderr).toMatch(/is Stopped/)

        const removed = await machine('rm', '-y', name)
        expect(removed.code, removed.stderr).toBe(0)
        await expect(stat(join(store, 'machines', name))).rejects.toThrow()
        const left = await labDocker([
          'ps',
          '-a',
          '--filter',
          `name=^berth-${name}$`,
          '--format',
          '{{.Names}}',
        ])
        expect(left.stdout.trim()).toBe('')
      }),
    )
  })
})

describe("docker-machine's own store", () => {
  const legacy = `legacy-${suffix}`
  const legacyRecord = {
    ConfigVersion: 3,
    Driver: {
      IPAddress: '192.0.2.10',
      MachineName: legacy,
      SSHUser: 'docker',
      SSHPort: 50022,
      SSHKeyPath: '/nowhere/id_rsa',
      StorePath: '/home/someone/.docker/machine',
      SwarmMaster: false,
      CPU: 1,
      Memory: 1024,
      VBoxManager: {},
      HostOnlyCIDR: '192.168.99.1/24',
    },
    DriverName: 'virtualbox',
    HostOptions: dockerMachineHostOptions(
      '/home/someone/.docker/machine/certs',
      `/home/someone/.docker/machine/machines/${legacy}`,
    ),
    Name: legacy,
  }

  it('ls, inspect and url read a record docker-machine wrote, and never rewrite it', async () => {
    await mkdir(join(store, 'machines', legacy), {recursive: true})
    const text = JSON.stringify(legacyRecord, null, '    ')
    await writeFile(join(store, 'machines', legacy, 'config.json'), text)
    // url asks the driver first, as docker-machine's GetURL does: no VirtualBox here, so no URL (exit 1, one line).
    const url = await machine('url', legacy)
    expect([url.code, url.stdout, url.stderr.trim().split('\n').length]).toEqual([1, '', 1])
    const inspected = JSON.parse((await machine('inspect', legacy)).stdout)
    expect(inspected).toEqual(legacyRecord)
    expect((await machine('inspect', legacy, '-f', '{{.Driver.HostOnlyCIDR}}')).stdout).toBe(
      '192.168.99.1/24\n',
    )
    const listing = await machine('ls', '--format', '{{.Name}} {{.DriverName}} {{.URL}}')
    // commands/ls.go: the URL column only for a machine whose driver says it runs.
    expect(listing.stdout).toContain(`${legacy} virtualbox \n`)
    expect((await machine('ls', '-q')).stdout.split('\n')).toContain(legacy)
    expect(await readFile(join(store, 'machines', legacy, 'config.json'), 'utf8')).toBe(text)
    await rm(join(store, 'machines', legacy), {recursive: true})
  })
})

describe('bad input through the docker-machine name', () => {
  it('unknown driver options, missing and corrupt machines: one line, exit 1, nothing left', async () => {
    const bogus = await machine('create', '--driver', 'container', '--container-bogus=1', `bogus-${suffix}`)
    expect(bogus.code).toBe(1)
    expect(bogus.stderr.trim().split('\n')).toHaveLength(1)
    await expect(stat(join(store, 'machines', `bogus-${suffix}`))).rejects.toThrow()

    // commands/create.go (cmdCreateInner): one name only, the rest printed as Go prints a slice.
    const extra = await machine('create', '--driver', 'container', `one-${suffix}`, 'two', 'three')
    expect([extra.code, extra.stdout, extra.stderr]).toEqual([
      1,
      '',
      'Invalid command line. Found extra arguments [two three]\n',
    ])
    await expect(stat(join(store, 'machines', `one-${suffix}`))).rejects.toThrow()

    // commands/env.go: errImproperUnsetEnvArgs; without a name -u prints the unset lines.
    const unsetNamed = await machine('env', '-u', `one-${suffix}`)
    expect([unsetNamed.code, unsetNamed.stdout, unsetNamed.stderr]).toEqual([
      1,
      '',
      'Error: Expected no machine name when the -u flag is present\n',
    ])
    const unset = await machine('env', '-u', '--shell', 'bash')
    expect(unset.code, unset.stderr).toBe(0)
    expect(unset.stdout).toMatch(/^unset DOCKER_TLS_VERIFY\n/)

    const missing = await machine('status', `missing-${suffix}`)
    expect(missing.code).toBe(1)
    expect(missing.stderr.trim().split('\n')).toHaveLength(1)

    await mkdir(join(store, 'machines', `corrupt-${suffix}`), {recursive: true})
    await writeFile(join(store, 'machines', `corrupt-${suffix}`, 'config.json'), '{"ConfigVersion": 3,')
    const corrupt = await machine('inspect', `corrupt-${suffix}`)
    expect(corrupt.code).toBe(1)
    expect(corrupt.stderr).toMatch(/corrupt/)
    expect((await machine('rm', '-f', `corrupt-${suffix}`)).code).toBe(0)
    await expect(stat(join(store, 'machines', `corrupt-${suffix}`))).rejects.toThrow()
  })

  it('update-labels is refused where the driver has no tags; rm -f cleans up a machine deleted out of band', async () => {
    const name = `gone-${suffix}`
    const created = await machine('create', '--driver', 'container', `--container-engine=${LAB_ENGINE}`, name)
    expect(created.code, created.stderr).toBe(0)
    const labels = await machine('update-labels', '--label', 'team=ci', name)
    expect(labels.code).toBe(1)
    expect(labels.stderr).toMatch(/container driver does not support labels/)
    await labDocker(['rm', '-f', `berth-${name}`])
    const status = await machine('status', name)
    expect(status.stdout, status.stderr).toBe('NotFound\n')
    const removed = await machine('rm', '-f', name)
    expect(removed.code, removed.stderr).toBe(0)
    await expect(stat(join(store, 'machines', name))).rejects.toThrow()
    const volumes = await labDocker(['volume', 'ls', '-q', '--filter', `name=berth-${name}-docker`])
    expect(volumes.stdout.trim()).toBe('')
  })
})
