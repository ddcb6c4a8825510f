import {copyFile, chmod, readFile} from 'node:fs/promises'
import {isIP} from 'node:net'
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
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  ImportKeyPairCommand,
  paginateDescribeImages,
  paginateDescribeInstances,
  paginateDescribeSecurityGroups,
  paginateDescribeSubnets,
  RebootInstancesCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type Filter,
  type Instance,
  type IpPermission,
  type RunInstancesCommandInput,
  type Subnet,
  type TagSpecification,
} from '@aws-sdk/client-ec2'
import {GetParameterCommand} from '@aws-sdk/client-ssm'
import ssh2 from 'ssh2'
import {BerthError, ensureSshKey, ExitCode, oneLine, poll} from '../../src/core/drivers/kit.js'
import type {Driver, DriverContext, MachineState, SshAddress} from '../../src/core/drivers/kit.js'
import {awsClients, awsFailure, errorCode, noDefaultVpc, type AwsClients, type FailureContext} from './aws.js'
import {machineTags, ownResourceName, TAG_MACHINE_ID, type Ec2State} from './state.js'

export const DEFAULT_CHECKIP_URL = 'https://checkip.amazonaws.com/'
const ENGINE_PORT = 2376
/** Swarm mode between the machines of one group: managers, gossip (tcp+udp), overlay VXLAN. */
const SWARM_PORTS: {port: number; protocol: 'tcp' | 'udp'}[] = [
  {port: 2377, protocol: 'tcp'},
  {port: 7946, protocol: 'tcp'},
  {port: 7946, protocol: 'udp'},
  {port: 4789, protocol: 'udp'},
]
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down']

/** Canonical's and Debian's accounts, for the DescribeImages fallback when SSM is not allowed. */
const IMAGE_SOURCES = {
  ubuntu: {
    parameter: (arch: string) =>
      `/aws/service/canonical/ubuntu/server/24.04/stable/current/${arch}/hvm/ebs-gp3/ami-id`,
    owner: '099720109477',
    name: (arch: string) => `ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-${arch}-server-*`,
  },
  debian: {
    parameter: (arch: string) => `/aws/service/debian/release/12/latest/${arch}`,
    owner: '136693071363',
    name: (arch: string) => `debian-12-${arch}-*`,
  },
} as const

/** Deadlines and poll intervals in seconds; the environment shortens them for tests. */
function timing(): {timeoutMs: number; pollMs: number} {
  const seconds = (name: string, fallback: number) => {
    const value = Number(process.env[name])
    return Number.isFinite(value) && value > 0 ? value : fallback
  }
  return {
    timeoutMs: seconds('BERTH_AMAZONEC2_TIMEOUT', 300) * 1000,
    pollMs: seconds('BERTH_AMAZONEC2_POLL', 5) * 1000,
  }
}

/** This computer's public IPv4 as AWS sees it, as a /32; undefined when it cannot be found. */
export async function callerCidr(): Promise<string | undefined> {
  try {
    const response = await fetch(process.env.BERTH_AMAZONEC2_CHECKIP_URL ?? DEFAULT_CHECKIP_URL, {
      signal: AbortSignal.timeout(5000),
    })
    if (!response.ok) return undefined
    const ip = (await response.text()).trim()
    return isIP(ip) === 4 ? `${ip}/32` : undefined
  } catch {
    return undefined
  }
}

function stateName(instance: Instance | undefined): string {
  return instance?.State?.Name ?? 'terminated'
}

export class Ec2Driver implements Driver {
  private readonly aws: AwsClients

  constructor(
    readonly state: Ec2State,
    private readonly context: DriverContext,
  ) {
    this.aws = awsClients(state.Region, state.Profile)
  }

  private failureContext(action: string): FailureContext {
    return {
      action,
      region: this.state.Region,
      instanceType: this.state.InstanceType,
      zone: this.state.Zone || undefined,
      keyPairName: this.state.KeyPairName,
    }
  }

  /** Runs one AWS call; its failure becomes a one-line BerthError. */
  private async call<T>(action: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (err) {
      throw awsFailure(err, this.failureContext(action))
    }
  }

  /** Like call, but the listed error codes mean "nothing to do" and give undefined. */
  private async callAllowing<T>(
    action: string,
    codes: string[],
    work: () => Promise<T>,
  ): Promise<T | undefined> {
    try {
      return await work()
    } catch (err) {
      if (codes.includes(errorCode(err))) return undefined
      throw awsFailure(err, this.failureContext(action))
    }
  }

