/**
 * The amazonec2 driver's requests, call by call (aws-sdk-client-mock stands in for AWS), and
 * the one-line errors for AWS's common failures.
 */
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {
  AuthorizeSecurityGroupIngressCommand,
  CancelSpotInstanceRequestsCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DeleteTagsCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  EC2ServiceException,
  ImportKeyPairCommand,
  RebootInstancesCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2'
import {GetParameterCommand, SSMClient} from '@aws-sdk/client-ssm'
import {mockClient} from 'aws-sdk-client-mock'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi} from 'vitest'
import {configureEc2} from '../../drivers/amazonec2/index.js'
import {awsFailure} from '../../drivers/amazonec2/aws.js'
import {Ec2Driver} from '../../drivers/amazonec2/driver.js'
import type {Ec2State} from '../../drivers/amazonec2/state.js'
import type {DriverContext, OptionValues} from '../../src/core/drivers/contract.js'
import {BerthError} from '../../src/core/errors.js'

const ec2 = mockClient(EC2Client)
const ssm = mockClient(SSMClient)
let dir: string
const saved = {...process.env}

function awsError(code: string, message = code): EC2ServiceException {
  return new EC2ServiceException({name: code, message, $fault: 'client', $metadata: {httpStatusCode: 400}})
}

function context(name = 'web'): DriverContext {
  return {machineName: name, machineDir: dir, storePath: dir, log: () => {}}
}

async function driver(values: OptionValues = {}, name = 'web'): Promise<Ec2Driver> {
  const state = await configureEc2({'amazonec2-allow-cidr': ['198.51.100.7/32'], ...values}, context(name))
  return new Ec2Driver(state, context(name))
}

function instance(state: string, extra: Partial<Instance> = {}): Instance {
  return {
    InstanceId: 'i-0abc',
    State: {Name: state as 'running'},
    PublicIpAddress: '203.0.113.5',
    PrivateIpAddress: '172.31.5.9',
    ...extra,
  }
}

/** The inputs of every call of one command, in order. */
function inputs<C extends new (...args: never[]) => {input: object}>(command: C): InstanceType<C>['input'][] {
  return ec2.commandCalls(command as never).map((call) => call.args[0].input as InstanceType<C>['input'])
}

/** AWS's answers for a region with a default VPC, Ubuntu's SSM parameter and an empty account. */
function mockRegion(): void {
  ec2.on(DescribeInstanceTypesCommand).resolves({
    InstanceTypes: [{InstanceType: 't3.micro', ProcessorInfo: {SupportedArchitectures: ['x86_64']}}],
  })
  ssm.on(GetParameterCommand).resolves({Parameter: {Name: 'p', Value: 'ami-0123'}})
  ec2.on(DescribeImagesCommand).resolves({Images: [{ImageId: 'ami-0123', RootDeviceName: '/dev/sda1'}]})
  ec2.on(DescribeVpcsCommand).resolves({Vpcs: [{VpcId: 'vpc-0def', IsDefault: true}]})
  ec2
    .on(DescribeSubnetsCommand)
    .resolvesOnce({
      Subnets: [{SubnetId: 'subnet-0c', AvailabilityZone: 'eu-west-3c', VpcId: 'vpc-0def'}],
      NextToken: 'page2',
    })
    .resolves({Subnets: [{SubnetId: 'subnet-0a', AvailabilityZone: 'eu-west-3a', VpcId: 'vpc-0def'}]})
  ec2.on(DescribeSecurityGroupsCommand).resolves({SecurityGroups: []})
  ec2.on(DescribeKeyPairsCommand).resolves({KeyPairs: []})
  ec2.on(ImportKeyPairCommand).resolves({KeyName: 'k', KeyPairId: 'key-0'})
  ec2.on(CreateSecurityGroupCommand).resolves({GroupId: 'sg-0new'})
  ec2.on(AuthorizeSecurityGroupIngressCommand).resolves({Return: true})
  ec2.on(RunInstancesCommand).resolves({Instances: [instance('pending')]})
  ec2
    .on(DescribeInstancesCommand)
    .resolvesOnce({Reservations: []}) // not visible yet, as just after RunInstances
    .resolvesOnce({Reservations: [{Instances: [instance('pending')]}]})
    .resolves({Reservations: [{Instances: [instance('running')]}]})
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-ec2-unit-'))
})

