/**
 * The amazonec2 driver end to end: berth talks to the EC2 simulator on loopback (through
 * AWS_ENDPOINT_URL_EC2 / _SSM) whose instances are real lab hosts, so SSH, the engine install,
 * TLS and the docker CLI all run for real. Afterwards nothing of berth's is left in the simulator.
 */
import {mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {busyboxTar, cleanEnv, LAB_ENGINE, Lab, REPO, run} from '../lab/lab.js'
import {Ec2Simulator} from '../sim/ec2/simulator.js'

const ACCESS_KEY = 'AKIASIMULATOR0000001'
const SECRET_KEY = 'sim-secret-key-that-must-never-be-stored'

let sim: Ec2Simulator
let lab: Lab
let awsDir: string
let busybox: Buffer

/** What a user's shell would hold: keys in the environment, the endpoint pointed at the simulator. */
function awsEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: SECRET_KEY,
    AWS_REGION: sim.region,
    AWS_ENDPOINT_URL_EC2: sim.endpoint,
    AWS_ENDPOINT_URL_SSM: sim.endpoint,
    // Never the developer's own AWS files, never the instance metadata service.
    AWS_CONFIG_FILE: join(awsDir, 'config'),
    AWS_SHARED_CREDENTIALS_FILE: join(awsDir, 'credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    BERTH_AMAZONEC2_CHECKIP_URL: `${sim.endpoint}/checkip`,
    BERTH_AMAZONEC2_POLL: '0.5',
    ...extra,
  }
}

function berth(args: string[], extra: Record<string, string> = {}) {
  return lab.berth(args, {env: awsEnv(extra)})
}

async function record(name: string) {
  return JSON.parse(await readFile(join(lab.storePath, 'machines', name, 'config.json'), 'utf8'))
}

async function expectNothingLeft() {
  expect(await sim.leftovers()).toEqual({instances: [], volumes: [], keyPairs: [], securityGroups: [], spotRequests: [], containers: []})
}

beforeAll(async () => {
  sim = new Ec2Simulator({engineUrl: LAB_ENGINE, pageSize: 2})
  await sim.start()
  lab = await Lab.create()
  awsDir = await mkdtemp(join(tmpdir(), 'berth-aws-'))
  busybox = await busyboxTar()
})

afterAll(async () => {
  await lab?.berth(['rm', '-f', ...(await machinesIn(lab.storePath))], {env: awsEnv()})
  await sim?.stop()
  await lab?.cleanup()
  await rm(awsDir, {recursive: true, force: true})
})

async function machinesIn(store: string): Promise<string[]> {
  const {readdir} = await import('node:fs/promises')
  return readdir(join(store, 'machines')).catch(() => [])
}

