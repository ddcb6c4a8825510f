/**
 * The create, provision, power and remove operations (src/core/ops/) driven through their failure
 * paths with a fake driver (test/fakes/driver.ts) and a fake SSH host (test/fakes/ssh.ts): what each
 * failure leaves on disk, the error a user sees, and that the machine's lock is released.
 */
import {existsSync} from 'node:fs'
import {mkdtemp, readdir, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import {BerthError, ExitCode} from '../../src/core/errors.js'
import type {Reporter} from '../../src/core/machine/machine.js'
import {createMachine, type CreateRequest, validateCreate} from '../../src/core/ops/create.js'
import {powerAction} from '../../src/core/ops/power.js'
import {reprovisionMachine} from '../../src/core/ops/provision.js'
import {removeMachine} from '../../src/core/ops/remove.js'
import {emptyEngineOptions} from '../../src/core/store/record.js'
import {DROP_IN_PATH} from '../../src/core/provision/daemon.js'
import {Store} from '../../src/core/store/store.js'
import {FAKE_DRIVER, type FakeCloud, registerFakeDriver} from '../fakes/driver.js'
import {FakeHost, restoreSsh} from '../fakes/ssh.js'

let root: string
let store: Store
let cloud: FakeCloud
let host: FakeHost
let steps: string[]
let counter = 0
const reporter: Reporter = {step: (message) => steps.push(message)}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-ops-'))
  store = new Store(root)
  cloud = registerFakeDriver()
})

afterAll(async () => {
  await rm(root, {recursive: true, force: true})
})

beforeEach(() => {
  cloud.reset()
  host = new FakeHost()
  host.install()
  steps = []
})

afterEach(async () => {
  await host.stopEngine()
  restoreSsh()
})

function request(name = `m${++counter}`): CreateRequest {
  return {
    name,
    driver: FAKE_DRIVER,
    driverOptions: {},
    engine: emptyEngineOptions(),
    tlsSans: [],
    sshTimeoutMs: 2000,
  }
}

/** Validates and creates, pointing the fake host's engine at the port the record names. */
async function create(req: CreateRequest) {
  const validated = await validateCreate(store, req)
  host.enginePort = Number(validated.state.EnginePort)
  return createMachine(store, validated, reporter)
}

async function failure(work: Promise<unknown>): Promise<BerthError | Error> {
  const err = await work.then(
    () => undefined,
    (e: Error) => e,
  )
  if (!err) throw new Error('expected the operation to fail')
  return err
}

function lockHeld(name: string): boolean {
  return existsSync(join(root, 'locks', `${name}.lock`))
}

/** Nothing half-written: no temp files of writeFileAtomic left in the machine's folder. */
async function tempFiles(name: string): Promise<string[]> {
  return (await readdir(store.machineDir(name))).filter((f) => f.endsWith('.tmp'))
}