beforeEach(() => {
  ec2.reset()
  ssm.reset()
  process.env.AWS_ACCESS_KEY_ID = 'AKIAUNIT'
  process.env.AWS_SECRET_ACCESS_KEY = 'unit-secret'
  process.env.AWS_REGION = 'eu-west-3'
  process.env.AWS_EC2_METADATA_DISABLED = 'true'
  process.env.AWS_CONFIG_FILE = join(dir, 'aws-config')
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'aws-credentials')
  process.env.BERTH_AMAZONEC2_POLL = '0.01'
  process.env.BERTH_AMAZONEC2_TIMEOUT = '2'
})

afterEach(() => {
  for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key]
  Object.assign(process.env, saved)
  vi.restoreAllMocks()
})

afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

describe('configure', () => {
  it('takes the region from the flag, then AWS_REGION, AWS_DEFAULT_REGION, the profile, us-east-1', async () => {
    const region = async (values: OptionValues) =>
      (await configureEc2({'amazonec2-allow-cidr': ['198.51.100.7/32'], ...values}, context())).Region
    expect(await region({'amazonec2-region': 'ap-south-1'})).toBe('ap-south-1')
    expect(await region({})).toBe('eu-west-3')
    delete process.env.AWS_REGION
    process.env.AWS_DEFAULT_REGION = 'sa-east-1'
    expect(await region({})).toBe('sa-east-1')
    delete process.env.AWS_DEFAULT_REGION
    await writeFile(
      join(dir, 'aws-config'),
      '[default]\nregion = eu-north-1\n[profile work]\nregion = ca-central-1\n',
    )
    expect(await region({})).toBe('eu-north-1')
    expect(await region({'amazonec2-profile': 'work'})).toBe('ca-central-1')
    process.env.AWS_CONFIG_FILE = join(dir, 'aws-config-empty') // the SDK caches a file once read
    await writeFile(process.env.AWS_CONFIG_FILE, '')
    expect(await region({})).toBe('us-east-1')
  })

  it('keeps defaults docker-machine users expect, a per-machine key pair name, and no secrets', async () => {
    const state = await configureEc2({}, context('web'))
    expect(state).toMatchObject({
      InstanceType: 't3.micro',
      RootSize: 16,
      VolumeType: 'gp3',
      OS: 'ubuntu',
      SSHUser: 'ubuntu',
      Zone: '',
      AllowCidrs: [],
      Spot: false,
    })
    expect(state.KeyPairName).toBe(`berth-web-${state.MachineId}`)
    expect(JSON.stringify(state)).not.toMatch(/AKIAUNIT|unit-secret/)
    expect((await configureEc2({'amazonec2-os': 'debian'}, context())).SSHUser).toBe('admin')
    const spot = await configureEc2(
      {
        'amazonec2-request-spot-instance': true,
        'amazonec2-tags': 'team,ci,cost,42',
        'amazonec2-open-port': ['8080', '53/udp'],
      },
      context(),
    )
    expect(spot).toMatchObject({
      Spot: true,
      Tags: {team: 'ci', cost: '42'},
      OpenPorts: [
        {port: 8080, protocol: 'tcp'},
        {port: 53, protocol: 'udp'},
      ],
    })
  })

  it.each([
    [{'amazonec2-access-key': 'AKIA'}, /no AWS keys on the command line/],
    [{'amazonec2-zone': 'eu-west-3'}, /not a zone name/],
    [{'amazonec2-zone': 'us-east-1a'}, /not in region eu-west-3/],
    [{'amazonec2-tags': 'a,b,c'}, /key1,value1,key2,value2/],
    [{'amazonec2-tags': 'berth:machine,x'}, /reserved/],
    [{'amazonec2-open-port': ['http']}, /PORT\/tcp/],
    [{'amazonec2-allow-cidr': ['10.0.0.0/33']}, /not a CIDR/],
    [{'amazonec2-os': 'centos'}, /ubuntu or debian/],
    [{'amazonec2-volume-type': 'ssd'}, /gp3/],
    [{'amazonec2-root-size': 0}, /between 1 and 16384/],
    [{'amazonec2-ami': 'ubuntu'}, /ami-0abc123/],
    [{'amazonec2-ssh-key': '/nonexistent/key'}, /cannot read/],
    [{'amazonec2-userdata': '/nonexistent/user-data'}, /cannot read/],
  ])('refuses %o with a usage error', async (values, message) => {
    const error = await configureEc2(values as OptionValues, context()).catch((err: BerthError) => err)
    expect(error).toBeInstanceOf(BerthError)
    expect((error as BerthError).exitCode).toBe(2)
    expect((error as BerthError).message).toMatch(message)
    expect(ec2.calls()).toHaveLength(0)
  })
})