  private ownedFilter(): Filter {
    return {Name: `tag:${TAG_MACHINE_ID}`, Values: [this.state.MachineId]}
  }

  private tagSpecifications(...types: string[]): TagSpecification[] {
    return types.map((ResourceType) => ({ResourceType, Tags: machineTags(this.state)}) as TagSpecification)
  }

  // ---- checks before anything is made ----

  async preCreateCheck(): Promise<void> {
    await this.call('credentials', () => this.aws.ec2.config.credentials())
    if (this.state.AllowCidrs.length === 0) {
      const cidr = await callerCidr()
      if (!cidr) {
        throw new BerthError(
          "could not find this computer's public address for the security group",
          ExitCode.preCreateCheck,
          'pass --amazonec2-allow-cidr with the CIDR allowed to reach SSH and the engine (e.g. 203.0.113.7/32)',
        )
      }
      this.state.AllowCidrs = [cidr]
    }
    await this.resolveImage()
    await this.resolveNetwork()
    const groups = await this.resolveSecurityGroups()
    if (this.state.OpenPorts.length > 0 && groups.missing.length === 0) {
      throw new BerthError(
        '--amazonec2-open-port needs a security group berth creates; berth does not change groups it did not make',
        ExitCode.usage,
        'add the port to your group, or name a group that does not exist yet',
      )
    }
    await this.checkKeyPair()
  }

  /** Architecture from the instance type, then the AMI and its root device. */
  private async resolveImage(): Promise<void> {
    if (this.state.AMI && this.state.RootDeviceName) return
    const types = await this.call('DescribeInstanceTypes', () =>
      this.aws.ec2.send(
        new DescribeInstanceTypesCommand({InstanceTypes: [this.state.InstanceType as _InstanceType]}),
      ),
    )
    const architectures = types.InstanceTypes?.[0]?.ProcessorInfo?.SupportedArchitectures ?? []
    const arch = architectures.includes('x86_64') || architectures.length === 0 ? 'amd64' : 'arm64'
    if (!this.state.AMI) this.state.AMI = await this.latestImage(arch)
    const images = await this.call('DescribeImages', () =>
      this.aws.ec2.send(new DescribeImagesCommand({ImageIds: [this.state.AMI]})),
    )
    const image = images.Images?.[0]
    if (!image?.RootDeviceName)
      throw new BerthError(
        `AMI ${this.state.AMI} not found in ${this.state.Region}`,
        ExitCode.failure,
        'AMIs are per region: check --amazonec2-ami',
      )
    this.state.RootDeviceName = image.RootDeviceName
  }

  /** The SSM public parameter names today's image; where SSM is not allowed, the owner's newest image. */
  private async latestImage(arch: 'amd64' | 'arm64'): Promise<string> {
    const source = IMAGE_SOURCES[this.state.OS as keyof typeof IMAGE_SOURCES]
    const parameter = source.parameter(arch)
    try {
      const found = await this.aws.ssm.send(new GetParameterCommand({Name: parameter}))
      if (found.Parameter?.Value) return found.Parameter.Value
    } catch (err) {
      if (errorCode(err) === 'CredentialsProviderError')
        throw awsFailure(err, this.failureContext('GetParameter'))
      this.context.log(
        `SSM parameter ${parameter} not readable (${errorCode(err) || oneLine(err)}); looking the image up by owner`,
      )
    }
    const images = await this.call('DescribeImages', async () => {
      const all = []
      const filters = [
        {Name: 'name', Values: [source.name(arch)]},
        {Name: 'state', Values: ['available']},
      ]
      for await (const page of paginateDescribeImages(
        {client: this.aws.ec2, pageSize: 1000},
        {Owners: [source.owner], Filters: filters},
      ))
        all.push(...(page.Images ?? []))
      return all
    })
    const newest = images
      .filter((i) => i.ImageId)
      .sort((x, y) => (y.CreationDate ?? '').localeCompare(x.CreationDate ?? ''))[0]
    if (!newest?.ImageId)
      throw new BerthError(
        `no ${this.state.OS} image for ${arch} found in ${this.state.Region}`,
        ExitCode.failure,
        'pass --amazonec2-ami',
      )
    return newest.ImageId
  }

