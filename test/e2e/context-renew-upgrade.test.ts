/**
 * On the lab: docker contexts used by the real docker CLI, regenerate-certs that
 * keeps containers running, server-cert renewal when a machine's IP changes, engine upgrade.
 */
import {createHash, X509Certificate, randomInt} from 'node:crypto'
import {mkdtemp, readFile, stat} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {DEFAULT_HOST_IMAGE} from '../../drivers/container/host-image.js'
import {busyboxTar, cleanEnv, Lab, labDocker, run, RunResult} from '../lab/lab.js'

let lab: Lab
let dockerConfig: string
let network = ''
let subnetPrefix = ''
const fillers: string[] = []
const m1 = {name: ''}
const m2 = {name: ''}

/** The docker CLI with only DOCKER_CONFIG set: contexts must carry everything. */
function docker(args: string[], input?: Buffer): Promise<RunResult> {
  return run('docker', args, {env: cleanEnv({DOCKER_CONFIG: dockerConfig}), input})
}

async function record(name: string) {
  return JSON.parse(await readFile(join(lab.storePath, 'machines', name, 'config.json'), 'utf8'))
}

async function fingerprint(path: string): Promise<string> {
  return new X509Certificate(await readFile(path)).fingerprint256
}

function oneErrorLine(result: RunResult, code?: number): void {
  expect(result.code).not.toBe(0)
  if (code !== undefined) expect(result.code).toBe(code)
  expect(result.stderr.trim().split('\n'), result.stderr).toHaveLength(1)
  expect(result.stderr).toMatch(/^Error: /)
}

/** Starts a sleeper on the machine's engine through its context; returns its id. */
async function startSleeper(name: string, busybox: Buffer): Promise<string> {
  const load = await docker(
    ['--context', name, 'import', '-c', 'CMD ["/bin/sh"]', '-', 'busybox:e2e'],
    busybox,
  )
  expect(load.code, load.stderr).toBe(0)
  const started = await docker([
    '--context',
    name,
    'run',
    '-d',
    '--restart=no',
    'busybox:e2e',
    '/bin/busybox',
    'sleep',
    '3600',
  ])
  expect(started.code, started.stderr).toBe(0)
  return started.stdout.trim()
}

async function containerState(name: string, id: string): Promise<{running: boolean; startedAt: string}> {
  const result = await docker([
    '--context',
    name,
    'inspect',
    '-f',
    '{{.State.Running}} {{.State.StartedAt}}',
    id,
  ])
  expect(result.code, result.stderr).toBe(0)
  const [running, startedAt] = result.stdout.trim().split(' ')
  return {running: running === 'true', startedAt: startedAt!}
}

/** Takes `ip` on the test network with a plain container, so the machine cannot get it back. */
async function takeIp(ip: string): Promise<void> {
  const filler = lab.name('ipfiller')
  fillers.push(filler)
  const result = await labDocker([
    'run',
    '-d',
    '--name',
    filler,
    '--network',
    network,
    '--ip',
    ip,
    '--entrypoint',
    '/bin/sleep',
    DEFAULT_HOST_IMAGE,
    '3600',
  ])
  expect(result.code, result.stderr).toBe(0)
}

beforeAll(async () => {
  lab = await Lab.create()
  dockerConfig = await mkdtemp(join(tmpdir(), 'berth-e2e-dockercfg-'))
  m1.name = lab.name('ctx')
  m2.name = lab.name('ipc')
  network = lab.name('berth-e2e-net')
  subnetPrefix = `10.${randomInt(200, 250)}.${randomInt(0, 255)}`
  const net = await labDocker(['network', 'create', '--subnet', `${subnetPrefix}.0/24`, network])
  expect(net.code, net.stderr).toBe(0)
  const created = await Promise.all([
    lab.berth(['create', '-d', 'container', '--container-network', network, '--context', m1.name], {
      env: {DOCKER_CONFIG: dockerConfig},
    }),
    lab.berth(['create', '-d', 'container', '--container-network', network, m2.name], {
      env: {DOCKER_CONFIG: dockerConfig},
    }),
  ])
  for (const result of created) expect(result.code, result.stderr).toBe(0)
})

afterAll(async () => {
  if (!lab) return
  await lab.berth(['rm', '-f', m1.name, m2.name], {env: {DOCKER_CONFIG: dockerConfig}})
  for (const filler of fillers) await labDocker(['rm', '-f', filler])
  if (network) await labDocker(['network', 'rm', network])
  await lab.cleanup()
})