describe('create', () => {
  it('sends each request in the shape AWS needs', async () => {
    mockRegion()
    const d = await driver()
    await d.preCreateCheck()
    await d.create()

    expect(inputs(DescribeInstanceTypesCommand)[0]).toEqual({InstanceTypes: ['t3.micro']})
    expect(ssm.commandCalls(GetParameterCommand)[0]!.args[0].input).toEqual({
      Name: '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id',
    })
    expect(inputs(DescribeImagesCommand)[0]).toEqual({ImageIds: ['ami-0123']})
    expect(inputs(DescribeVpcsCommand)[0]).toEqual({Filters: [{Name: 'is-default', Values: ['true']}]})
    // Both pages of subnets were read (the paginator reuses one input object); the first zone in order won.
    const subnetCalls = inputs(DescribeSubnetsCommand)
    expect(subnetCalls).toHaveLength(2)
    expect(subnetCalls[1]).toEqual({
      Filters: [
        {Name: 'vpc-id', Values: ['vpc-0def']},
        {Name: 'state', Values: ['available']},
        {Name: 'default-for-az', Values: ['true']},
      ],
      MaxResults: 100,
      NextToken: 'page2',
    })
    expect(d.state).toMatchObject({
      AMI: 'ami-0123',
      RootDeviceName: '/dev/sda1',
      VpcId: 'vpc-0def',
      SubnetId: 'subnet-0a',
      Zone: 'eu-west-3a',
    })

    const ownTags = [
      {Key: 'Name', Value: 'web'},
      {Key: 'berth:machine', Value: 'web'},
      {Key: 'berth:machine-id', Value: d.state.MachineId},
    ]
    const key = inputs(ImportKeyPairCommand)[0]!
    expect(key.KeyName).toBe(`berth-web-${d.state.MachineId}`)
    expect(Buffer.from(key.PublicKeyMaterial!).toString()).toMatch(
      /^ssh-ed25519 AAAA[A-Za-z0-9+/=]+ berth@web$/,
    )
    expect(key.TagSpecifications).toEqual([{ResourceType: 'key-pair', Tags: ownTags}])

    expect(inputs(CreateSecurityGroupCommand)[0]).toMatchObject({
      GroupName: `berth-web-${d.state.MachineId}`,
      VpcId: 'vpc-0def',
      TagSpecifications: [{ResourceType: 'security-group', Tags: ownTags}],
    })
    const client = [{CidrIp: '198.51.100.7/32', Description: 'berth: allowed client'}]
    const self = [{GroupId: 'sg-0new', Description: 'berth: swarm between machines'}]
    expect(inputs(AuthorizeSecurityGroupIngressCommand)[0]!.IpPermissions).toEqual([
      {IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: client, Ipv6Ranges: []},
      {IpProtocol: 'tcp', FromPort: 2376, ToPort: 2376, IpRanges: client, Ipv6Ranges: []},
      {IpProtocol: 'tcp', FromPort: 2377, ToPort: 2377, UserIdGroupPairs: self},
      {IpProtocol: 'tcp', FromPort: 7946, ToPort: 7946, UserIdGroupPairs: self},
      {IpProtocol: 'udp', FromPort: 7946, ToPort: 7946, UserIdGroupPairs: self},
      {IpProtocol: 'udp', FromPort: 4789, ToPort: 4789, UserIdGroupPairs: self},
    ])

    expect(inputs(RunInstancesCommand)[0]).toEqual({
      ImageId: 'ami-0123',
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      KeyName: `berth-web-${d.state.MachineId}`,
      ClientToken: `berth-${d.state.MachineId}`,
      NetworkInterfaces: [
        {
          DeviceIndex: 0,
          SubnetId: 'subnet-0a',
          Groups: ['sg-0new'],
          AssociatePublicIpAddress: true,
          DeleteOnTermination: true,
        },
      ],
      BlockDeviceMappings: [
        {
          DeviceName: '/dev/sda1',
          Ebs: {VolumeSize: 16, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true},
        },
      ],
      MetadataOptions: {HttpTokens: 'required', HttpPutResponseHopLimit: 2, HttpEndpoint: 'enabled'},
      TagSpecifications: ['instance', 'volume', 'network-interface'].map((ResourceType) => ({
        ResourceType,
        Tags: ownTags,
      })),
    })
    expect(inputs(DescribeInstancesCommand).slice(0, 3)).toEqual([
      {InstanceIds: ['i-0abc']},
      {InstanceIds: ['i-0abc']},
      {InstanceIds: ['i-0abc']},
    ])
    expect(d.state).toMatchObject({
      InstanceId: 'i-0abc',
      IPAddress: '203.0.113.5',
      KeyPairCreated: true,
      CreatedSecurityGroupIds: ['sg-0new'],
      SecurityGroupIds: ['sg-0new'],
    })
  })

  it('spot, IAM profile, user data, a given subnet and private addressing', async () => {
    mockRegion()
    ec2
      .on(DescribeSubnetsCommand)
      .resolves({Subnets: [{SubnetId: 'subnet-0b', AvailabilityZone: 'eu-west-3b', VpcId: 'vpc-0custom'}]})
    const userData = join(dir, 'user-data')
    await writeFile(userData, '#cloud-config\npackages: [jq]\n')
    const d = await driver({
      'amazonec2-spot': true,
      'amazonec2-spot-price': '0.05',
      'amazonec2-iam-instance-profile': 'ci-runner',
      'amazonec2-userdata': userData,
      'amazonec2-subnet-id': 'subnet-0b',
      'amazonec2-private-address-only': true,
      'amazonec2-root-size': 40,
      'amazonec2-instance-type': 'm6i.large',
    })
    await d.preCreateCheck()
    await d.create()
    expect(inputs(DescribeSubnetsCommand)[0]).toEqual({SubnetIds: ['subnet-0b']})
    expect(inputs(DescribeVpcsCommand)).toHaveLength(0)
    const run = inputs(RunInstancesCommand)[0]!
    expect(run.InstanceMarketOptions).toEqual({
      MarketType: 'spot',
      SpotOptions: {
        SpotInstanceType: 'one-time',
        InstanceInterruptionBehavior: 'terminate',
        MaxPrice: '0.05',
      },
    })
    expect(run.IamInstanceProfile).toEqual({Name: 'ci-runner'})
    expect(Buffer.from(run.UserData!, 'base64').toString()).toBe('#cloud-config\npackages: [jq]\n')
    expect(run.NetworkInterfaces![0]).toMatchObject({SubnetId: 'subnet-0b', AssociatePublicIpAddress: false})
    expect(run.BlockDeviceMappings![0]!.Ebs!.VolumeSize).toBe(40)
    expect(run.TagSpecifications!.map((t) => t.ResourceType)).toContain('spot-instances-request')
    expect(d.state.IPAddress).toBe('172.31.5.9')
  })

  it("finds the caller's public /32 when no CIDR is given, and asks for one when it cannot", async () => {
    mockRegion()
    const fetchMock = vi.spyOn(globalThis, 'fetch').mockResolvedValue(new Response('192.0.2.44\n'))
    const found = new Ec2Driver(await configureEc2({}, context()), context())
    await found.preCreateCheck()
    expect(found.state.AllowCidrs).toEqual(['192.0.2.44/32'])
    expect(String(fetchMock.mock.calls[0]![0])).toBe('https://checkip.amazonaws.com/')

    fetchMock.mockRejectedValue(new Error('getaddrinfo ENOTFOUND'))
    const lost = new Ec2Driver(await configureEc2({}, context()), context())
    const error = await lost.preCreateCheck().catch((err: BerthError) => err)
    expect(error).toMatchObject({
      exitCode: 3,
      message: expect.stringMatching(/public address/),
      hint: expect.stringMatching(/--amazonec2-allow-cidr/),
    })
  })

  it('uses an existing group as it is and creates a named one that is missing', async () => {
    mockRegion()
    ec2
      .on(DescribeSecurityGroupsCommand, {GroupIds: ['sg-0mine']})
      .resolves({SecurityGroups: [{GroupId: 'sg-0mine', VpcId: 'vpc-0def'}]})
    const d = await driver({'amazonec2-security-group': ['sg-0mine', 'runners']})
    await d.preCreateCheck()
    await d.create()
    expect(inputs(DescribeSecurityGroupsCommand).slice(0, 2)).toEqual([
      {GroupIds: ['sg-0mine']},
      {
        Filters: [
          {Name: 'group-name', Values: ['runners']},
          {Name: 'vpc-id', Values: ['vpc-0def']},
        ],
        MaxResults: 100,
      },
    ])
    expect(inputs(CreateSecurityGroupCommand).map((i) => i.GroupName)).toEqual(['runners'])
    expect(inputs(AuthorizeSecurityGroupIngressCommand).map((i) => i.GroupId)).toEqual(['sg-0new'])
    expect(inputs(RunInstancesCommand)[0]!.NetworkInterfaces![0]!.Groups).toEqual(['sg-0mine', 'sg-0new'])
    expect(d.state.CreatedSecurityGroupIds).toEqual(['sg-0new'])

    ec2
      .on(DescribeSecurityGroupsCommand, {GroupIds: ['sg-0mine']})
      .resolves({SecurityGroups: [{GroupId: 'sg-0mine', VpcId: 'vpc-0def'}]})
    const onlyExisting = await driver({
      'amazonec2-security-group': ['sg-0mine'],
      'amazonec2-open-port': ['8080'],
    })
    await expect(onlyExisting.preCreateCheck()).rejects.toThrow(/does not change groups it did not make/)
  })

  it('falls back to the newest image by owner when SSM is not allowed', async () => {
    mockRegion()
    ssm.on(GetParameterCommand).rejects(awsError('AccessDeniedException'))
    ec2.on(DescribeImagesCommand, {Owners: ['136693071363']}).resolves({
      Images: [
        {ImageId: 'ami-0old', CreationDate: '2025-01-01T00:00:00.000Z'},
        {ImageId: 'ami-0new', CreationDate: '2026-06-01T00:00:00.000Z'},
      ],
    })
    ec2
      .on(DescribeImagesCommand, {ImageIds: ['ami-0new']})
      .resolves({Images: [{ImageId: 'ami-0new', RootDeviceName: '/dev/xvda'}]})
    const d = await driver({'amazonec2-os': 'debian'})
    await d.preCreateCheck()
    expect(inputs(DescribeImagesCommand)[0]).toEqual({
      Owners: ['136693071363'],
      Filters: [
        {Name: 'name', Values: ['debian-12-amd64-*']},
        {Name: 'state', Values: ['available']},
      ],
      MaxResults: 1000,
    })
    expect(d.state).toMatchObject({AMI: 'ami-0new', RootDeviceName: '/dev/xvda', SSHUser: 'admin'})
  })

  it('resumes: a key pair and group an interrupted create left are adopted', async () => {
    mockRegion()
    const d = await driver()
    ec2.on(ImportKeyPairCommand).rejects(awsError('InvalidKeyPair.Duplicate'))
    ec2
      .on(DescribeKeyPairsCommand, {
        KeyNames: [d.state.KeyPairName],
        Filters: [{Name: 'tag:berth:machine-id', Values: [d.state.MachineId]}],
      })
      .resolves({KeyPairs: [{KeyName: d.state.KeyPairName}]})
    ec2
      .on(DescribeSecurityGroupsCommand, {
        Filters: [{Name: 'tag:berth:machine-id', Values: [d.state.MachineId]}],
      })
      .resolves({SecurityGroups: [{GroupId: 'sg-0left', GroupName: `berth-web-${d.state.MachineId}`}]})
    ec2.on(AuthorizeSecurityGroupIngressCommand).rejects(awsError('InvalidPermission.Duplicate'))
    await d.preCreateCheck()
    await d.create()
    expect(inputs(CreateSecurityGroupCommand)).toHaveLength(0)
    expect(inputs(RunInstancesCommand)[0]!.NetworkInterfaces![0]!.Groups).toEqual(['sg-0left'])
    expect(d.state).toMatchObject({KeyPairCreated: true, CreatedSecurityGroupIds: ['sg-0left']})
  })
})

