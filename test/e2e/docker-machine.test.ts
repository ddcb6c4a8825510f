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

/**
 * One pass through the docker-machine name on a running machine, compared with the bytes its source defines
 * (test/unit/docker-machine-bytes.test.ts derives each from commands/*.go): env, ls, and start refused.
 */
async function dockerMachineBytes(name: string, url: string, certPath: string) {
  const typed = `docker-machine --bugsnag-api-token=no-report env`
  const [bash, fish, powershell, listing, start] = await Promise.all([
    machine('env', '--shell', 'bash', name),
    machine('env', '--shell', 'fish', name),
    machine('env', '--shell', 'powershell', name),
    machine('ls', '--filter', `name=^${name}$`),
    machine('start', name),
  ])
  // commands/env.go: envTmpl with shellCfgSet's pieces, GenerateUsageHint repeating os.Args.
  expect(bash.stdout).toBe(
    `export DOCKER_TLS_VERIFY="1"\nexport DOCKER_HOST="${url}"\nexport DOCKER_CERT_PATH="${certPath}"\n` +
      `export DOCKER_MACHINE_NAME="${name}"\n# Run this command to configure your shell: \n` +
      `# eval $(${typed} --shell bash ${name})\n`,
  )
  expect(fish.stdout).toBe(
    `set -gx DOCKER_TLS_VERIFY "1";\nset -gx DOCKER_HOST "${url}";\nset -gx DOCKER_CERT_PATH "${certPath}";\n` +
      `set -gx DOCKER_MACHINE_NAME "${name}";\n# Run this command to configure your shell: \n` +
      `# eval (${typed} --shell fish ${name})\n`,
  )
  expect(powershell.stdout.split('\n').slice(0, 2)).toEqual([
    '$Env:DOCKER_TLS_VERIFY = "1"',
    `$Env:DOCKER_HOST = "${url}"`,
  ])
  // The bash lines, evaluated by bash, point the docker CLI at the machine.
  const viaEval = await run('bash', ['-c', `eval "$(cat)"; docker version --format '{{.Server.Os}}'`], {
    env: cleanEnv(),
    input: bash.stdout,
  })
  expect(viaEval.stdout).toBe('linux\n')
  // commands/ls.go: tabwriter.NewWriter(os.Stdout, 5, 1, 3, ' ', 0); every cell but the last padded to its
  // column's widest cell plus 3 (at least 5), so the empty ERRORS cell leaves DOCKER's padding behind it.
  const version = listing.stdout.split('\n')[1]!.trim().split(/\s+/).at(-1)!
  const header = ['NAME', 'ACTIVE', 'DRIVER', 'STATE', 'URL', 'SWARM', 'DOCKER', 'ERRORS']
  const row = [name, '-', 'container', 'Running', url, '', version, '']
  const widths = header.map((h, i) => Math.max(5, Math.max(h.length, row[i]!.length) + 3))
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i]!) : c)).join('')
  expect(version).toMatch(/^v\d+\.\d+/)
  expect(listing.stdout).toBe(`${line(header)}\n${line(row)}\n`)
  await registeredByUrl(name, url)
  // libmachine/host/host.go: Start logs its first line, then runActionForState refuses (mcnerror.ErrHostAlreadyInState).
  expect([start.code, start.stdout, start.stderr]).toEqual([
    1,
    `Starting "${name}"...\n`,
    `Machine "${name}" is already running.\n`,
  ])
}

/**
 * docker-machine's way to register an engine that already runs (drivers/none/driver.go): a second name for the
 * machine's engine. No SSH, no provisioning; state is always Running, ip is the URL's host:port, the power
 * commands refuse with its words, and rm forgets the name without touching the engine.
 */
async function registeredByUrl(of: string, url: string) {
  const alias = `${of}-by-url`
  const created = await machine('create', '-d', 'none', '--url', url, alias)
  expect(created.code, created.stderr).toBe(0)
  const [shown, ip, env, listing, driver, stop, ssh] = await Promise.all([
    machine('url', alias),
    machine('ip', alias),
    machine('env', '--shell', 'bash', alias),
    machine(
      'ls',
      '--filter',
      `name=^${alias}$`,
      '--format',
      '{{.Name}} {{.DriverName}} {{.State}} {{.URL}} {{.Error}}',
    ),
    machine('inspect', alias, '-f', '{{.DriverName}} {{.Driver.URL}}'),
    machine('stop', alias),
    machine('ssh', alias, 'true'),
  ])
  expect(shown.stdout).toBe(`${url}\n`)
  expect(ip.stdout).toBe(`${new URL(url).host}\n`)
  expect(listing.stdout).toBe(`${alias} none Running ${url} \n`)
  expect(driver.stdout).toBe(`none ${url}\n`)
  expect([stop.code, stop.stderr]).toEqual([1, 'hosts without a driver cannot be stopped\n'])
  expect(ssh.code).toBe(1)
  expect(ssh.stderr.trim().split('\n')).toHaveLength(1)
  // Its env works with the docker CLI: the folder holds the machine's CA and berth's client certificate.
  const viaEval = await run('bash', ['-c', `eval "$(cat)"; docker version --format '{{.Server.Os}}'`], {
    env: cleanEnv(),
    input: env.stdout,
  })
  expect([viaEval.stdout, viaEval.stderr]).toEqual(['linux\n', ''])
  const removed = await machine('rm', '-y', alias)
  expect(removed.code, removed.stderr).toBe(0)
  expect((await machine('ls', '-q')).stdout.split('\n')).not.toContain(alias)
  expect((await machine('status', of)).stdout).toBe('Running\n') // the engine is untouched
}

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

        if (name === names[0]) await dockerMachineBytes(name, url.stdout.trim(), storePath.stdout.trim())

        const stop = await machine('stop', name)
        expect(stop.code, stop.stderr).toBe(0)
        // libmachine/host/host.go: Stop logs both lines on stdout.
        expect(stop.stdout).toBe(`Stopping "${name}"...\nMachine "${name}" was stopped.\n`)
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
