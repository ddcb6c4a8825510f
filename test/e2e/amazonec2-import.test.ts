/**
 * Adopting a docker-machine amazonec2 machine: an instance made in the EC2 simulator the way
 * docker-machine makes one (its key pair named after the machine, its shared "docker-machine"
 * security group, no berth tags), its engine provisioned for real with TLS, and docker-machine's
 * store written around it, AWS keys in the record included. berth imports it, then the real
 * docker CLI, stop/start/kill/restart/status/ip and rm go through the simulator.
 */
import {generateKeyPairSync, X509Certificate} from 'node:crypto'
import {copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  EC2Client,
  ImportKeyPairCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2'
import ssh2 from 'ssh2'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  busyboxTar,
  dockerMachineHostOptions,
  LAB_ENGINE,
  Lab,
  labDocker,
  ok,
  treeHashes,
  until,
} from '../lab/lab.js'
import {Ec2Simulator, type SimInstance} from '../sim/ec2/simulator.js'

const ACCESS_KEY = 'AKIASIMULATOR0000002'
const SECRET_KEY = 'sim-secret-key-of-the-shell'
// What docker-machine wrote into config.json when given --amazonec2-access-key/--amazonec2-secret-key.
const DM_ACCESS_KEY = 'AKIADOCKERMACHINE001'
const DM_SECRET_KEY = 'docker-machine-kept-this-secret-in-plain-text'

let sim: Ec2Simulator
let lab: Lab // the berth store under test
let origin: Lab // provisions the engine, standing in for docker-machine's provisioner
let work: string
let dm: string // the docker-machine store fixture
let busybox: Buffer
let instance: SimInstance
let groupId: string
let dmTree: Record<string, string>
const name = `dm-ec2-${Math.random().toString(16).slice(2, 8)}`
const half = `dm-half-${Math.random().toString(16).slice(2, 8)}`

function awsEnv(): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: SECRET_KEY,
    AWS_REGION: sim.region,
    AWS_ENDPOINT_URL_EC2: sim.endpoint,
    AWS_CONFIG_FILE: join(work, 'aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(work, 'aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    BERTH_AMAZONEC2_POLL: '0.5',
  }
}

function berth(args: string[]) {
  return lab.berth(args, {env: awsEnv()})
}

/** docker-machine's calls for `create -d amazonec2 --amazonec2-region R NAME`: key pair, group, instance, Name tag. */
async function launchAsDockerMachine(publicKey: string): Promise<SimInstance> {
  const ec2 = new EC2Client({
    region: sim.region,
    endpoint: sim.endpoint,
    credentials: {accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY},
  })
  const vpcId = sim.vpcs.find((v) => v.isDefault)!.vpcId
  const subnet = sim.subnets.find((s) => s.vpcId === vpcId && s.zone === `${sim.region}a`)!
  await ec2.send(new ImportKeyPairCommand({KeyName: name, PublicKeyMaterial: Buffer.from(publicKey)}))
  const group = await ec2.send(
    new CreateSecurityGroupCommand({
      GroupName: 'docker-machine',
      Description: 'Docker Machine',
      VpcId: vpcId,
    }),
  )
  groupId = group.GroupId!
  await ec2.send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: groupId,
      IpPermissions: [22, 2376].map((port) => ({
        IpProtocol: 'tcp',
        FromPort: port,
        ToPort: port,
        IpRanges: [{CidrIp: '0.0.0.0/0'}],
      })),
    }),
  )
  const run = await ec2.send(
    new RunInstancesCommand({
      ImageId: 'ami-0ubuntu2404amd64',
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      KeyName: name,
      Placement: {AvailabilityZone: subnet.zone},
      NetworkInterfaces: [
        {DeviceIndex: 0, Groups: [groupId], SubnetId: subnet.subnetId, AssociatePublicIpAddress: true},
      ],
      BlockDeviceMappings: [
        {DeviceName: '/dev/sda1', Ebs: {VolumeSize: 16, VolumeType: 'gp2', DeleteOnTermination: true}},
      ],
    }),
  )
  const id = run.Instances![0]!.InstanceId!
  await ec2.send(new CreateTagsCommand({Resources: [id], Tags: [{Key: 'Name', Value: name}]}))
  ec2.destroy()
  return until('the instance to run', async () =>
    sim.instances.get(id)?.state === 'running' ? sim.instances.get(id) : undefined,
  )
}