describe('create', () => {
  it('succeeds end to end against the fakes: provisioned record, pinned host key, engine proven over mutual TLS', async () => {
    const req = request()
    const {record, version} = await create(req)
    expect(version.Version).toBe('27.0.0-fake')
    const saved = await store.load(req.name)
    expect(saved.Berth.Phase).toBe('provisioned')
    expect(saved.Berth.SSHHostKey).toBe(host.hostKey)
    expect(saved.Driver.IPAddress).toBe('127.0.0.1')
    expect(record.Berth.Timings).toHaveProperty('verify')
    expect(host.files.get('/etc/docker/server-key.pem')?.mode).toBe(0o600)
    expect(host.files.get(DROP_IN_PATH)?.mode).toBe(0o600) // --engine-env values may be credentials
    expect((await stat(saved.HostOptions.AuthOptions.ServerKeyPath)).mode & 0o777).toBe(0o600)
    expect(host.openSessions).toBe(0)
    expect(await tempFiles(req.name)).toEqual([])
    expect(lockHeld(req.name)).toBe(false)
  })

  it('a failing pre-create check exits 3 with one line and makes nothing', async () => {
    cloud.failAt('preCreateCheck', 'quota exceeded in region x\nstack line')
    const req = request()
    const err = await failure(validateCreate(store, req))
    expect(err).toBeInstanceOf(BerthError)
    expect((err as BerthError).exitCode).toBe(ExitCode.preCreateCheck)
    expect(err.message).toBe('pre-create check of the fake driver failed: quota exceeded in region x')
    expect(await store.exists(req.name)).toBe(false)
    expect(cloud.calls).toEqual([`preCreateCheck ${req.name}`])
  })

  it('a driver create that fails half-way is cleaned up: provider resource and folder gone, lock released', async () => {
    cloud.failAt('create', 'instance failed to boot', {afterEffect: true})
    const req = request()
    const err = await failure(create(req))
    expect(err.message).toBe('instance failed to boot')
    expect(cloud.machines.has(req.name)).toBe(false)
    expect(cloud.calls).toContain(`remove ${req.name}`)
    expect(existsSync(store.machineDir(req.name))).toBe(false)
    expect(lockHeld(req.name)).toBe(false)
    expect(steps).toContain('Creation failed (instance failed to boot); removing what was made')
  })

  it('when cleanup fails too, the record stays at phase "created" and `provision` finishes the driver step', async () => {
    cloud.failAt('create', 'api timeout', {afterEffect: true})
    cloud.failAt('remove', 'api still down')
    const req = request()
    expect((await failure(create(req))).message).toBe('api timeout')
    expect(steps.at(-1)).toBe(`Cleanup incomplete: api still down; \`berth rm -f ${req.name}\` retries it`)
    const left = await store.load(req.name)
    expect(left.Berth.Phase).toBe('created')
    expect(await tempFiles(req.name)).toEqual([])
    expect(lockHeld(req.name)).toBe(false)

    cloud.heal('create')
    cloud.heal('remove')
    const version = await reprovisionMachine(store, req.name, reporter, 2000)
    expect(version.ApiVersion).toBe('1.47')
    expect(steps).toContain('Finishing the driver step an earlier create did not complete')
    expect((await store.load(req.name)).Berth.Phase).toBe('provisioned')
    expect(cloud.calls.filter((c) => c === `create ${req.name}`)).toHaveLength(2)
  })

  it('SSH dropping mid-provision fails the create and removes the machine; no session is left open', async () => {
    host.dropOn = /server-key\.pem$/
    const req = request()
    const err = await failure(create(req))
    expect(err.message).toBe('Connection lost')
    expect(host.openSessions).toBe(0)
    expect(cloud.machines.has(req.name)).toBe(false)
    expect(existsSync(store.machineDir(req.name))).toBe(false)
    expect(lockHeld(req.name)).toBe(false)
  })

  it('after SSH dropped and cleanup failed, the record is at phase "driver" with its host key pinned, and `provision` finishes without recreating', async () => {
    host.dropOn = /systemctl show -p FragmentPath/
    cloud.failAt('remove', 'api down')
    const req = request()
    await failure(create(req))
    const left = await store.load(req.name)
    expect(left.Berth.Phase).toBe('driver')
    expect(left.Berth.SSHHostKey).toBe(host.hostKey)
    expect(cloud.machines.get(req.name)?.state).toBe('Running')

    host.dropOn = undefined
    cloud.heal('remove')
    await reprovisionMachine(store, req.name, reporter, 2000)
    expect((await store.load(req.name)).Berth.Phase).toBe('provisioned')
    expect(cloud.calls.filter((c) => c === `create ${req.name}`)).toHaveLength(1)
    expect(lockHeld(req.name)).toBe(false)
  })

  it('an OS berth cannot provision fails with a one-line reason and is cleaned up', async () => {
    host.osRelease = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.0\nPRETTY_NAME="Alpine Linux v3.20"\n'
    host.dockerdInstalled = false
    const req = request()
    const err = await failure(create(req))
    expect(err).toBeInstanceOf(BerthError)
    expect(err.message).toBe('unsupported OS: Alpine Linux v3.20 (berth provisions debian and ubuntu hosts)')
    expect(host.commands).not.toContainEqual(expect.stringContaining('apt-get'))
    expect(cloud.machines.has(req.name)).toBe(false)
    expect(existsSync(store.machineDir(req.name))).toBe(false)
  })

  it('a getIP that fails after create is cleaned up the same way', async () => {
    cloud.failAt('getIP', 'no address assigned yet')
    const req = request()
    expect((await failure(create(req))).message).toBe('no address assigned yet')
    expect(cloud.machines.has(req.name)).toBe(false)
    expect(existsSync(store.machineDir(req.name))).toBe(false)
  })

  it('SSH that never answers times out with exit 5 naming the target and the last error', async () => {
    host.refuseConnections = 'connect ECONNREFUSED 127.0.0.1:22'
    const req = request()
    const err = await failure(create(req))
    expect((err as BerthError).exitCode).toBe(ExitCode.timeout)
    expect(err.message).toMatch(
      new RegExp(
        `^SSH to ${req.name} \\(root@127\\.0\\.0\\.1:22, key .+\\) did not answer within 2s after \\d+ attempts; last error: connect ECONNREFUSED 127\\.0\\.0\\.1:22$`,
      ),
    )
    expect(cloud.machines.has(req.name)).toBe(false)
    expect(existsSync(store.machineDir(req.name))).toBe(false)
    expect(lockHeld(req.name)).toBe(false)
  })
})

