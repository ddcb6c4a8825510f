/** docker-machine's amazonec2 records mapped onto berth's amazonec2 state, and their import planned from a store folder. */
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ec2FromDockerMachine} from '../../drivers/amazonec2/adopt.js'
import {registerBuiltinDrivers} from '../../drivers/builtin.js'
import {planImport} from '../../src/core/migrate/docker-machine.js'
import {createCA} from '../../src/core/certs/certs.js'

registerBuiltinDrivers() // as the CLI's init hook does

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
const DM = '/home/someone/.docker/machine'

/** The Driver section as docker-machine 0.16 writes it (Go field names, BaseDriver flattened in). */
function dmDriver(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    IPAddress: '203.0.113.20',
    MachineName: 'runner-1',
    SSHUser: 'ubuntu',
    SSHPort: 22,
    SSHKeyPath: `${DM}/machines/runner-1/id_rsa`,
    StorePath: DM,
    SwarmMaster: false,
    SwarmHost: '',
    SwarmDiscovery: '',
    Id: '8c1a3e4f0d2b',
    AccessKey: 'AKIAIOSFODNN7EXAMPLE',
    SecretKey: SECRET,
    SessionToken: '',
    Region: 'eu-west-3',
    AMI: 'ami-0ubuntu2404amd64',
    SSHKeyID: 0,
    ExistingKey: false,
    KeyName: 'runner-1',
    InstanceId: 'i-0abc123def4567890',
    InstanceType: 't3.small',
    PrivateIPAddress: '172.31.5.9',
    SecurityGroupId: '',
    SecurityGroupIds: ['sg-0dm0000000000001'],
    SecurityGroupName: '',
    SecurityGroupNames: ['docker-machine'],
    SecurityGroupReadOnly: false,
    OpenPorts: ['8080', '53/udp', 'bogus'],
    Tags: 'runner,gitlab,team,ci',
    ReservationId: 'r-0123',
    DeviceName: '/dev/sda1',
    RootSize: 40,
    VolumeType: 'gp2',
    IamInstanceProfile: 'runner-role',
    VpcId: 'vpc-0default0000000',
    SubnetId: 'subnet-0defaultb00000',
    Zone: 'b',
    RequestSpotInstance: true,
    SpotPrice: '0.02',
    BlockDurationMinutes: 0,
    PrivateIPOnly: false,
    UsePrivateIP: true,
    UseEbsOptimizedInstance: false,
    Monitoring: false,
    SSHPrivateKeyPath: '',
    RetryCount: 5,
    Endpoint: '',
    DisableSSL: false,
    UserDataFile: '/home/someone/ud.sh',
    ...overrides,
  }
}

describe('a docker-machine amazonec2 record', () => {
  it("maps onto berth's state: instance, region and full zone, network, groups, key pair, spot, private address", () => {
    const {state, notes} = ec2FromDockerMachine(dmDriver(), 'runner-1')
    expect(state).toMatchObject({
      MachineName: 'runner-1',
      IPAddress: '203.0.113.20',
      SSHUser: 'ubuntu',
      SSHPort: 22,
      SSHKeyPath: `${DM}/machines/runner-1/id_rsa`,
      InstanceId: 'i-0abc123def4567890',
      Region: 'eu-west-3',
      Zone: 'eu-west-3b',
      InstanceType: 't3.small',
      AMI: 'ami-0ubuntu2404amd64',
      RootDeviceName: '/dev/sda1',
      RootSize: 40,
      VolumeType: 'gp2',
      IamInstanceProfile: 'runner-role',
      VpcId: 'vpc-0default0000000',
      SubnetId: 'subnet-0defaultb00000',
      SecurityGroups: ['docker-machine'],
      SecurityGroupIds: ['sg-0dm0000000000001'],
      CreatedSecurityGroupIds: [],
      KeyPairName: 'runner-1',
      KeyPairCreated: true,
      UseExistingKeyPair: false,
      UsePrivateAddress: true,
      PrivateAddressOnly: false,
      Spot: true,
      SpotPrice: '0.02',
      SpotInstanceRequestId: '',
      Tags: {runner: 'gitlab', team: 'ci'},
      OpenPorts: [
        {port: 8080, protocol: 'tcp'},
        {port: 53, protocol: 'udp'},
      ],
      Profile: '',
      UserDataPath: '',
      SourceSSHKeyPath: '',
      LabelTagKeys: [],
    })
    expect(state.MachineId).toMatch(/^[0-9a-f]{8}$/)
    expect(notes).toEqual([
      expect.stringMatching(
        /^runner-1: the AWS keys in docker-machine's record are not carried over; berth uses the SDK's default chain/,
      ),
    ])
  })

  it('never carries AWS keys, a session token or docker-machine-only fields', () => {
    const {state, notes} = ec2FromDockerMachine(
      dmDriver({AccessKey: '', SecretKey: '', SessionToken: 'FQoGZXIvYXdzEXAMPLE'}),
      'runner-1',
    )
    const text = JSON.stringify(state)
    for (const secret of [SECRET, 'AKIAIOSFODNN7EXAMPLE', 'FQoGZXIvYXdzEXAMPLE'])
      expect(text).not.toContain(secret)
    for (const field of [
      'AccessKey',
      'SecretKey',
      'SessionToken',
      'Endpoint',
      'SSHPrivateKeyPath',
      'ExistingKey',
      'Id',
    ])
      expect(state).not.toHaveProperty(field)
    expect(notes).toHaveLength(1)
    expect(ec2FromDockerMachine(dmDriver({AccessKey: '', SecretKey: ''}), 'runner-1').notes).toEqual([])
  })

  it('leaves a key pair the user named with --amazonec2-keypair-name to the user', () => {
    const {state} = ec2FromDockerMachine(
      dmDriver({ExistingKey: true, KeyName: 'team-key', SSHPrivateKeyPath: '/home/someone/.ssh/team'}),
      'runner-1',
    )
    expect(state).toMatchObject({KeyPairName: 'team-key', KeyPairCreated: false, UseExistingKeyPair: true})
    // A create that stopped before its key pair: nothing to delete.
    expect(ec2FromDockerMachine(dmDriver({KeyName: ''}), 'runner-1').state.KeyPairCreated).toBe(false)
  })

  it("reads pre-2016 single-group fields, private-only, an endpoint's full zone, and docker-machine's defaults", () => {
    const {state, notes} = ec2FromDockerMachine(
      dmDriver({
        SecurityGroupIds: null,
        SecurityGroupNames: null,
        SecurityGroupId: 'sg-0legacy',
        SecurityGroupName: 'legacy',
        PrivateIPOnly: true,
        UsePrivateIP: false,
        Zone: 'eu-west-3c',
        Endpoint: 'https://ec2.internal',
        SSHUser: '',
        SSHPort: 0,
        Tags: 'odd',
        OpenPorts: null,
        AccessKey: '',
        SecretKey: '',
      }),
      'runner-1',
    )
    expect(state).toMatchObject({
      SecurityGroupIds: ['sg-0legacy'],
      SecurityGroups: ['legacy'],
      UsePrivateAddress: true,
      PrivateAddressOnly: true,
      Zone: 'eu-west-3c',
      SSHUser: 'ubuntu',
      SSHPort: 22,
      Tags: {},
      OpenPorts: [],
    })
    expect(notes).toEqual([
      expect.stringMatching(/--amazonec2-endpoint is not carried over; set AWS_ENDPOINT_URL_EC2/),
    ])
  })

  it('refuses a record without an instance or a region', () => {
    expect(() => ec2FromDockerMachine(dmDriver({InstanceId: ''}), 'runner-1')).toThrow(
      /runner-1.*no instance id.*not imported/,
    )
    expect(() => ec2FromDockerMachine(dmDriver({Region: 'Paris'}), 'runner-1')).toThrow(
      /no region like eu-west-3.*not imported/,
    )
  })
})