describe('docker contexts', () => {
  it('create --context makes a context the real docker CLI uses without DOCKER_* variables', async () => {
    const info = await docker(['--context', m1.name, 'info', '--format', '{{.Name}} {{json .Labels}}'])
    expect(info.code, info.stderr).toBe(0)
    expect(info.stdout).toContain(`${m1.name} `)
    expect(info.stdout).toContain('provider=container')
    expect((await record(m1.name)).Berth.DockerContext).toBe(m1.name)
    // The docker CLI's own store, under DOCKER_CONFIG (never the real ~/.docker).
    const meta = join(
      dockerConfig,
      'contexts',
      'meta',
      createHash('sha256').update(m1.name).digest('hex'),
      'meta.json',
    )
    const parsed = JSON.parse(await readFile(meta, 'utf8'))
    expect(parsed.Name).toBe(m1.name)
    expect(parsed.Endpoints.docker.Host).toBe(`tcp://${(await record(m1.name)).Driver.IPAddress}:2376`)
  })

  it('`berth context` creates, then updates, and refuses a context berth did not make unless --force', async () => {
    expect((await record(m2.name)).Berth.DockerContext).toBeUndefined()
    expect((await docker(['context', 'inspect', m2.name])).code).not.toBe(0)
    const created = await lab.berth(['context', '--json', m2.name], {env: {DOCKER_CONFIG: dockerConfig}})
    expect(created.code, created.stderr).toBe(0)
    expect(JSON.parse(created.stdout)).toMatchObject({name: m2.name, action: 'created'})
    expect((await record(m2.name)).Berth.DockerContext).toBe(m2.name)
    // The user replaces it with a context of their own: berth no longer treats it as its own.
    expect((await docker(['context', 'rm', m2.name])).code).toBe(0)
    const foreign = await docker(['context', 'create', m2.name, '--docker', 'host=tcp://192.0.2.1:2376'])
    expect(foreign.code, foreign.stderr).toBe(0)
    const refused = await lab.berth(['context', m2.name], {env: {DOCKER_CONFIG: dockerConfig}})
    oneErrorLine(refused, 2)
    expect(refused.stderr).toContain('not made by berth')
    const forced = await lab.berth(['context', '--force', '--json', m2.name], {
      env: {DOCKER_CONFIG: dockerConfig},
    })
    expect(forced.code, forced.stderr).toBe(0)
    expect(JSON.parse(forced.stdout)).toMatchObject({name: m2.name, action: 'updated'})
    const again = await lab.berth(['context', '--json', m2.name], {env: {DOCKER_CONFIG: dockerConfig}})
    expect(JSON.parse(again.stdout).action).toBe('updated')
    const version = await docker(['--context', m2.name, 'version', '--format', '{{.Server.Version}}'])
    expect(version.code, version.stderr).toBe(0)
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+/)
  })

  it('rejects bad input for context with one line and a non-zero exit', async () => {
    oneErrorLine(await lab.berth(['context', 'no-such-machine'], {env: {DOCKER_CONFIG: dockerConfig}}), 4)
    oneErrorLine(await lab.berth(['context', '--bogus', m1.name]), 2)
    oneErrorLine(await lab.berth(['context']), 2)
    oneErrorLine(await lab.berth(['context', 'Bad_Name!']))
  })
})

describe('regenerate-certs', () => {
  it('reissues the server cert (and the client cert) and keeps running containers', async () => {
    const busybox = await busyboxTar()
    const id = await startSleeper(m1.name, busybox)
    const before = await containerState(m1.name, id)
    const rec = await record(m1.name)
    const auth = rec.HostOptions.AuthOptions
    const [serverBefore, clientBefore, caBefore] = await Promise.all([
      fingerprint(auth.ServerCertPath),
      fingerprint(auth.ClientCertPath),
      fingerprint(auth.CaCertPath),
    ])

    const result = await lab.berth(['regenerate-certs', '-f', '--client-certs', '--json', m1.name], {
      env: {DOCKER_CONFIG: dockerConfig},
    })
    expect(result.code, result.stderr).toBe(0)
    const [outcome] = JSON.parse(result.stdout)
    expect(outcome).toMatchObject({name: m1.name, ok: true, clientCert: true, containersKept: true})

    expect(await fingerprint(auth.ServerCertPath)).not.toBe(serverBefore)
    expect(await fingerprint(auth.ClientCertPath)).not.toBe(clientBefore)
    expect(await fingerprint(auth.CaCertPath)).toBe(caBefore)
    // The machine folder's copy (DOCKER_CERT_PATH) and the context carry the new client cert.
    expect(await fingerprint(join(auth.StorePath, 'cert.pem'))).toBe(await fingerprint(auth.ClientCertPath))
    expect((await stat(join(auth.StorePath, 'key.pem'))).mode & 0o777).toBe(0o600)
    // The engine serves the new certificate, and the container never stopped.
    const after = await containerState(m1.name, id)
    expect(after).toEqual(before)
    expect(after.running).toBe(true)
    // Live-restore was only on for the restart: swarm mode still works on this engine later.
    const lr = await docker(['--context', m1.name, 'info', '--format', '{{.LiveRestoreEnabled}}'])
    expect(lr.stdout.trim()).toBe('false')
    const env = await lab.docker(m1.name, ['ps', '-q'])
    expect(env.stdout.trim()).toBe(id.slice(0, 12))
  })

  it('rejects bad input for regenerate-certs with one line and a non-zero exit', async () => {
    oneErrorLine(await lab.berth(['regenerate-certs', '-f', 'no-such-machine']), 4)
    oneErrorLine(await lab.berth(['regenerate-certs', '-f', '--bogus', m1.name]), 2)
    oneErrorLine(await lab.berth(['regenerate-certs']), 2)
  })
})