describe('AWS failures become one line with what to do', () => {
  it.each([
    ['UnauthorizedOperation', 'RunInstances', /AWS denied ec2:RunInstances to these credentials.*/],
    ['InsufficientInstanceCapacity', 'RunInstances', /no capacity for t3\.micro in zone eu-west-3a/],
    ['Unsupported', 'RunInstances', /instance type t3\.micro is not available in zone eu-west-3a/],
    ['VPCIdNotSpecified', 'RunInstances', /region eu-west-3 has no default VPC/],
    ['InvalidKeyPair.Duplicate', 'ImportKeyPair', /a key pair named k already exists in eu-west-3/],
    ['AuthFailure', 'DescribeVpcs', /AWS refused the credentials \(AuthFailure\)/],
    [
      'RequestLimitExceeded',
      'DescribeInstances',
      /AWS DescribeInstances failed in eu-west-3: RequestLimitExceeded/,
    ],
  ])('%s', (code, action, message) => {
    const error = awsFailure(awsError(code, `${code} happened\nwith detail on a second line`), {
      action,
      region: 'eu-west-3',
      instanceType: 't3.micro',
      zone: 'eu-west-3a',
      keyPairName: 'k',
    })
    expect(error.message).toMatch(message)
    expect(error.message).not.toContain('\n')
  })

  it('no credentials: the pre-create check says where credentials come from', async () => {
    delete process.env.AWS_ACCESS_KEY_ID
    delete process.env.AWS_SECRET_ACCESS_KEY
    delete process.env.AWS_PROFILE
    const d = await driver()
    const error = await d.preCreateCheck().catch((err: BerthError) => err)
    expect(error).toBeInstanceOf(BerthError)
    expect((error as BerthError).message).toMatch(/^no AWS credentials found/)
    expect((error as BerthError).hint).toMatch(/AWS_ACCESS_KEY_ID.*AWS_PROFILE/)
    expect(ec2.calls()).toHaveLength(0)
  })

  it('no default VPC, a subnet in another zone, an unknown instance type, a key pair name taken', async () => {
    mockRegion()
    ec2.on(DescribeVpcsCommand).resolves({Vpcs: []})
    await expect((await driver()).preCreateCheck()).rejects.toThrow(/region eu-west-3 has no default VPC/)

    mockRegion()
    ec2
      .on(DescribeSubnetsCommand)
      .resolves({Subnets: [{SubnetId: 'subnet-0b', AvailabilityZone: 'eu-west-3b', VpcId: 'vpc-0def'}]})
    await expect(
      (await driver({'amazonec2-subnet-id': 'subnet-0b', 'amazonec2-zone': 'eu-west-3a'})).preCreateCheck(),
    ).rejects.toThrow(/subnet subnet-0b is in zone eu-west-3b, not eu-west-3a/)

    mockRegion()
    ec2
      .on(DescribeInstanceTypesCommand)
      .rejects(
        awsError('InvalidInstanceType', 'The following supplied instance types do not exist: [t9.huge]'),
      )
    await expect((await driver({'amazonec2-instance-type': 't9.huge'})).preCreateCheck()).rejects.toThrow(
      /instance type t9\.huge is not available in region eu-west-3/,
    )

    mockRegion()
    ec2.on(DescribeKeyPairsCommand, {KeyNames: ['deploy']}).resolves({KeyPairs: [{KeyName: 'deploy'}]})
    const taken = await (
      await driver({'amazonec2-keypair-name': 'deploy'})
    )
      .preCreateCheck()
      .catch((err: BerthError) => err)
    expect(taken).toMatchObject({
      message: 'a key pair named deploy already exists in eu-west-3',
      hint: expect.stringMatching(/--amazonec2-ssh-key/),
    })
  })

  it('RunInstances failing leaves the state naming what to clean up', async () => {
    mockRegion()
    ec2.on(RunInstancesCommand).rejects(awsError('InsufficientInstanceCapacity'))
    const d = await driver()
    await d.preCreateCheck()
    await expect(d.create()).rejects.toThrow(/no capacity/)
    expect(d.state).toMatchObject({
      KeyPairCreated: true,
      CreatedSecurityGroupIds: ['sg-0new'],
      InstanceId: '',
    })
  })

  it('an instance that never runs fails at the deadline with its last state', async () => {
    mockRegion()
    ec2.on(DescribeInstancesCommand).resolves({Reservations: [{Instances: [instance('pending')]}]})
    process.env.BERTH_AMAZONEC2_TIMEOUT = '0.2'
    const d = await driver()
    await d.preCreateCheck()
    await expect(d.create()).rejects.toThrow(
      'instance i-0abc did not become running within 0s (still pending)',
    )
  })

  it("an instance that dies while starting fails at once with AWS's reason", async () => {
    mockRegion()
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            instance('terminated', {
              StateReason: {Message: 'Server.SpotInstanceTermination: Spot instance termination'},
            }),
          ],
        },
      ],
    })
    const d = await driver()
    await d.preCreateCheck()
    await expect(d.create()).rejects.toThrow(
      'instance i-0abc went terminated instead of running: Server.SpotInstanceTermination: Spot instance termination',
    )
  })
})