describe('planning the import of an amazonec2 machine from a docker-machine store', () => {
  let dir: string

  async function machineFolder(name: string, driverName: string, driver: Record<string, unknown>) {
    const mdir = join(dir, 'machines', name)
    await mkdir(mdir, {recursive: true})
    const auth = {
      CertDir: join(dir, 'certs'),
      CaCertPath: join(dir, 'certs', 'ca.pem'),
      CaPrivateKeyPath: join(dir, 'certs', 'ca-key.pem'),
      ClientCertPath: join(dir, 'certs', 'cert.pem'),
      ClientKeyPath: join(dir, 'certs', 'key.pem'),
      ServerCertPath: join(mdir, 'server.pem'),
      ServerKeyPath: join(mdir, 'server-key.pem'),
      StorePath: mdir,
      ServerCertSANs: [],
    }
    await writeFile(
      join(mdir, 'config.json'),
      JSON.stringify({
        ConfigVersion: 3,
        Driver: driver,
        DriverName: driverName,
        HostOptions: {EngineOptions: {}, SwarmOptions: {}, AuthOptions: auth},
        Name: name,
      }),
    )
    for (const f of ['server.pem', 'server-key.pem', 'id_rsa', 'id_rsa.pub'])
      await writeFile(join(mdir, f), `${f} of ${name}`)
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-dm-unit-'))
    await mkdir(join(dir, 'certs'))
    // A real CA pair: berth imports a CA key only when it is the key of the ca.pem beside it.
    const ca = await createCA('docker-machine CA')
    for (const [f, content] of Object.entries({
      'ca.pem': ca.certPem,
      'ca-key.pem': ca.keyPem,
      'cert.pem': 'cert.pem',
      'key.pem': 'key.pem',
    }))
      await writeFile(join(dir, 'certs', f), content)
    await machineFolder(
      'runner-1',
      'amazonec2',
      dmDriver({SSHKeyPath: join(dir, 'machines', 'runner-1', 'id_rsa')}),
    )
    await machineFolder('vm', 'parallels', {
      MachineName: 'vm',
      SSHKeyPath: join(dir, 'machines', 'vm', 'id_rsa'),
    })
  })

  afterAll(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it("puts berth's state in the record, keeps the key and certificates, and carries the notes", async () => {
    const plan = await planImport(dir, 'runner-1')
    expect(plan.record.DriverName).toBe('amazonec2')
    expect(plan.record.Driver).toMatchObject({
      InstanceId: 'i-0abc123def4567890',
      Zone: 'eu-west-3b',
      KeyPairCreated: true,
    })
    expect(JSON.stringify(plan.record)).not.toContain(SECRET)
    expect(plan.notes).toHaveLength(1)
    expect(plan.sshKeyName).toBe('id_rsa')
    expect(plan.files.map((f) => f.name).sort()).toEqual([
      'ca-key.pem',
      'ca.pem',
      'cert.pem',
      'id_rsa',
      'id_rsa.pub',
      'key.pem',
      'server-key.pem',
      'server.pem',
    ])
  })

  it('refuses a driver berth cannot adopt, naming those it can', async () => {
    await expect(planImport(dir, 'vm')).rejects.toThrow(
      /docker-machine's parallels driver, whose machines berth cannot adopt/,
    )
    await expect(planImport(dir, 'vm')).rejects.toMatchObject({
      hint: expect.stringContaining('generic, container and amazonec2'),
    })
  })
})