  /** Subnet, VPC and zone: the given subnet, else the VPC's (default VPC unless given) subnet in the zone. */
  private async resolveNetwork(): Promise<void> {
    const {state} = this
    if (state.SubnetId) {
      const found = await this.call('DescribeSubnets', () =>
        this.aws.ec2.send(new DescribeSubnetsCommand({SubnetIds: [state.SubnetId]})),
      )
      const subnet = found.Subnets?.[0]
      if (!subnet) throw new BerthError(`subnet ${state.SubnetId} not found in ${state.Region}`)
      if (state.Zone && subnet.AvailabilityZone !== state.Zone) {
        throw new BerthError(
          `subnet ${state.SubnetId} is in zone ${subnet.AvailabilityZone}, not ${state.Zone}`,
          ExitCode.failure,
          'drop --amazonec2-zone or pass a subnet of that zone',
        )
      }
      if (state.VpcId && subnet.VpcId !== state.VpcId)
        throw new BerthError(`subnet ${state.SubnetId} belongs to ${subnet.VpcId}, not ${state.VpcId}`)
      state.VpcId = subnet.VpcId ?? ''
      state.Zone = subnet.AvailabilityZone ?? ''
      return
    }
    const defaultVpc = !state.VpcId
    if (defaultVpc) {
      const vpcs = await this.call('DescribeVpcs', () =>
        this.aws.ec2.send(new DescribeVpcsCommand({Filters: [{Name: 'is-default', Values: ['true']}]})),
      )
      const vpc = vpcs.Vpcs?.[0]?.VpcId
      if (!vpc) throw noDefaultVpc(state.Region)
      state.VpcId = vpc
    }
    const filters: Filter[] = [
      {Name: 'vpc-id', Values: [state.VpcId]},
      {Name: 'state', Values: ['available']},
    ]
    if (state.Zone) filters.push({Name: 'availability-zone', Values: [state.Zone]})
    if (defaultVpc) filters.push({Name: 'default-for-az', Values: ['true']})
    const subnets = await this.call('DescribeSubnets', async () => {
      const all: Subnet[] = []
      for await (const page of paginateDescribeSubnets(
        {client: this.aws.ec2, pageSize: 100},
        {Filters: filters},
      ))
        all.push(...(page.Subnets ?? []))
      return all
    })
    const subnet = subnets.sort(
      (x, y) =>
        (x.AvailabilityZone ?? '').localeCompare(y.AvailabilityZone ?? '') ||
        (x.SubnetId ?? '').localeCompare(y.SubnetId ?? ''),
    )[0]
    if (!subnet?.SubnetId) {
      throw new BerthError(
        `${defaultVpc ? 'the default VPC' : `VPC ${state.VpcId}`} has no ${defaultVpc ? 'default ' : ''}subnet${state.Zone ? ` in zone ${state.Zone}` : ''}`,
        ExitCode.failure,
        state.Zone
          ? 'pick another --amazonec2-zone or pass --amazonec2-subnet-id'
          : 'pass --amazonec2-subnet-id',
      )
    }
    state.SubnetId = subnet.SubnetId
    state.Zone = subnet.AvailabilityZone ?? ''
  }

  /** The groups asked for, split into existing ones (ids) and names berth has to create. */
  private async resolveSecurityGroups(): Promise<{existing: string[]; missing: string[]}> {
    const {state} = this
    const wanted =
      state.SecurityGroups.length > 0
        ? state.SecurityGroups
        : [ownResourceName(state.MachineName, state.MachineId)]
    const existing: string[] = []
    const missing: string[] = []
    for (const name of wanted) {
      const byId = name.startsWith('sg-')
      const groups = await this.call('DescribeSecurityGroups', async () => {
        const input = byId
          ? {GroupIds: [name]}
          : {
              Filters: [
                {Name: 'group-name', Values: [name]},
                {Name: 'vpc-id', Values: [state.VpcId]},
              ],
            }
        const all = []
        const pageSize = byId ? undefined : 100
        for await (const page of paginateDescribeSecurityGroups({client: this.aws.ec2, pageSize}, input))
          all.push(...(page.SecurityGroups ?? []))
        return all
      })
      const group = groups[0]
      if (group?.GroupId) {
        if (group.VpcId !== state.VpcId)
          throw new BerthError(
            `security group ${name} belongs to ${group.VpcId}, not the machine's VPC ${state.VpcId}`,
            ExitCode.usage,
          )
        existing.push(group.GroupId)
      } else if (byId) {
        throw new BerthError(`security group ${name} not found in ${state.Region}`, ExitCode.usage)
      } else {
        missing.push(name)
      }
    }
    return {existing, missing}
  }

