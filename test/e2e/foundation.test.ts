/**
 * The foundation on the real lab: machines made by the container and generic drivers, the engine
 * installed over SSH, mutual TLS, the real docker CLI through `berth env`, and full cleanup.
 */
import {readFile, writeFile, stat, readdir} from 'node:fs/promises'
import type {ChildProcess} from 'node:child_process'
import {connect} from 'node:tls'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {Driver} from '../../src/core/drivers/contract.js'
import {busyboxTar, Lab, labDocker, startBareHost} from '../lab/lab.js'

let lab: Lab
let busybox: Buffer
const a = {name: ''}
const b = {name: ''}
const g = {name: ''}
let bareHost: Driver

async function record(name: string) {
  return JSON.parse(await readFile(join(lab.storePath, 'machines', name, 'config.json'), 'utf8'))
}

async function runsWorkload(name: string) {
  const load = await lab.docker(name, ['import', '-c', 'CMD ["/bin/sh"]', '-', 'busybox:e2e'], busybox)
  expect(load.code, load.stderr).toBe(0)
  const result = await lab.docker(name, [
    'run',
    '--rm',
    'busybox:e2e',
    '/bin/busybox',
    'echo',
    `hello from ${name}`,
  ])
  expect(result.code, result.stderr).toBe(0)
  expect(result.stdout.trim()).toBe(`hello from ${name}`)
}

beforeAll(async () => {
  lab = await Lab.create()
  busybox = await busyboxTar()
  a.name = lab.name('a')
  b.name = lab.name('b')
  g.name = lab.name('g')
  const bare = await startBareHost(lab)
  bareHost = bare.driver
  const [containers, generic] = await Promise.all([
    lab.berth([
      'create',
      '-d',
      'container',
      '--engine-label',
      'team=e2e',
      '--tls-san',
      'e2e.example',
      '--engine-env',
      'BERTH_E2E_TOKEN=not-for-others',
      a.name,
      b.name,
    ]),
    lab.berth([
      'create',
      '-d',
      'generic',
      '--generic-ip-address',
      bare.ip,
      '--generic-ssh-key',
      bare.key,
      g.name,
    ]),
  ])
  expect(containers.code, containers.stderr).toBe(0)
  expect(generic.code, generic.stderr).toBe(0)
})

afterAll(async () => {
  if (!lab) return
  await lab.berth(['rm', '-f', a.name, b.name, g.name])
  await bareHost?.remove()
  await lab.cleanup()
})