/** docker-machine's config.json for an amazonec2 machine (field names from its Go structs). */
function dockerMachineRecord(machine: string, driver: Record<string, unknown>) {
  const mdir = join(dm, 'machines', machine)
  const certs = join(dm, 'certs')
  return {
    ConfigVersion: 3,
    Driver: {
      IPAddress: '',
      MachineName: machine,
      SSHUser: 'ubuntu',
      SSHPort: 22,
      SSHKeyPath: join(mdir, 'id_rsa'),
      StorePath: dm,
      SwarmMaster: false,
      SwarmHost: 'tcp://0.0.0.0:3376',
      SwarmDiscovery: '',
      Id: 'f3c1e8a0b7d24c6e9a51',
      AccessKey: DM_ACCESS_KEY,
      SecretKey: DM_SECRET_KEY,
      SessionToken: '',
      Region: sim.region,
      AMI: 'ami-0ubuntu2404amd64',
      SSHKeyID: 0,
      ExistingKey: false,
      KeyName: machine,
      InstanceId: '',
      InstanceType: 't3.micro',
      PrivateIPAddress: '',
      SecurityGroupId: '',
      SecurityGroupIds: [groupId],
      SecurityGroupName: '',
      SecurityGroupNames: ['docker-machine'],
      SecurityGroupReadOnly: false,
      OpenPorts: null,
      Tags: '',
      ReservationId: '',
      DeviceName: '/dev/sda1',
      RootSize: 16,
      VolumeType: 'gp2',
      IamInstanceProfile: '',
      VpcId: 'vpc-0default0000000',
      SubnetId: 'subnet-0defaulta00000',
      Zone: 'a',
      RequestSpotInstance: false,
      SpotPrice: '0.50',
      BlockDurationMinutes: 0,
      PrivateIPOnly: false,
      UsePrivateIP: false,
      UseEbsOptimizedInstance: false,
      Monitoring: false,
      SSHPrivateKeyPath: '',
      RetryCount: 5,
      Endpoint: '',
      DisableSSL: false,
      UserDataFile: '',
      ...driver,
    },
    DriverName: 'amazonec2',
    HostOptions: dockerMachineHostOptions(certs, mdir),
    Name: machine,
  }
}

/** The store docker-machine leaves: its CA and client certs, and the machine folder with the server cert the engine runs with. */
async function writeDockerMachineStore(keyPath: string): Promise<void> {
  const certs = join(dm, 'certs')
  await mkdir(certs, {recursive: true, mode: 0o700})
  const provisioned = join(origin.storePath, 'machines', name)
  // docker-machine's CA is the one that signed the engine's certificate: the origin machine's own CA.
  for (const f of ['ca.pem', 'ca-key.pem']) await copyFile(join(provisioned, f), join(certs, f))
  for (const f of ['cert.pem', 'key.pem']) await copyFile(join(origin.storePath, 'certs', f), join(certs, f))
  const mdir = join(dm, 'machines', name)
  await mkdir(mdir, {recursive: true, mode: 0o700})
  for (const f of ['ca.pem', 'cert.pem', 'key.pem', 'server.pem', 'server-key.pem'])
    await copyFile(join(provisioned, f), join(mdir, f))
  await copyFile(keyPath, join(mdir, 'id_rsa'))
  await copyFile(`${keyPath}.pub`, join(mdir, 'id_rsa.pub'))
  await writeFile(
    join(mdir, 'config.json'),
    JSON.stringify(
      dockerMachineRecord(name, {
        IPAddress: instance.publicIp,
        InstanceId: instance.instanceId,
        PrivateIPAddress: instance.privateIp,
      }),
      null,
      '    ',
    ),
  )
  // A create docker-machine did not finish: no instance id.
  const halfDir = join(dm, 'machines', half)
  await mkdir(halfDir, {recursive: true, mode: 0o700})
  await copyFile(keyPath, join(halfDir, 'id_rsa'))
  await writeFile(join(halfDir, 'config.json'), JSON.stringify(dockerMachineRecord(half, {}), null, '    '))
}

function callsFor(action: string): Record<string, unknown>[] {
  return sim.calls
    .filter((c) => c.action === action && JSON.stringify(c.params).includes(instance.instanceId))
    .map((c) => c.params)
}

/** The states the instance went through during one command. */
async function transitions(work: () => Promise<unknown>): Promise<string[]> {
  const from = instance.history.length - 1
  await work()
  await sim.settle()
  return instance.history.slice(from)
}