  /** A key pair named by the user must exist (to use it) or not (to import under that name). */
  private async checkKeyPair(): Promise<void> {
    const {state} = this
    if (state.KeyPairName === ownResourceName(state.MachineName, state.MachineId)) return
    const found = await this.callAllowing('DescribeKeyPairs', ['InvalidKeyPair.NotFound'], () =>
      this.aws.ec2.send(new DescribeKeyPairsCommand({KeyNames: [state.KeyPairName]})),
    )
    const exists = (found?.KeyPairs ?? []).length > 0
    if (state.UseExistingKeyPair && !exists) {
      throw new BerthError(
        `key pair ${state.KeyPairName} not found in ${state.Region}`,
        ExitCode.preCreateCheck,
        'import it, or drop --amazonec2-keypair-name to let berth import one',
      )
    }
    if (!state.UseExistingKeyPair && exists)
      throw awsFailure({name: 'InvalidKeyPair.Duplicate'}, this.failureContext('ImportKeyPair'))
  }

  // ---- create ----

  /**
   * Key pair, security group, instance, then the wait for running. Each step records what it
   * made in the state, so a failure's cleanup (remove) finds it; a resumed create reuses what an
   * interrupted one left (same names, same client token).
   */
  async create(): Promise<void> {
    // Resolved by the pre-create check already, unless the record predates it.
    await this.resolveImage()
    if (!this.state.SubnetId || !this.state.VpcId || !this.state.Zone) await this.resolveNetwork()
    await this.ensureKeyPair()
    await this.ensureSecurityGroups()
    if (!this.state.InstanceId) await this.runInstance()
    const instance = await this.waitFor([this.state.InstanceId], 'running')
    this.state.IPAddress = this.addressOf(instance[0])
  }

  private async ensureKeyPair(): Promise<void> {
    const {state} = this
    if (state.SourceSSHKeyPath) {
      const target = `${this.context.machineDir}/id_ssh`
      await copyFile(state.SourceSSHKeyPath, target)
      await chmod(target, 0o600)
      state.SSHKeyPath = target
    } else {
      await ensureSshKey(state.SSHKeyPath, `berth@${state.MachineName}`)
    }
    if (state.UseExistingKeyPair || state.KeyPairCreated) return
    const parsed = ssh2.utils.parseKey(await readFile(state.SSHKeyPath))
    if (parsed instanceof Error)
      throw new BerthError(`cannot use SSH key ${state.SSHKeyPath}: ${parsed.message}`)
    const publicKey = `${parsed.type} ${parsed.getPublicSSH().toString('base64')} berth@${state.MachineName}`
    this.context.log(`Importing key pair ${state.KeyPairName}`)
    try {
      await this.aws.ec2.send(
        new ImportKeyPairCommand({
          KeyName: state.KeyPairName,
          PublicKeyMaterial: Buffer.from(publicKey),
          TagSpecifications: this.tagSpecifications('key-pair'),
        }),
      )
    } catch (err) {
      // A create interrupted after the import left this machine's own key pair: adopt it.
      if (errorCode(err) !== 'InvalidKeyPair.Duplicate' || !(await this.ownsKeyPair(state.KeyPairName)))
        throw awsFailure(err, this.failureContext('ImportKeyPair'))
    }
    state.KeyPairCreated = true
  }

  private async ownsKeyPair(name: string): Promise<boolean> {
    const found = await this.call('DescribeKeyPairs', () =>
      this.aws.ec2.send(new DescribeKeyPairsCommand({KeyNames: [name], Filters: [this.ownedFilter()]})),
    )
    return (found.KeyPairs ?? []).length > 0
  }

  private async ensureSecurityGroups(): Promise<void> {
    const {state} = this
    const {existing, missing} = await this.resolveSecurityGroups()
    const ownedByName = await this.ownedGroups()
    for (const name of missing) {
      const leftover = ownedByName.find((g) => g.name === name)
      const groupId = leftover?.id ?? (await this.createSecurityGroup(name))
      if (!state.CreatedSecurityGroupIds.includes(groupId)) state.CreatedSecurityGroupIds.push(groupId)
      await this.authorizeIngress(groupId)
      existing.push(groupId)
    }
    state.SecurityGroupIds = [...new Set(existing)]
  }