describe('machines made by berth', () => {
  it('runs containers through the real docker CLI configured by `berth env`', async () => {
    for (const machine of [a, b, g]) await runsWorkload(machine.name)
  })

  it('installed the engine over SSH from distribution packages, configured by berth', async () => {
    for (const machine of [a, g]) {
      const pkg = await lab.berth(['ssh', machine.name, "dpkg-query -W -f '${Status}' docker.io"])
      expect(pkg.stdout).toBe('install ok installed')
      const dropIn = await lab.berth([
        'ssh',
        machine.name,
        '--',
        'stat -c "%a %U" /etc/systemd/system/docker.service.d/10-berth.conf && cat /etc/systemd/system/docker.service.d/10-berth.conf',
      ])
      expect(dropIn.stdout).toContain('--tlsverify')
      // Only root reads it: --engine-env values are often credentials.
      expect(dropIn.stdout.split('\n')[0]).toBe('600 root')
      if (machine === a) expect(dropIn.stdout).toContain('BERTH_E2E_TOKEN=not-for-others')
    }
    const info = await lab.docker(a.name, ['info', '--format', '{{json .Labels}}'])
    expect(JSON.parse(info.stdout)).toEqual(expect.arrayContaining(['provider=container', 'team=e2e']))
    const genericInfo = await lab.docker(g.name, ['info', '--format', '{{.Name}} {{json .Labels}}'])
    expect(genericInfo.stdout).toContain(`${g.name} `)
    expect(genericInfo.stdout).toContain('provider=generic')
  })

  it('refuses a TLS client without the client certificate', async () => {
    const rec = await record(a.name)
    const ca = await readFile(rec.HostOptions.AuthOptions.CaCertPath)
    const outcome = await new Promise<string>((resolve) => {
      const socket = connect(
        {host: rec.Driver.IPAddress, port: 2376, ca, checkServerIdentity: () => undefined},
        () => {
          socket.write('GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        },
      )
      let data = ''
      socket.on('data', (chunk) => (data += chunk.toString()))
      socket.on('error', (err) => resolve(`error: ${err.message}`))
      socket.on('close', () =>
        resolve(data ? `response: ${data.split('\r\n')[0]}` : 'closed without response'),
      )
    })
    expect(outcome).not.toMatch(/^response: HTTP\/1\.1 200/)
    expect(outcome).toMatch(/certificate|closed without response|ECONNRESET/i)
  })

  it('issues a server certificate for the IP, the name and --tls-san values', async () => {
    const rec = await record(a.name)
    const {X509Certificate} = await import('node:crypto')
    const cert = new X509Certificate(await readFile(rec.HostOptions.AuthOptions.ServerCertPath))
    expect(cert.subjectAltName).toContain(`IP Address:${rec.Driver.IPAddress}`)
    expect(cert.subjectAltName).toContain(`DNS:${a.name}`)
    expect(cert.subjectAltName).toContain('DNS:e2e.example')
    expect(cert.subjectAltName).toContain('DNS:localhost')
  })

  it('keeps keys private: 0600 files in 0700 folders, no secrets in the record', async () => {
    const dir = join(lab.storePath, 'machines', a.name)
    for (const file of ['id_ed25519', 'key.pem', 'server-key.pem', 'config.json']) {
      expect((await stat(join(dir, file))).mode & 0o777, file).toBe(0o600)
    }
    for (const folder of [
      lab.storePath,
      join(lab.storePath, 'certs'),
      join(lab.storePath, 'machines'),
      dir,
    ]) {
      expect((await stat(folder)).mode & 0o777, folder).toBe(0o700)
    }
    expect((await stat(join(lab.storePath, 'certs', 'ca-key.pem'))).mode & 0o777).toBe(0o600)
    const text = await readFile(join(dir, 'config.json'), 'utf8')
    expect(text).not.toContain('PRIVATE KEY')
  })

  it('lists machines in parallel with their engine versions, as a table and as JSON', async () => {
    const table = await lab.berth(['ls'])
    expect(table.code, table.stderr).toBe(0)
    expect(table.stdout.split('\n')[0]).toMatch(
      /^NAME\s+ACTIVE\s+DRIVER\s+STATE\s+URL\s+SWARM\s+DOCKER\s+ERRORS$/,
    )
    const listing = await lab.berth(['ls', '--json'])
    const rows = JSON.parse(listing.stdout) as Array<{
      name: string
      state: string
      dockerVersion: string
      driver: string
    }>
    for (const machine of [a, b, g]) {
      const row = rows.find((r) => r.name === machine.name)
      expect(row?.state).toBe('Running')
      expect(row?.dockerVersion).toMatch(/^v\d+\./)
    }
    const filtered = await lab.berth(['ls', '-q', '--filter', 'driver=generic'])
    expect(filtered.stdout.trim()).toBe(g.name)
  })

  it('prints ip, url, status, config, inspect -f and active consistently with the record', async () => {
    const rec = await record(a.name)
    expect((await lab.berth(['ip', a.name])).stdout.trim()).toBe(rec.Driver.IPAddress)
    expect((await lab.berth(['url', a.name])).stdout.trim()).toBe(`tcp://${rec.Driver.IPAddress}:2376`)
    expect((await lab.berth(['status', a.name])).stdout.trim()).toBe('Running')
    expect(
      (await lab.berth(['inspect', a.name, '-f', '{{.HostOptions.AuthOptions.StorePath}}'])).stdout.trim(),
    ).toBe(join(lab.storePath, 'machines', a.name))
    const config = await lab.berth(['config', a.name])
    expect(config.code).toBe(0)
    expect(config.stdout).toContain(`-H=tcp://${rec.Driver.IPAddress}:2376`)
    const active = await lab.berth(['active'], {env: {DOCKER_HOST: `tcp://${rec.Driver.IPAddress}:2376`}})
    expect(active.stdout.trim()).toBe(a.name)
  })

  it('pins the SSH host key and refuses a machine whose key changed', async () => {
    const path = join(lab.storePath, 'machines', b.name, 'config.json')
    const original = await readFile(path, 'utf8')
    const rec = JSON.parse(original)
    expect(rec.Berth.SSHHostKey).toMatch(/^ssh-ed25519 /)
    const other = await record(a.name)
    rec.Berth.SSHHostKey = other.Berth.SSHHostKey
    await writeFile(path, JSON.stringify(rec))
    try {
      const refused = await lab.berth(['ssh', b.name, '--', 'true'])
      expect(refused.code).not.toBe(0)
      expect(refused.stderr).toMatch(/host key .* changed/)
      expect(refused.stderr.trim().split('\n')).toHaveLength(1)
    } finally {
      await writeFile(path, original)
    }
    expect((await lab.berth(['ssh', b.name, '--', 'true'])).code).toBe(0)
  })

  it("refuses an engine that presents another machine's certificate (an IP handed to another machine)", async () => {
    const path = join(lab.storePath, 'machines', b.name, 'config.json')
    const original = await readFile(path, 'utf8')
    const rec = JSON.parse(original)
    rec.Driver.IPAddress = (await record(a.name)).Driver.IPAddress
    await writeFile(path, JSON.stringify(rec))
    try {
      const version = await lab.berth(['version', b.name])
      expect(version.code).not.toBe(0)
      // Each machine has its own CA now, so another machine's certificate fails the CA check itself; the pin
      // ("is not machine") is the second line of defence, for machines adopted with docker-machine's shared CA.
      expect(version.stderr).toMatch(
        new RegExp(
          `engine of ${b.name} at .*(is not machine "${b.name}"|did not answer over TLS: (unable to (get local issuer|verify)|self[- ]signed certificate))`,
        ),
      )
    } finally {
      await writeFile(path, original)
    }
    expect((await lab.berth(['version', b.name])).code).toBe(0)
  })

  it('rejects bad input with one line and a non-zero exit, and other machines keep working', async () => {
    const {mkdir} = await import('node:fs/promises')
    await mkdir(join(lab.storePath, 'machines', 'corrupt'), {mode: 0o700})
    await writeFile(join(lab.storePath, 'machines', 'corrupt', 'config.json'), '{"ConfigVersion": 3, "Dri')
    const cases: Array<[string[], RegExp]> = [
      [['create', '-d', 'container', a.name], /already exists/],
      [['create', '-d', 'container', '../x'], /invalid machine name/],
      [['create', '-d', 'container', 'x'.repeat(300)], /limit is 63/],
      [['create', '-d', 'nosuch', 'x1'], /unknown driver/],
      [['create', '--no-such-flag', 'x1'], /Nonexistent flag/],
      [
        ['create', '-d', 'container', '--generic-ip-address', '1.2.3.4', 'x1'],
        /belongs to the generic driver/,
      ],
      [['rm', '-y', 'never-made'], /does not exist/],
      [['inspect', 'corrupt'], /record of machine "corrupt" is corrupt/],
      [['env', 'corrupt'], /corrupt/],
    ]
    for (const [args, message] of cases) {
      const result = await lab.berth(args)
      expect(result.code, args.join(' ')).not.toBe(0)
      expect(result.stdout, args.join(' ')).toBe('')
      expect(result.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1)
      expect(result.stderr).toMatch(message)
    }
    await runsWorkload(a.name)
    const listing = JSON.parse((await lab.berth(['ls', '--json'])).stdout) as Array<{
      name: string
      state: string
      error: string
    }>
    expect(listing.find((m) => m.name === a.name)?.state).toBe('Running')
    expect(listing.find((m) => m.name === 'corrupt')?.error).toMatch(/corrupt/)
    const forced = await lab.berth(['rm', '-f', 'corrupt'])
    expect(forced.code, forced.stderr).toBe(0)
  })
})

describe('interrupted and failed creates', () => {
  /** Starts `berth create`, kills it with SIGKILL once its record says the driver step is done. */
  async function killCreateAfterDriver(name: string) {
    let child: ChildProcess | undefined
    const done = lab.berth(['create', '-d', 'container', name], {onSpawn: (c) => (child = c)})
    const path = join(lab.storePath, 'machines', name, 'config.json')
    const deadline = Date.now() + 5 * 60_000
    while (
      (await readFile(path, 'utf8').then(
        (t) => JSON.parse(t).Berth.Phase,
        () => undefined,
      )) !== 'driver'
    ) {
      if (Date.now() > deadline) throw new Error('create never got past the driver step')
      await new Promise((r) => setTimeout(r, 50))
    }
    child!.kill('SIGKILL')
    expect((await done).code).not.toBe(0)
    expect((await record(name)).Berth.Phase).toBe('driver')
  }

  it('a create killed during provisioning can be finished with `provision`', async () => {
    const name = lab.name('k')
    await killCreateAfterDriver(name)
    const env = await lab.berth(['env', name])
    expect(env.code).not.toBe(0)
    expect(env.stderr).toMatch(/not provisioned/)
    const provision = await lab.berth(['provision', name])
    expect(provision.code, provision.stderr).toBe(0)
    await runsWorkload(name)
    const removed = await lab.berth(['rm', '-y', name])
    expect(removed.code, removed.stderr).toBe(0)
    await expectNothingLeft(name)
  })

  it('a create killed mid-way is removed completely by `rm`', async () => {
    const name = lab.name('r')
    await killCreateAfterDriver(name)
    const removed = await lab.berth(['rm', '-y', name])
    expect(removed.code, removed.stderr).toBe(0)
    await expectNothingLeft(name)
  })
})

async function expectNothingLeft(name: string) {
  const containers = await labDocker([
    'ps',
    '-a',
    '--filter',
    `name=^berth-${name}$`,
    '--format',
    '{{.Names}}',
  ])
  expect(containers.stdout.trim()).toBe('')
  const volumes = await labDocker([
    'volume',
    'ls',
    '--filter',
    `name=berth-${name}-docker`,
    '--format',
    '{{.Name}}',
  ])
  expect(volumes.stdout.trim()).toBe('')
  const machines = await readdir(join(lab.storePath, 'machines'))
  expect(machines).not.toContain(name)
}

describe('rm', () => {
  it('leaves no container, volume or file behind, and leaves a generic host running', async () => {
    const removed = await lab.berth(['rm', '-y', a.name, b.name, g.name])
    expect(removed.code, removed.stderr).toBe(0)
    for (const machine of [a, b, g]) await expectNothingLeft(machine.name)
    expect(await bareHost.getState()).toBe('Running')
  })
})