async function jobRuns(text: string): Promise<void> {
  const job = await lab.docker(
    name,
    ['run', '--rm', 'job:latest', '/bin/busybox', 'echo', text],
    undefined,
    awsEnv(),
  )
  expect(job.stdout.trim(), job.stderr).toBe(text)
}

async function hostStartedAt(): Promise<string> {
  return (
    await ok(labDocker(['inspect', '-f', '{{.State.StartedAt}}', `berth-ec2sim-${instance.instanceId}`]))
  ).trim()
}

beforeAll(async () => {
  sim = new Ec2Simulator({engineUrl: LAB_ENGINE})
  await sim.start()
  lab = await Lab.create()
  origin = await Lab.create()
  work = await mkdtemp(join(tmpdir(), 'berth-dm-ec2-import-'))
  dm = join(work, 'docker-machine')
  busybox = await busyboxTar()
  // docker-machine's own key: RSA, PEM, id_rsa.
  const {privateKey} = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: {type: 'pkcs1', format: 'pem'},
    publicKeyEncoding: {type: 'spki', format: 'pem'},
  })
  const keyPath = join(work, 'id_rsa')
  await writeFile(keyPath, privateKey, {mode: 0o600})
  const parsed = ssh2.utils.parseKey(privateKey)
  if (parsed instanceof Error) throw parsed
  const publicKey = `ssh-rsa ${parsed.getPublicSSH().toString('base64')} docker-machine`
  await writeFile(`${keyPath}.pub`, publicKey + '\n')
  instance = await launchAsDockerMachine(publicKey)
  // The engine, TLS and the hostname as docker-machine's provisioner leaves them, done by berth over real SSH.
  await ok(
    origin.berth([
      'create',
      '-q',
      '-d',
      'generic',
      '--generic-ip-address',
      instance.publicIp!,
      '--generic-ssh-user',
      'ubuntu',
      '--generic-ssh-key',
      keyPath,
      name,
    ]),
  )
  await writeDockerMachineStore(keyPath)
  dmTree = await treeHashes(dm)
}, 240_000)

afterAll(async () => {
  if (lab && instance) await lab.berth(['rm', '-f', name], {env: awsEnv()})
  await sim?.stop()
  await lab?.cleanup()
  await origin?.cleanup()
  if (work) await rm(work, {recursive: true, force: true})
})