describe('lifecycle', () => {
  async function running(values: OptionValues = {}): Promise<Ec2Driver> {
    const d = await driver(values)
    d.state.InstanceId = 'i-0abc'
    return d
  }

  it('start, stop, kill and restart map to EC2 calls and wait for the state', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce({Reservations: [{Instances: [instance('running', {PublicIpAddress: '203.0.113.77'})]}]})
      .resolvesOnce({Reservations: [{Instances: [instance('stopping')]}]})
      .resolvesOnce({Reservations: [{Instances: [instance('stopped')]}]})
      .resolvesOnce({Reservations: [{Instances: [instance('stopped')]}]})
      .resolves({Reservations: [{Instances: [instance('running')]}]})
    const d = await running()
    await d.start()
    expect(d.state.IPAddress).toBe('203.0.113.77')
    await d.stop()
    await d.kill()
    await d.restart()
    expect(inputs(StartInstancesCommand)).toEqual([{InstanceIds: ['i-0abc']}])
    expect(inputs(StopInstancesCommand)).toEqual([
      {InstanceIds: ['i-0abc']},
      {InstanceIds: ['i-0abc'], Force: true},
    ])
    expect(inputs(RebootInstancesCommand)).toEqual([{InstanceIds: ['i-0abc']}])
  })

  it('a one-time spot instance is not stopped', async () => {
    const d = await running({'amazonec2-spot': true})
    await expect(d.stop()).rejects.toThrow(/one-time spot instance cannot be stopped/)
    expect(inputs(StopInstancesCommand)).toHaveLength(0)
  })

  it('state and IP come from DescribeInstances', async () => {
    const d = await running()
    for (const [ec2State, state] of [
      ['pending', 'Starting'],
      ['running', 'Running'],
      ['stopping', 'Stopping'],
      ['shutting-down', 'Stopping'],
      ['stopped', 'Stopped'],
      ['terminated', 'NotFound'],
    ]) {
      ec2.on(DescribeInstancesCommand).resolves({Reservations: [{Instances: [instance(ec2State!)]}]})
      expect(await d.getState()).toBe(state)
    }
    ec2.on(DescribeInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'))
    expect(await d.getState()).toBe('NotFound')
    ec2.on(DescribeInstancesCommand).resolves({Reservations: [{Instances: [instance('running')]}]})
    expect(await d.getIP()).toBe('203.0.113.5')
    expect(await (await running({'amazonec2-use-private-address': true})).getIP()).toBe('172.31.5.9')
    ec2
      .on(DescribeInstancesCommand)
      .resolves({Reservations: [{Instances: [instance('stopped', {PublicIpAddress: undefined})]}]})
    await expect(d.getIP()).rejects.toThrow(/has no public address \(state stopped\)/)
  })

  it('labels become tags on the instance and its volumes; a dropped label loses its tag', async () => {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            instance('running', {
              BlockDeviceMappings: [{DeviceName: '/dev/sda1', Ebs: {VolumeId: 'vol-0root'}}],
            }),
          ],
        },
      ],
    })
    const d = await running()
    await d.updateLabels({team: 'ci', env: 'prod'})
    await d.updateLabels({team: 'ci', env: ''})
    expect(inputs(CreateTagsCommand)).toEqual([
      {
        Resources: ['i-0abc', 'vol-0root'],
        Tags: [
          {Key: 'team', Value: 'ci'},
          {Key: 'env', Value: 'prod'},
        ],
      },
      {Resources: ['i-0abc', 'vol-0root'], Tags: [{Key: 'team', Value: 'ci'}]},
    ])
    expect(inputs(DeleteTagsCommand)).toEqual([{Resources: ['i-0abc', 'vol-0root'], Tags: [{Key: 'env'}]}])
    await expect(d.updateLabels({Name: 'x'})).rejects.toThrow(/would overwrite a tag/)
  })
})