describe('provision', () => {
  it('a host whose SSH key changed is refused at once, and the pinned key is kept', async () => {
    const req = request()
    await create(req)
    const pinned = host.hostKey
    host.hostKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAnImpostorHostKey000000000000000000000000'
    const started = Date.now()
    const err = await failure(reprovisionMachine(store, req.name, reporter, 10_000))
    expect(err.message).toBe(`SSH host key of ${req.name} changed`)
    expect(Date.now() - started).toBeLessThan(5000) // not retried until the 10 s deadline
    expect(host.commands.filter((c) => c === 'cat /etc/os-release')).toHaveLength(1) // only the create's
    expect((await store.load(req.name)).Berth.SSHHostKey).toBe(pinned)
    expect(lockHeld(req.name)).toBe(false)
  })
})

describe('power', () => {
  async function provisioned(): Promise<string> {
    const req = request()
    await create(req)
    steps = []
    cloud.calls.length = 0
    return req.name
  }

  it('a getState that throws fails the action with its message, after the action itself took effect; the lock is released', async () => {
    const name = await provisioned()
    cloud.failAt('getState', 'describe call throttled', {times: 1})
    expect((await failure(powerAction(store, name, 'stop', reporter))).message).toBe(
      'describe call throttled',
    )
    expect(cloud.machines.get(name)?.state).toBe('Stopped')
    expect(lockHeld(name)).toBe(false)
    expect(await powerAction(store, name, 'kill', reporter)).toBe('Stopped')
  })

  it('a start that fails leaves the record as it was and the lock free; the next start brings the engine back', async () => {
    const name = await provisioned()
    await powerAction(store, name, 'stop', reporter)
    await host.stopEngine()
    const before = await store.load(name)
    cloud.failAt('start', 'insufficient capacity', {times: 1})
    expect((await failure(powerAction(store, name, 'start', reporter))).message).toBe('insufficient capacity')
    expect(await store.load(name)).toEqual(before)
    expect(lockHeld(name)).toBe(false)

    // The fake dockerd comes back with the machine, as a real one does at boot.
    await host.run('systemctl restart docker.service')
    expect(await powerAction(store, name, 'start', reporter)).toBe('Running')
    expect(steps).toContain('Waiting for the engine over mutual TLS')
  })

  it('stop and kill failures surface as they are and leave the machine running', async () => {
    const name = await provisioned()
    cloud.failAt('stop', 'stop rejected')
    cloud.failAt('kill', 'kill rejected')
    expect((await failure(powerAction(store, name, 'stop', reporter))).message).toBe('stop rejected')
    expect((await failure(powerAction(store, name, 'kill', reporter))).message).toBe('kill rejected')
    expect(cloud.machines.get(name)?.state).toBe('Running')
    expect(lockHeld(name)).toBe(false)
  })

  it('an action on a machine whose resource vanished fails without touching the store', async () => {
    const name = await provisioned()
    cloud.machines.delete(name)
    expect((await failure(powerAction(store, name, 'start', reporter))).message).toBe(
      `fake machine ${name} does not exist`,
    )
    expect((await store.load(name)).Berth.Phase).toBe('provisioned')
    expect(lockHeld(name)).toBe(false)
  })
})

describe('remove', () => {
  async function made(): Promise<string> {
    const req = request()
    await create(req)
    return req.name
  }

  it('succeeds when the backing resource is already gone', async () => {
    const name = await made()
    cloud.machines.delete(name)
    await removeMachine(store, name, false, reporter)
    expect(await store.exists(name)).toBe(false)
    expect(lockHeld(name)).toBe(false)
  })

  it('a driver remove that fails keeps the record (exit 1, hint to force); -f removes it from the store anyway', async () => {
    const name = await made()
    cloud.failAt('remove', 'resource in use')
    const err = await failure(removeMachine(store, name, false, reporter))
    expect(err).toBeInstanceOf(BerthError)
    expect(err.message).toBe(`removing ${name} failed: resource in use`)
    expect((err as BerthError).exitCode).toBe(ExitCode.failure)
    expect((err as BerthError).hint).toBe(`\`berth rm -f ${name}\` removes it from the store anyway`)
    expect((await store.load(name)).Berth.Phase).toBe('provisioned')
    expect(lockHeld(name)).toBe(false)

    await removeMachine(store, name, true, reporter)
    expect(await store.exists(name)).toBe(false)
    expect(steps).toContain(
      `Driver could not remove ${name} (resource in use); removing it from the store anyway`,
    )
  })

  it('a record that cannot be read is removed only with -f, and then only its folder', async () => {
    const name = await made()
    await writeFile(store.recordPath(name), '{"Name": ')
    await failure(removeMachine(store, name, false, reporter))
    expect(await store.exists(name)).toBe(true)
    await removeMachine(store, name, true, reporter)
    expect(await store.exists(name)).toBe(false)
    expect(cloud.calls).not.toContain(`remove ${name}`)
    expect(lockHeld(name)).toBe(false)
  })
})