describe('IP changes', () => {
  it('a running machine whose IP changed: ls says so, start renews the cert, containers keep running', async () => {
    const busybox = await busyboxTar()
    const id = await startSleeper(m2.name, busybox)
    const before = await containerState(m2.name, id)
    const container = (await record(m2.name)).Driver.ContainerName as string
    const oldIp = (await record(m2.name)).Driver.IPAddress as string
    expect(oldIp.startsWith(subnetPrefix + '.')).toBe(true)
    expect((await labDocker(['network', 'disconnect', network, container])).code).toBe(0)
    await takeIp(oldIp)
    expect((await labDocker(['network', 'connect', network, container])).code).toBe(0)

    const ls = await lab.berth(['ls', '--json', '--filter', `name=${m2.name}`])
    const [status] = JSON.parse(ls.stdout)
    expect(status.error).toContain('IP changed')
    expect(status.error).toContain(`berth regenerate-certs ${m2.name}`)

    const started = await lab.berth(['start', m2.name], {env: {DOCKER_CONFIG: dockerConfig}})
    expect(started.code, started.stderr).toBe(0)
    expect(started.stderr).toContain('IP changed')
    const newIp = (await record(m2.name)).Driver.IPAddress as string
    expect(newIp).not.toBe(oldIp)
    const cert = new X509Certificate(
      await readFile((await record(m2.name)).HostOptions.AuthOptions.ServerCertPath),
    )
    const sans = (cert.subjectAltName ?? '').split(', ')
    expect(sans).toContain(`IP Address:${newIp}`)
    expect(sans).not.toContain(`IP Address:${oldIp}`)
    // The context follows the machine, and the sleeper never stopped.
    expect(await containerState(m2.name, id)).toEqual(before)
    const after = await lab.berth(['ls', '--json', '--filter', `name=${m2.name}`])
    expect(JSON.parse(after.stdout)[0]).toMatchObject({error: '', url: `tcp://${newIp}:2376`})
  })

  it('a stopped machine whose IP was taken gets a new IP on start, and a renewed cert', async () => {
    const oldIp = (await record(m2.name)).Driver.IPAddress as string
    const stopped = await lab.berth(['stop', m2.name])
    expect(stopped.code, stopped.stderr).toBe(0)
    await takeIp(oldIp)
    const started = await lab.berth(['start', m2.name], {env: {DOCKER_CONFIG: dockerConfig}})
    expect(started.code, started.stderr).toBe(0)
    const newIp = (await record(m2.name)).Driver.IPAddress as string
    expect(newIp).not.toBe(oldIp)
    const info = await docker(['--context', m2.name, 'info', '--format', '{{.Name}}'])
    expect(info.code, info.stderr).toBe(0)
    expect(info.stdout.trim()).toBe(m2.name)
  })
})

describe('upgrade', () => {
  it('upgrades the engine package over SSH and prints the version before and after', async () => {
    const result = await lab.berth(['upgrade', '--json', m1.name])
    expect(result.code, result.stderr).toBe(0)
    const [outcome] = JSON.parse(result.stdout)
    expect(outcome).toMatchObject({name: m1.name, ok: true})
    expect(outcome.before).toMatch(/^\d+\.\d+/)
    expect(outcome.after).toMatch(/^\d+\.\d+/)
    expect(outcome.upgraded).toBe(outcome.before !== outcome.after)
    const pkg = await lab.berth(['ssh', m1.name, "dpkg-query -W -f '${Version}' docker.io"])
    expect(outcome.after.split('+')[0]).toBe(pkg.stdout.split('+')[0])
  })

  it('rejects bad input for upgrade with one line and a non-zero exit', async () => {
    oneErrorLine(await lab.berth(['upgrade', 'no-such-machine']), 4)
    oneErrorLine(await lab.berth(['upgrade', '--bogus', m1.name]), 2)
  })
})

describe('rm', () => {
  it('removes the contexts berth made', async () => {
    const removed = await lab.berth(['rm', '-f', m1.name, m2.name], {env: {DOCKER_CONFIG: dockerConfig}})
    expect(removed.code, removed.stderr).toBe(0)
    for (const name of [m1.name, m2.name]) {
      expect((await docker(['context', 'inspect', name])).code).not.toBe(0)
    }
  })
})