describe('rm', () => {
  it('terminates, cancels the spot request, deletes the key pair, and the group once it is free', async () => {
    const d = await driver({'amazonec2-spot': true})
    Object.assign(d.state, {
      InstanceId: 'i-0abc',
      SpotInstanceRequestId: 'sir-0abc',
      KeyPairCreated: true,
      CreatedSecurityGroupIds: ['sg-0new'],
    } satisfies Partial<Ec2State>)
    ec2
      .on(DescribeInstancesCommand, {InstanceIds: ['i-0abc']})
      .resolvesOnce({Reservations: [{Instances: [instance('shutting-down')]}]})
      .resolves({Reservations: [{Instances: [instance('terminated')]}]})
    ec2
      .on(DescribeInstancesCommand, {
        Filters: [
          {Name: 'tag:berth:machine-id', Values: [d.state.MachineId]},
          {
            Name: 'instance-state-name',
            Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'],
          },
        ],
        MaxResults: 100,
      })
      .resolves({Reservations: []})
    ec2
      .on(DescribeInstancesCommand, {
        Filters: [
          {Name: 'instance.group-id', Values: ['sg-0new']},
          {
            Name: 'instance-state-name',
            Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'],
          },
        ],
        MaxResults: 100,
      })
      .resolves({Reservations: []})
    ec2.on(DescribeKeyPairsCommand).resolves({KeyPairs: []})
    ec2.on(DescribeSecurityGroupsCommand).resolves({SecurityGroups: []})
    ec2
      .on(DeleteSecurityGroupCommand)
      .rejectsOnce(awsError('DependencyViolation', 'resource sg-0new has a dependent object'))
      .resolves({Return: true})
    await d.remove()
    expect(inputs(TerminateInstancesCommand)).toEqual([{InstanceIds: ['i-0abc']}])
    expect(inputs(CancelSpotInstanceRequestsCommand)).toEqual([{SpotInstanceRequestIds: ['sir-0abc']}])
    expect(inputs(DeleteKeyPairCommand)).toEqual([{KeyName: d.state.KeyPairName}])
    expect(inputs(DeleteSecurityGroupCommand)).toEqual([{GroupId: 'sg-0new'}, {GroupId: 'sg-0new'}])
    // Termination was awaited before the key and group went.
    const order = ec2.calls().map((c) => (c.args[0] as object).constructor.name)
    expect(order.lastIndexOf('DescribeInstancesCommand')).toBeGreaterThan(
      order.indexOf('TerminateInstancesCommand'),
    )
    expect(order.indexOf('DeleteKeyPairCommand')).toBeGreaterThan(order.indexOf('TerminateInstancesCommand'))
  })

  it('finds what a crashed create left by its tags, and leaves a group another instance uses', async () => {
    const d = await driver()
    const tagFilter = {Name: 'tag:berth:machine-id', Values: [d.state.MachineId]}
    ec2
      .on(DescribeInstancesCommand, {
        Filters: [
          tagFilter,
          {
            Name: 'instance-state-name',
            Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'],
          },
        ],
        MaxResults: 100,
      })
      .resolves({Reservations: [{Instances: [instance('pending', {InstanceId: 'i-0lost'})]}]})
    ec2
      .on(DescribeInstancesCommand, {InstanceIds: ['i-0lost']})
      .resolves({Reservations: [{Instances: [instance('terminated', {InstanceId: 'i-0lost'})]}]})
    ec2
      .on(DescribeKeyPairsCommand, {Filters: [tagFilter]})
      .resolves({KeyPairs: [{KeyName: 'berth-web-lost'}]})
    ec2
      .on(DescribeSecurityGroupsCommand, {Filters: [tagFilter], MaxResults: 100})
      .resolves({SecurityGroups: [{GroupId: 'sg-0lost', GroupName: 'shared'}]})
    ec2.on(DeleteSecurityGroupCommand).rejects(awsError('DependencyViolation'))
    ec2
      .on(DescribeInstancesCommand, {
        Filters: [
          {Name: 'instance.group-id', Values: ['sg-0lost']},
          {
            Name: 'instance-state-name',
            Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'],
          },
        ],
        MaxResults: 100,
      })
      .resolves({Reservations: [{Instances: [instance('running', {InstanceId: 'i-0other'})]}]})
    await d.remove()
    expect(inputs(TerminateInstancesCommand)).toEqual([{InstanceIds: ['i-0lost']}])
    expect(inputs(DeleteKeyPairCommand)).toEqual([{KeyName: 'berth-web-lost'}])
    expect(inputs(DeleteSecurityGroupCommand)).toHaveLength(1)
  })

  it('a machine already gone is not an error', async () => {
    const d = await driver()
    d.state.InstanceId = 'i-0gone'
    ec2.on(DescribeInstancesCommand).resolves({Reservations: []})
    ec2.on(TerminateInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'))
    ec2.on(DescribeKeyPairsCommand).resolves({KeyPairs: []})
    ec2.on(DescribeSecurityGroupsCommand).resolves({SecurityGroups: []})
    await d.remove()
    expect(inputs(TerminateInstancesCommand)).toHaveLength(1)
  })
})