describe('a machine on the EC2 simulator', () => {
  const name = `ec2-${Math.random().toString(16).slice(2, 8)}`

  it('is created through SSH, engine install and TLS, and runs a container through the docker CLI', async () => {
    const userData = join(awsDir, 'user-data.sh')
    await writeFile(userData, '#!/bin/sh\necho "user data ran" > /var/tmp/berth-user-data\n')
    const created = await berth(['create', '-d', 'amazonec2', '--amazonec2-userdata', userData, '--amazonec2-tags', 'team,ci', name])
    expect(created.code, created.stderr).toBe(0)

    const instance = sim.instanceByName(name)!
    expect(instance.state).toBe('running')
    expect(instance.metadataOptions).toMatchObject({httpTokens: 'required', httpPutResponseHopLimit: '2'})
    const volumes = instance.volumeIds.map((v) => sim.volumes.get(v)!)
    expect(volumes).toHaveLength(1)
    expect(volumes[0]).toMatchObject({deviceName: '/dev/sda1', volumeType: 'gp3', encrypted: true, size: 16, deleteOnTermination: true})
    const rec = await record(name)
    const tags = {Name: name, team: 'ci', 'berth:machine': name, 'berth:machine-id': rec.Driver.MachineId}
    expect(instance.tags).toEqual(tags)
    expect(volumes[0]!.tags).toEqual(tags)

    const key = [...sim.keyPairs.values()].find((k) => k.keyName === instance.keyName)!
    expect(key.keyType).toBe('ed25519')
    expect(key.tags).toMatchObject({'berth:machine-id': rec.Driver.MachineId})
    expect((await readFile(`${rec.Driver.SSHKeyPath}.pub`, 'utf8')).split(' ').slice(0, 2)).toEqual(key.publicKey.split(' ').slice(0, 2))

    expect(instance.groupIds).toHaveLength(1)
    const group = sim.securityGroups.get(instance.groupIds[0]!)!
    expect(group.tags).toMatchObject(tags)
    const fromCaller = group.ingress.filter((r) => r.cidrs.length > 0)
    expect(fromCaller.map((r) => [r.protocol, r.fromPort]).sort()).toEqual([['tcp', 22], ['tcp', 2376]])
    for (const rule of fromCaller) expect(rule.cidrs).toEqual([`${sim.callerIp}/32`])
    const swarm = group.ingress.filter((r) => r.groupIds.length > 0)
    expect(swarm.map((r) => `${r.fromPort}/${r.protocol}`).sort()).toEqual(['2377/tcp', '4789/udp', '7946/tcp', '7946/udp'])
    for (const rule of swarm) expect(rule.groupIds).toEqual([group.groupId])

    // No secrets in the record; the SSM parameter named the AMI.
    const text = await readFile(join(lab.storePath, 'machines', name, 'config.json'), 'utf8')
    expect(text).not.toContain(SECRET_KEY)
    expect(text).not.toContain(ACCESS_KEY)
    expect(rec.Driver.AMI).toBe('ami-0ubuntu2404amd64')
    expect(rec.Driver.IPAddress).toBe(instance.publicIp)
    expect(rec.Driver.SSHUser).toBe('ubuntu')
    expect(sim.calls.every((c) => c.region === sim.region)).toBe(true)

    const load = await lab.docker(name, ['import', '-', 'job:latest'], busybox)
    expect(load.code, load.stderr).toBe(0)
    const job = await lab.docker(name, ['run', '--rm', 'job:latest', '/bin/busybox', 'echo', `hello from ${name}`])
    expect(job.stdout.trim(), job.stderr).toBe(`hello from ${name}`)
    const ranUserData = await berth(['ssh', name, 'cat', '/var/tmp/berth-user-data'])
    expect(ranUserData.stdout.trim()).toBe('user data ran')
  })

  it('stops, starts, reports status and IP, and labels become tags', async () => {
    const stopped = await berth(['stop', name])
    expect(stopped.code, stopped.stderr).toBe(0)
    expect((await berth(['status', name])).stdout).toBe('Stopped\n')
    expect(sim.instanceByName(name)!.state).toBe('stopped')

    const started = await berth(['start', name])
    expect(started.code, started.stderr).toBe(0)
    expect((await berth(['status', name])).stdout).toBe('Running\n')
    const ip = await berth(['ip', name])
    expect(ip.stdout.trim()).toBe(sim.instanceByName(name)!.publicIp)
    const job = await lab.docker(name, ['run', '--rm', 'job:latest', '/bin/busybox', 'echo', 'after restart'])
    expect(job.stdout.trim(), job.stderr).toBe('after restart')

    const labelled = await berth(['update-labels', '--label', 'env=staging', name])
    expect(labelled.code, labelled.stderr).toBe(0)
    expect(sim.instanceByName(name)!.tags.env).toBe('staging')
  })

  it('rm terminates the instance and deletes its key pair and security group', async () => {
    const removed = await berth(['rm', '-y', name])
    expect(removed.code, removed.stderr).toBe(0)
    await expect(stat(join(lab.storePath, 'machines', name))).rejects.toThrow()
    expect(sim.instanceByName(name)!.state).toBe('terminated')
    await expectNothingLeft()
    // The group was deleted once its instance's network interface let go of it.
    expect(sim.calls.filter((c) => c.action === 'DeleteSecurityGroup').length).toBeGreaterThan(0)
  })
})