  private async createSecurityGroup(name: string): Promise<string> {
    this.context.log(`Creating security group ${name}`)
    const created = await this.call('CreateSecurityGroup', () =>
      this.aws.ec2.send(
        new CreateSecurityGroupCommand({
          GroupName: name,
          Description: `berth machine ${this.state.MachineName}: SSH and Docker from ${this.state.AllowCidrs.join(', ')}`,
          VpcId: this.state.VpcId,
          TagSpecifications: this.tagSpecifications('security-group'),
        }),
      ),
    )
    if (!created.GroupId) throw new BerthError(`CreateSecurityGroup returned no group id for ${name}`)
    // Recorded at once: a failure in the rules below still has the group deleted.
    this.state.CreatedSecurityGroupIds.push(created.GroupId)
    return created.GroupId
  }

  /** SSH, the engine and --amazonec2-open-port from the allowed CIDRs; swarm ports from the group itself. */
  private async authorizeIngress(groupId: string): Promise<void> {
    const v4 = this.state.AllowCidrs.filter((c) => isIP(c.split('/')[0]!) === 4).map((CidrIp) => ({
      CidrIp,
      Description: 'berth: allowed client',
    }))
    const v6 = this.state.AllowCidrs.filter((c) => isIP(c.split('/')[0]!) === 6).map((CidrIpv6) => ({
      CidrIpv6,
      Description: 'berth: allowed client',
    }))
    const fromClients = [
      {port: 22, protocol: 'tcp' as const},
      {port: ENGINE_PORT, protocol: 'tcp' as const},
      ...this.state.OpenPorts,
    ]
    const permissions: IpPermission[] = [
      ...fromClients.map(({port, protocol}) => ({
        IpProtocol: protocol,
        FromPort: port,
        ToPort: port,
        IpRanges: v4,
        Ipv6Ranges: v6,
      })),
      ...SWARM_PORTS.map(({port, protocol}) => ({
        IpProtocol: protocol,
        FromPort: port,
        ToPort: port,
        UserIdGroupPairs: [{GroupId: groupId, Description: 'berth: swarm between machines'}],
      })),
    ]
    // A resumed create finds the rules already there.
    await this.callAllowing('AuthorizeSecurityGroupIngress', ['InvalidPermission.Duplicate'], () =>
      this.aws.ec2.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: groupId,
          IpPermissions: permissions,
          TagSpecifications: this.tagSpecifications('security-group-rule'),
        }),
      ),
    )
  }

  private async runInstance(): Promise<void> {
    const {state} = this
    const input: RunInstancesCommandInput = {
      ImageId: state.AMI,
      InstanceType: state.InstanceType as _InstanceType,
      MinCount: 1,
      MaxCount: 1,
      KeyName: state.KeyPairName,
      // Idempotent: a resumed create gets the instance an interrupted one launched.
      ClientToken: `berth-${state.MachineId}`,
      NetworkInterfaces: [
        {
          DeviceIndex: 0,
          SubnetId: state.SubnetId,
          Groups: state.SecurityGroupIds,
          AssociatePublicIpAddress: !state.PrivateAddressOnly,
          DeleteOnTermination: true,
        },
      ],
      BlockDeviceMappings: [
        {
          DeviceName: state.RootDeviceName,
          Ebs: {
            VolumeSize: state.RootSize,
            VolumeType: state.VolumeType as 'gp3',
            Encrypted: true,
            DeleteOnTermination: true,
          },
        },
      ],
      MetadataOptions: {HttpTokens: 'required', HttpPutResponseHopLimit: 2, HttpEndpoint: 'enabled'},
      TagSpecifications: this.tagSpecifications(
        'instance',
        'volume',
        'network-interface',
        ...(state.Spot ? ['spot-instances-request'] : []),
      ),
    }
    if (state.IamInstanceProfile) {
      input.IamInstanceProfile = state.IamInstanceProfile.startsWith('arn:')
        ? {Arn: state.IamInstanceProfile}
        : {Name: state.IamInstanceProfile}
    }
    if (state.UserDataPath) input.UserData = (await readFile(state.UserDataPath)).toString('base64')
    if (state.Spot) {
      input.InstanceMarketOptions = {
        MarketType: 'spot',
        SpotOptions: {
          SpotInstanceType: 'one-time',
          InstanceInterruptionBehavior: 'terminate',
          ...(state.SpotPrice ? {MaxPrice: state.SpotPrice} : {}),
        },
      }
    }
    this.context.log(
      `Launching a ${state.Spot ? 'spot ' : ''}${state.InstanceType} instance in ${state.Zone}`,
    )
    const reservation = await this.call('RunInstances', () =>
      this.aws.ec2.send(new RunInstancesCommand(input)),
    )
    const instance = reservation.Instances?.[0]
    if (!instance?.InstanceId) throw new BerthError('RunInstances returned no instance')
    state.InstanceId = instance.InstanceId
    state.SpotInstanceRequestId = instance.SpotInstanceRequestId ?? ''
  }

  // ---- waiting ----

  private async describe(ids: string[]): Promise<Instance[]> {
    const found = await this.callAllowing('DescribeInstances', ['InvalidInstanceID.NotFound'], () =>
      this.aws.ec2.send(new DescribeInstancesCommand({InstanceIds: ids})),
    )
    return (found?.Reservations ?? []).flatMap((r) => r.Instances ?? [])
  }

  /**
   * Polls until every instance is in `want`, failing at once when one ends up where it cannot
   * get there from (terminated while starting, say), and at the deadline with its last state.
   */
  private async waitFor(ids: string[], want: 'running' | 'stopped' | 'terminated'): Promise<Instance[]> {
    const {timeoutMs, pollMs} = timing()
    const dead = want === 'terminated' ? [] : ['shutting-down', 'terminated']
    this.context.log(`Waiting for ${ids.join(', ')} to be ${want}`)
    let last = 'unknown'
    return poll(
      async () => {
        const instances = await this.describe(ids)
        // Just after RunInstances an instance may not be visible yet (eventual consistency).
        const states = ids.map((id) => instances.find((i) => i.InstanceId === id))
        if (
          want === 'terminated'
            ? states.every((i) => stateName(i) === 'terminated')
            : states.every((i) => i?.State?.Name === want)
        )
          return instances
        const stuck = states.find((i) => i && dead.includes(stateName(i)))
        if (stuck) {
          throw new BerthError(
            `instance ${stuck.InstanceId} went ${stateName(stuck)} instead of ${want}${stuck.StateReason?.Message ? `: ${stuck.StateReason.Message}` : ''}`,
          )
        }
        last = states.map((i) => i?.State?.Name ?? 'not visible yet').join(', ')
        return undefined
      },
      {
        timeoutMs,
        intervalMs: pollMs,
        retryable: () => false,
        onTimeout: () => {
          throw new BerthError(
            `instance ${ids.join(', ')} did not become ${want} within ${Math.round(timeoutMs / 1000)}s (still ${last})`,
            ExitCode.timeout,
            'see the instance in the EC2 console; BERTH_AMAZONEC2_TIMEOUT sets the wait in seconds',
          )
        },
      },
    )
  }

  private addressOf(instance: Instance | undefined): string {
    const address = this.state.UsePrivateAddress ? instance?.PrivateIpAddress : instance?.PublicIpAddress
    if (!address) {
      throw new BerthError(
        `instance ${this.state.InstanceId} has no ${this.state.UsePrivateAddress ? 'private' : 'public'} address (state ${stateName(instance)})`,
        ExitCode.failure,
        this.state.UsePrivateAddress
          ? undefined
          : 'use a subnet that maps public addresses, or --amazonec2-use-private-address from inside the VPC',
      )
    }
    return address
  }

  // ---- lifecycle ----

  private requireInstance(): string {
    if (!this.state.InstanceId)
      throw new BerthError(
        `machine ${this.state.MachineName} has no instance (its create did not get that far)`,
      )
    return this.state.InstanceId
  }

  private refuseSpotStop(action: string): void {
    if (this.state.Spot)
      throw new BerthError(`a one-time spot instance cannot be ${action}; \`berth rm\` it and create another`)
  }

  async start(): Promise<void> {
    const id = this.requireInstance()
    await this.call('StartInstances', () => this.aws.ec2.send(new StartInstancesCommand({InstanceIds: [id]})))
    this.state.IPAddress = this.addressOf((await this.waitFor([id], 'running'))[0])
  }

  async stop(): Promise<void> {
    this.refuseSpotStop('stopped')
    const id = this.requireInstance()
    await this.call('StopInstances', () => this.aws.ec2.send(new StopInstancesCommand({InstanceIds: [id]})))
    await this.waitFor([id], 'stopped')
  }

  async kill(): Promise<void> {
    this.refuseSpotStop('killed')
    const id = this.requireInstance()
    await this.call('StopInstances', () =>
      this.aws.ec2.send(new StopInstancesCommand({InstanceIds: [id], Force: true})),
    )
    await this.waitFor([id], 'stopped')
  }

  async restart(): Promise<void> {
    const id = this.requireInstance()
    await this.call('RebootInstances', () =>
      this.aws.ec2.send(new RebootInstancesCommand({InstanceIds: [id]})),
    )
    this.state.IPAddress = this.addressOf((await this.waitFor([id], 'running'))[0])
  }

  async getState(): Promise<MachineState> {
    if (!this.state.InstanceId) return 'NotFound'
    const instance = (await this.describe([this.state.InstanceId]))[0]
    switch (stateName(instance)) {
      case 'pending':
        return 'Starting'
      case 'running':
        return 'Running'
      case 'stopping':
      case 'shutting-down':
        return 'Stopping'
      case 'stopped':
        return 'Stopped'
      default:
        return 'NotFound'
    }
  }

  async getIP(): Promise<string> {
    return this.addressOf((await this.describe([this.requireInstance()]))[0])
  }

  async getSSHAddress(): Promise<SshAddress> {
    return {
      host: this.state.IPAddress || (await this.getIP()),
      port: this.state.SSHPort,
      user: this.state.SSHUser,
      keyPath: this.state.SSHKeyPath,
    }
  }

  /** Labels become tags on the instance and its volumes; a label dropped since the last call loses its tag. */
  async updateLabels(labels: Record<string, string>): Promise<void> {
    const id = this.requireInstance()
    const reserved = Object.keys(labels).find(
      (key) => key === 'Name' || key.startsWith('berth:') || key.toLowerCase().startsWith('aws:'),
    )
    if (reserved)
      throw new BerthError(`label ${reserved} would overwrite a tag berth or AWS sets`, ExitCode.usage)
    const instance = (await this.describe([id]))[0]
    const resources = [
      id,
      ...(instance?.BlockDeviceMappings ?? [])
        .map((m) => m.Ebs?.VolumeId)
        .filter((v): v is string => Boolean(v)),
    ]
    const set = Object.entries(labels).filter(([, value]) => value !== '')
    const dropped = this.state.LabelTagKeys.filter((key) => !set.some(([k]) => k === key))
    if (set.length > 0) {
      await this.call('CreateTags', () =>
        this.aws.ec2.send(
          new CreateTagsCommand({Resources: resources, Tags: set.map(([Key, Value]) => ({Key, Value}))}),
        ),
      )
    }
    if (dropped.length > 0) {
      await this.call('DeleteTags', () =>
        this.aws.ec2.send(new DeleteTagsCommand({Resources: resources, Tags: dropped.map((Key) => ({Key}))})),
      )
    }
    this.state.LabelTagKeys = set.map(([key]) => key)
  }

  // ---- removal ----

  /**
   * Terminates the instance (and cancels its spot request), then deletes the key pair and the
   * groups berth made once no instance uses them. Resources are found from the state and by
   * berth's tags, so a create that crashed before saving its state is cleaned up too.
   */
  async remove(): Promise<void> {
    const {state} = this
    const owned = await this.ownedInstances()
    const ids = [...new Set([state.InstanceId, ...owned.map((i) => i.InstanceId ?? '')].filter(Boolean))]
    if (ids.length > 0) {
      this.context.log(`Terminating ${ids.join(', ')}`)
      await this.callAllowing('TerminateInstances', ['InvalidInstanceID.NotFound'], () =>
        this.aws.ec2.send(new TerminateInstancesCommand({InstanceIds: ids})),
      )
      const spotRequests = [
        ...new Set(
          [state.SpotInstanceRequestId, ...owned.map((i) => i.SpotInstanceRequestId ?? '')].filter(Boolean),
        ),
      ]
      if (spotRequests.length > 0) {
        await this.callAllowing('CancelSpotInstanceRequests', ['InvalidSpotInstanceRequestID.NotFound'], () =>
          this.aws.ec2.send(new CancelSpotInstanceRequestsCommand({SpotInstanceRequestIds: spotRequests})),
        )
      }
      await this.waitFor(ids, 'terminated')
    }
    await this.removeKeyPairs()
    const groups = [
      ...new Set([...state.CreatedSecurityGroupIds, ...(await this.ownedGroups()).map((g) => g.id)]),
    ]
    for (const groupId of groups) await this.deleteGroupWhenFree(groupId, ids)
    state.InstanceId = ''
    state.CreatedSecurityGroupIds = []
    state.KeyPairCreated = false
  }

  private async ownedInstances(): Promise<Instance[]> {
    return this.call('DescribeInstances', async () => {
      const all: Instance[] = []
      const input = {Filters: [this.ownedFilter(), {Name: 'instance-state-name', Values: LIVE_STATES}]}
      for await (const page of paginateDescribeInstances({client: this.aws.ec2, pageSize: 100}, input)) {
        all.push(...(page.Reservations ?? []).flatMap((r) => r.Instances ?? []))
      }
      return all
    })
  }

  private async ownedGroups(): Promise<{id: string; name: string}[]> {
    return this.call('DescribeSecurityGroups', async () => {
      const all: {id: string; name: string}[] = []
      for await (const page of paginateDescribeSecurityGroups(
        {client: this.aws.ec2, pageSize: 100},
        {Filters: [this.ownedFilter()]},
      )) {
        for (const g of page.SecurityGroups ?? [])
          if (g.GroupId) all.push({id: g.GroupId, name: g.GroupName ?? ''})
      }
      return all
    })
  }

  private async removeKeyPairs(): Promise<void> {
    const {state} = this
    const tagged = await this.call('DescribeKeyPairs', () =>
      this.aws.ec2.send(new DescribeKeyPairsCommand({Filters: [this.ownedFilter()]})),
    )
    const names = new Set((tagged.KeyPairs ?? []).map((k) => k.KeyName ?? '').filter(Boolean))
    if (state.KeyPairCreated && !state.UseExistingKeyPair) names.add(state.KeyPairName)
    for (const name of names) {
      this.context.log(`Deleting key pair ${name}`)
      await this.callAllowing('DeleteKeyPair', ['InvalidKeyPair.NotFound'], () =>
        this.aws.ec2.send(new DeleteKeyPairCommand({KeyName: name})),
      )
    }
  }

  /**
   * A group stays "in use" for a while after its instance terminated (network interfaces are
   * released late): DependencyViolation is retried until the deadline, unless an instance that is
   * not this machine's uses the group, which is then left in place.
   */
  private async deleteGroupWhenFree(groupId: string, ours: string[]): Promise<void> {
    const {timeoutMs, pollMs} = timing()
    this.context.log(`Deleting security group ${groupId}`)
    await poll(
      async () => {
        try {
          await this.aws.ec2.send(new DeleteSecurityGroupCommand({GroupId: groupId}))
          return true
        } catch (err) {
          const code = errorCode(err)
          if (code === 'InvalidGroup.NotFound') return true
          if (code !== 'DependencyViolation')
            throw awsFailure(err, this.failureContext('DeleteSecurityGroup'))
        }
        const users = await this.call('DescribeInstances', async () => {
          const all: Instance[] = []
          const input = {
            Filters: [
              {Name: 'instance.group-id', Values: [groupId]},
              {Name: 'instance-state-name', Values: LIVE_STATES},
            ],
          }
          for await (const page of paginateDescribeInstances({client: this.aws.ec2, pageSize: 100}, input))
            all.push(...(page.Reservations ?? []).flatMap((r) => r.Instances ?? []))
          return all
        })
        const others = users.map((i) => i.InstanceId ?? '').filter((id) => !ours.includes(id))
        if (others.length === 0) return undefined
        this.context.log(`Security group ${groupId} is used by ${others.join(', ')}; left in place`)
        return true
      },
      {
        timeoutMs,
        intervalMs: pollMs,
        retryable: () => false,
        onTimeout: () => {
          throw new BerthError(
            `security group ${groupId} was still in use ${Math.round(timeoutMs / 1000)}s after the instance terminated`,
            ExitCode.timeout,
            '`berth rm -f` again later deletes it',
          )
        },
      },
    )
  }
}
