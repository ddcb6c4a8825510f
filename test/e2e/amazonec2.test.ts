/**
 * The amazonec2 driver end to end: berth talks to the EC2 simulator on loopback (through
 * AWS_ENDPOINT_URL_EC2 / _SSM) whose instances are real lab hosts, so SSH, the engine install,
 * TLS and the docker CLI all run for real. Afterwards nothing of berth's is left in the simulator.
 */
import {mkdtemp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
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

async function expectNothingLeft(machines?: string[]) {
  expect(await sim.leftovers(machines)).toEqual({
    instances: [],
    volumes: [],
    keyPairs: [],
    securityGroups: [],
    spotRequests: [],
    containers: [],
  })
}

/** Exactly one line on stderr (run with -q, so no progress), naming what went wrong. */
function expectOneLineError(result: {code: number; stderr: string}, pattern: RegExp) {
  expect(result.code, result.stderr).not.toBe(0)
  const lines = result.stderr.trim().split('\n')
  expect(lines, result.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(pattern)
}

beforeAll(async () => {
  sim = new Ec2Simulator({engineUrl: LAB_ENGINE, pageSize: 2})
  await sim.start()
  lab = await Lab.create()
  awsDir = await mkdtemp(join(tmpdir(), 'berth-aws-'))
  busybox = await busyboxTar()
})

afterAll(async () => {
  const left = lab ? await machinesIn(lab.storePath) : []
  if (left.length > 0) await lab.berth(['rm', '-f', ...left], {env: awsEnv()})
  await sim?.stop()
  await lab?.cleanup()
  await rm(awsDir, {recursive: true, force: true})
})

async function machinesIn(store: string): Promise<string[]> {
  return readdir(join(store, 'machines')).catch(() => [])
}

describe('a machine on the EC2 simulator', () => {
  const name = `ec2-${Math.random().toString(16).slice(2, 8)}`

  it('is created through SSH, engine install and TLS, and runs a container through the docker CLI', async () => {
    const userData = join(awsDir, 'user-data.sh')
    await writeFile(userData, '#!/bin/sh\necho "user data ran" > /var/tmp/berth-user-data\n')
    const created = await berth([
      'create',
      '-d',
      'amazonec2',
      '--amazonec2-userdata',
      userData,
      '--amazonec2-tags',
      'team,ci',
      name,
    ])
    expect(created.code, created.stderr).toBe(0)

    const instance = sim.instanceByName(name)!
    expect(instance.state).toBe('running')
    expect(instance.metadataOptions).toMatchObject({httpTokens: 'required', httpPutResponseHopLimit: '2'})
    const volumes = instance.volumeIds.map((v) => sim.volumes.get(v)!)
    expect(volumes).toHaveLength(1)
    expect(volumes[0]).toMatchObject({
      deviceName: '/dev/sda1',
      volumeType: 'gp3',
      encrypted: true,
      size: 16,
      deleteOnTermination: true,
    })
    const rec = await record(name)
    const tags = {Name: name, team: 'ci', 'berth:machine': name, 'berth:machine-id': rec.Driver.MachineId}
    expect(instance.tags).toEqual(tags)
    expect(volumes[0]!.tags).toEqual(tags)

    const key = [...sim.keyPairs.values()].find((k) => k.keyName === instance.keyName)!
    expect(key.keyType).toBe('ed25519')
    expect(key.tags).toMatchObject({'berth:machine-id': rec.Driver.MachineId})
    expect((await readFile(`${rec.Driver.SSHKeyPath}.pub`, 'utf8')).split(' ').slice(0, 2)).toEqual(
      key.publicKey.split(' ').slice(0, 2),
    )

    expect(instance.groupIds).toHaveLength(1)
    const group = sim.securityGroups.get(instance.groupIds[0]!)!
    expect(group.tags).toMatchObject(tags)
    const fromCaller = group.ingress.filter((r) => r.cidrs.length > 0)
    expect(fromCaller.map((r) => [r.protocol, r.fromPort]).sort()).toEqual([
      ['tcp', 22],
      ['tcp', 2376],
    ])
    for (const rule of fromCaller) expect(rule.cidrs).toEqual([`${sim.callerIp}/32`])
    const swarm = group.ingress.filter((r) => r.groupIds.length > 0)
    expect(swarm.map((r) => `${r.fromPort}/${r.protocol}`).sort()).toEqual([
      '2377/tcp',
      '4789/udp',
      '7946/tcp',
      '7946/udp',
    ])
    for (const rule of swarm) expect(rule.groupIds).toEqual([group.groupId])

    // No secrets in the record; the SSM parameter named the AMI.
    const text = await readFile(join(lab.storePath, 'machines', name, 'config.json'), 'utf8')
    expect(text).not.toContain(SECRET_KEY)
    expect(text).not.toContain(ACCESS_KEY)
    expect(rec.Driver.AMI).toBe('ami-0ubuntu2404amd64')
    expect(rec.Driver.IPAddress).toBe(instance.publicIp)
    expect(rec.Driver.SSHUser).toBe('ubuntu')
    expect(sim.calls.every((c) => c.region === sim.region)).toBe(true)

    const load = await lab.docker(name, ['import', '-', 'job:latest'], busybox, awsEnv())
    expect(load.code, load.stderr).toBe(0)
    const job = await lab.docker(
      name,
      ['run', '--rm', 'job:latest', '/bin/busybox', 'echo', `hello from ${name}`],
      undefined,
      awsEnv(),
    )
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
    // A generous check deadline: loading the AWS SDK alone can take ls's default 10 s on a loaded CI machine.
    const listed = await berth(['ls', '--timeout', '60', '--format', '{{.Name}} {{.DriverName}} {{.State}}'])
    expect(listed.stdout).toContain(`${name} amazonec2 Running`)
    const job = await lab.docker(
      name,
      ['run', '--rm', 'job:latest', '/bin/busybox', 'echo', 'after restart'],
      undefined,
      awsEnv(),
    )
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

describe('bad input', () => {
  it('bad options: one line, exit 2, no AWS call', async () => {
    const name = `bad-${Math.random().toString(16).slice(2, 8)}`
    const before = sim.calls.length
    for (const [args, pattern] of [
      [['--amazonec2-secret-key', 'x'], /no AWS keys on the command line/],
      [['--amazonec2-zone', 'us-east-1a'], /not in region eu-west-3/],
      [['--amazonec2-tags', 'a,b,c'], /key1,value1/],
      [['--amazonec2-allow-cidr', '0.0.0.0'], /not a CIDR/],
    ] as const) {
      const result = await berth(['create', '-q', '-d', 'amazonec2', ...args, name])
      expectOneLineError(result, pattern)
      expect(result.code).toBe(2)
      await expect(stat(join(lab.storePath, 'machines', name))).rejects.toThrow()
    }
    expect(sim.calls.length).toBe(before)
  })
})

// The faults and the runner's machines are independent (each checks only its own machines): they run side by side.
describe.concurrent('alongside each other', () => {
  describe('failures during create leave nothing behind', () => {
    const id = Math.random().toString(16).slice(2, 8)

    async function failedCreate(name: string, args: string[], extra: Record<string, string> = {}) {
      const started = Date.now()
      const result = await berth(['create', '-q', '-d', 'amazonec2', ...args, name], extra)
      const seconds = (Date.now() - started) / 1000
      await expect(stat(join(lab.storePath, 'machines', name))).rejects.toThrow()
      await expectNothingLeft([name])
      return {...result, seconds}
    }

    it("RunInstances fails: AWS's capacity error in one line", async () => {
      const name = `run-fails-${id}`
      sim.fault(name, {
        runInstances: {
          code: 'InsufficientInstanceCapacity',
          message:
            'We currently do not have sufficient t3.micro capacity in the Availability Zone you requested.',
        },
      })
      const result = await failedCreate(name, ['--amazonec2-zone', `${sim.region}b`])
      expectOneLineError(
        result,
        new RegExp(`AWS has no capacity for t3.micro in zone ${sim.region}b.*another --amazonec2-zone`),
      )
      expect(result.seconds).toBeLessThan(30)
    })

    it('the instance never reaches running: the wait ends at its deadline', async () => {
      const name = `never-runs-${id}`
      sim.fault(name, {neverRunning: true})
      const result = await failedCreate(name, [], {BERTH_AMAZONEC2_TIMEOUT: '5'})
      expectOneLineError(result, /instance i-[0-9a-f]+ did not become running within 5s \(still pending\)/)
      // The 5 s deadline and the create and clean-up around it (31 s seen in CI beside other suites): far below
      // the 300 s default, which is what this bound tells apart.
      expect(result.seconds).toBeLessThan(90)
    })

    it('SSH never answers: the SSH deadline, then the instance is terminated', async () => {
      const name = `no-ssh-${id}`
      sim.fault(name, {sshDead: true})
      const result = await failedCreate(name, ['--ssh-timeout', '8'])
      expectOneLineError(result, /SSH to no-ssh-.* did not answer within 8s/)
      expect(result.seconds).toBeLessThan(60)
    })

    it('provisioning fails: the engine install error, then everything is removed', async () => {
      const name = `bad-engine-${id}`
      const result = await failedCreate(name, ['--engine-install-url', 'https://127.0.0.1:9/install.sh'])
      expectOneLineError(result, /installing the Docker engine failed on bad-engine-.*curl/)
      expect(result.seconds).toBeLessThan(90)
    })

    it('no public address for the security group: exit 3 before anything is made', async () => {
      const name = `no-cidr-${id}`
      const result = await failedCreate(name, [], {BERTH_AMAZONEC2_CHECKIP_URL: 'http://127.0.0.1:9/'})
      expectOneLineError(result, /public address.*--amazonec2-allow-cidr/)
      expect(result.code).toBe(3)
      // Everything berth makes carries the machine's name in its tags (other tests run at the same time).
      expect(sim.calls.filter((c) => JSON.stringify(c.params).includes(name))).toEqual([])
    })
  })

  describe("GitLab Runner's call sequence through the docker-machine name on EC2", () => {
    const suffix = Math.random().toString(16).slice(2, 8)
    const onDemand = `runner-${suffix}-0`
    const spot = `runner-${suffix}-1`
    let store: string

    function machine(...args: string[]) {
      return run(
        process.execPath,
        [join(REPO, 'bin/docker-machine.js'), '--bugsnag-api-token=no-report', ...args],
        {
          env: cleanEnv({MACHINE_STORAGE_PATH: store, ...awsEnv()}),
        },
      )
    }

    beforeAll(async () => {
      store = await mkdtemp(join(tmpdir(), 'berth-dm-ec2-'))
    })

    afterAll(async () => {
      await machine('rm', '-f', onDemand, spot)
      await rm(store, {recursive: true, force: true})
    })

    it('create (one on demand, one spot), config, url, inspect, a job, stop, rm -y', async () => {
      // The options a runner's MachineOptions pass, in docker-machine's spelling.
      const common = [
        '--driver',
        'amazonec2',
        `--amazonec2-region=${sim.region}`,
        '--amazonec2-instance-type=t3.micro',
        `--amazonec2-zone=${sim.region}c`,
        '--amazonec2-tags=runner,gitlab',
        '--amazonec2-use-private-address',
      ]
      await Promise.all(
        [onDemand, spot].map(async (name) => {
          const extra =
            name === spot ? ['--amazonec2-request-spot-instance', '--amazonec2-spot-price=0.02'] : []
          const created = await machine('create', ...common, ...extra, `--engine-label=runner=${name}`, name)
          expect(created.code, created.stderr).toBe(0)
          expect((await machine('config', name)).code).toBe(0)
          const url = await machine('url', name)
          expect(url.stdout).toMatch(/^tcp:\/\/[0-9.]+:2376\n$/)
          const storePath = (
            await machine('inspect', name, '-f', '{{.HostOptions.AuthOptions.StorePath}}')
          ).stdout.trim()
          const rec = JSON.parse(await readFile(join(store, 'machines', name, 'config.json'), 'utf8'))
          expect(rec.DriverName).toBe('amazonec2')
          expect(url.stdout.trim()).toBe(`tcp://${sim.instanceByName(name)!.privateIp}:2376`)

          const env = cleanEnv({
            DOCKER_HOST: url.stdout.trim(),
            DOCKER_CERT_PATH: storePath,
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
          if (name === spot) {
            expect(stop.code).toBe(1)
            expect(stop.stderr).toMatch(/one-time spot instance cannot be stopped/)
            expect(sim.instanceByName(name)!.spotRequestId).toMatch(/^sir-/)
          } else {
            expect(stop.code, stop.stderr).toBe(0)
            expect((await machine('status', name)).stdout).toBe('Stopped\n')
          }
          const removed = await machine('rm', '-y', name)
          expect(removed.code, removed.stderr).toBe(0)
          await expect(stat(join(store, 'machines', name))).rejects.toThrow()
        }),
      )
      await expectNothingLeft([onDemand, spot])
      const spotRequest = sim.spotRequests.get(sim.instanceByName(spot)!.spotRequestId!)!
      expect(spotRequest.maxPrice).toBe('0.02')
      expect(spotRequest.state).not.toBe('active')
    })
  })
})