describe('a docker-machine amazonec2 machine adopted by berth', () => {
  it('a named machine berth cannot manage stops the whole import, in one line', async () => {
    const result = await berth(['import', '--from', dm, name, half])
    expect(result.code).toBe(2)
    expect(result.stderr.trim().split('\n'), result.stderr).toHaveLength(1)
    expect(result.stderr).toMatch(new RegExp(`${half}.*no instance id.*not imported`))
    await expect(stat(join(lab.storePath, 'machines', name))).rejects.toThrow()
    expect(await treeHashes(dm)).toEqual(dmTree)
  })

  it("is imported without docker-machine's AWS keys (one line says so), the other one skipped, the originals untouched", async () => {
    const result = await berth(['import', '--from', dm, '--json'])
    expect(result.code, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual([expect.objectContaining({name, driver: 'amazonec2'})])
    const lines = result.stderr.trim().split('\n')
    expect(
      lines.filter((l) => /AWS keys/.test(l)),
      result.stderr,
    ).toEqual([
      `${name}: the AWS keys in docker-machine's record are not carried over; berth uses the SDK's default chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO, an instance role)`,
    ])
    expect(lines.filter((l) => l.startsWith(`Warning: Skipping ${half}: `))).toHaveLength(1)

    const text = await readFile(join(lab.storePath, 'machines', name, 'config.json'), 'utf8')
    for (const secret of [DM_ACCESS_KEY, DM_SECRET_KEY, SECRET_KEY, dm]) expect(text).not.toContain(secret)
    const record = JSON.parse(text)
    expect(record.Driver).toMatchObject({
      InstanceId: instance.instanceId,
      Region: sim.region,
      Zone: `${sim.region}a`,
      IPAddress: instance.publicIp,
      SSHUser: 'ubuntu',
      KeyPairName: name,
      KeyPairCreated: true,
      UseExistingKeyPair: false,
      SecurityGroupIds: [groupId],
      CreatedSecurityGroupIds: [],
      SSHKeyPath: join(lab.storePath, 'machines', name, 'id_rsa'),
    })
    expect(record.Driver).not.toHaveProperty('AccessKey')
    expect(record.Berth).toMatchObject({Phase: 'provisioned'})
    expect(await treeHashes(dm)).toEqual(dmTree)
  })

  it("serves the real docker CLI through `berth env`; ip, status and ssh read the simulator's instance", async () => {
    const env = await ok(berth(['env', name]))
    expect(env).toContain(`DOCKER_HOST="tcp://${instance.publicIp}:2376"`)
    await ok(lab.docker(name, ['import', '-', 'job:latest'], busybox, awsEnv()))
    await jobRuns(`hello from ${name}`)
    const described = callsFor('DescribeInstances').length
    expect((await berth(['status', name])).stdout).toBe('Running\n')
    expect((await berth(['ip', name])).stdout).toBe(`${instance.publicIp}\n`)
    expect(callsFor('DescribeInstances').length).toBeGreaterThan(described)
    // The host docker-machine's provisioner named; its key is pinned on first use.
    expect(await ok(berth(['ssh', name, 'hostname']))).toBe(`${name}\n`)
  })

  it('stop, start and kill go through the simulator, and the engine answers after each start', async () => {
    expect(await transitions(async () => ok(berth(['stop', name])))).toEqual([
      'running',
      'stopping',
      'stopped',
    ])
    expect(callsFor('StopInstances').at(-1)).not.toHaveProperty('Force', 'true')
    expect((await berth(['status', name])).stdout).toBe('Stopped\n')

    expect(await transitions(async () => ok(berth(['start', name])))).toEqual([
      'stopped',
      'pending',
      'running',
    ])
    expect((await berth(['ip', name])).stdout).toBe(`${instance.publicIp}\n`)
    await jobRuns('after start')

    expect(await transitions(async () => ok(berth(['kill', name])))).toEqual([
      'running',
      'stopping',
      'stopped',
    ])
    expect(callsFor('StopInstances').at(-1)).toHaveProperty('Force', 'true')
    expect((await berth(['status', name])).stdout).toBe('Stopped\n')
    await ok(berth(['start', name]))
    await jobRuns('after kill')
  })

  it('restart reboots the instance (running throughout, as EC2 reports it) and returns once its engine answers again', async () => {
    const bootedAt = await hostStartedAt()
    const from = instance.history.length - 1
    await ok(berth(['restart', name]))
    // Checked at once, not after the simulator settles: `restart` returned only after the new boot, with the engine up.
    expect(await hostStartedAt()).not.toBe(bootedAt)
    await jobRuns('after restart')
    expect(callsFor('RebootInstances')).toHaveLength(1)
    await sim.settle()
    expect(instance.history.slice(from)).toEqual(['running'])
    expect((await berth(['status', name])).stdout).toBe('Running\n')
  })

  it("a new server certificate (regenerate-certs, or start on a new IP) is signed by docker-machine's CA, which its client certificate trusts", async () => {
    const folder = join(lab.storePath, 'machines', name)
    const before = await readFile(join(folder, 'server.pem'), 'utf8')
    await ok(berth(['regenerate-certs', '-f', name]))
    const server = new X509Certificate(await readFile(join(folder, 'server.pem')))
    expect(server.toString()).not.toBe(new X509Certificate(before).toString())
    expect(server.verify(new X509Certificate(await readFile(join(dm, 'certs', 'ca.pem'))).publicKey)).toBe(
      true,
    )
    await jobRuns('after new certificates')
  })

  it('rm terminates the instance and deletes the key pair docker-machine made, leaving its shared security group', async () => {
    await ok(berth(['rm', '-y', name]))
    await expect(stat(join(lab.storePath, 'machines', name))).rejects.toThrow()
    await sim.settle()
    expect(instance.state).toBe('terminated')
    expect(instance.volumeIds.map((v) => sim.volumes.get(v)!.state)).toEqual(['deleted'])
    expect(
      await labDocker(['ps', '-aq', '--filter', `name=berth-ec2sim-${instance.instanceId}`]),
    ).toMatchObject({stdout: ''})
    expect([...sim.keyPairs.values()].map((k) => k.keyName)).not.toContain(name)
    expect(sim.securityGroups.get(groupId)?.groupName).toBe('docker-machine')
    expect(callsFor('TerminateInstances')).toHaveLength(1)
    expect(await treeHashes(dm)).toEqual(dmTree)
  })
})
