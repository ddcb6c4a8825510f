import {randomBytes} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {isIP} from 'node:net'
import {resolve} from 'node:path'
import ssh2 from 'ssh2'
import type {Driver, DriverContext, DriverOption, DriverPlugin, MachineState, OptionValues, SshAddress} from '../../src/core/drivers/contract.js'
import {baseState} from '../../src/core/drivers/contract.js'
import {BerthError, ExitCode, oneLine} from '../../src/core/errors.js'
import type {BaseDriverState} from '../../src/core/store/record.js'
import {ec2FromDockerMachine} from './adopt.js'
import {DEFAULT_INSTANCE_TYPE, DEFAULT_ROOT_SIZE, defaultSshUser, OPERATING_SYSTEMS, ownResourceName, parseOpenPort, parseTags, VOLUME_TYPES, type Ec2State} from './state.js'

const PREFIX = 'amazonec2-'

export const amazonEc2Options: DriverOption[] = [
  {name: 'amazonec2-region', type: 'string', description: 'AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile\'s region, us-east-1)'},
  {name: 'amazonec2-profile', type: 'string', env: 'AWS_PROFILE', description: 'shared config/credentials profile; credentials come from the SDK\'s default chain and are never stored'},
  {name: 'amazonec2-instance-type', type: 'string', env: 'AWS_INSTANCE_TYPE', default: DEFAULT_INSTANCE_TYPE, description: 'instance type'},
  {name: 'amazonec2-os', type: 'string', default: 'ubuntu', description: 'image family for the default AMI: ubuntu (24.04 LTS) or debian (12)'},
  {name: 'amazonec2-ami', type: 'string', env: 'AWS_AMI', description: 'AMI id (default: the latest image of --amazonec2-os from its SSM public parameter)'},
  {name: 'amazonec2-vpc-id', type: 'string', env: 'AWS_VPC_ID', description: 'VPC (default: the region\'s default VPC, or the subnet\'s)'},
  {name: 'amazonec2-subnet-id', type: 'string', env: 'AWS_SUBNET_ID', description: 'subnet (default: the VPC\'s default subnet in the zone)'},
  {name: 'amazonec2-zone', type: 'string', env: 'AWS_ZONE', description: 'availability zone, full name (e.g. eu-west-3b); default: any zone with a default subnet'},
  {name: 'amazonec2-security-group', type: 'string', env: 'AWS_SECURITY_GROUP', multiple: true, description: 'security group name or id (repeatable); an existing group is used as it is, a missing name is created (default: one group for this machine)'},
  {name: 'amazonec2-open-port', type: 'string', multiple: true, description: 'extra port to open from the allowed CIDRs, PORT[/tcp|udp] (repeatable)'},
  {name: 'amazonec2-allow-cidr', type: 'string', env: 'AWS_ALLOW_CIDR', multiple: true, description: 'CIDR allowed to reach SSH and the engine (repeatable; default: this computer\'s public address /32)'},
  {name: 'amazonec2-root-size', type: 'integer', env: 'AWS_ROOT_SIZE', default: DEFAULT_ROOT_SIZE, description: 'root volume size in GiB'},
  {name: 'amazonec2-volume-type', type: 'string', env: 'AWS_VOLUME_TYPE', default: 'gp3', description: 'root volume type (always encrypted)'},
  {name: 'amazonec2-iam-instance-profile', type: 'string', env: 'AWS_INSTANCE_PROFILE', description: 'IAM instance profile name or ARN'},
  {name: 'amazonec2-tags', type: 'string', env: 'AWS_TAGS', description: 'extra tags as key1,value1,key2,value2'},
  {name: 'amazonec2-ssh-user', type: 'string', env: 'AWS_SSH_USER', description: 'SSH user (default: ubuntu, or admin for debian)'},
  {name: 'amazonec2-keypair-name', type: 'string', env: 'AWS_KEYPAIR_NAME', description: 'with --amazonec2-ssh-key: an existing key pair to use; alone: the name for the key pair berth imports'},
  {name: 'amazonec2-ssh-key', type: 'string', env: 'AWS_SSH_KEYPATH', description: 'private key file (default: a new ed25519 key for this machine)'},
  {name: 'amazonec2-ssh-keypath', type: 'string', description: 'docker-machine\'s name for --amazonec2-ssh-key'},
  {name: 'amazonec2-use-private-address', type: 'boolean', description: 'reach the machine on its private address'},
  {name: 'amazonec2-private-address-only', type: 'boolean', description: 'no public address at all (implies --amazonec2-use-private-address)'},
  {name: 'amazonec2-spot', type: 'boolean', description: 'a one-time spot instance (InstanceMarketOptions)'},
  {name: 'amazonec2-request-spot-instance', type: 'boolean', description: 'docker-machine\'s name for --amazonec2-spot'},
  {name: 'amazonec2-spot-price', type: 'string', description: 'highest hourly spot price in USD (default: the on-demand price)'},
  {name: 'amazonec2-userdata', type: 'string', env: 'AWS_USERDATA', description: 'file with user data (cloud-init) for the instance'},
  {name: 'amazonec2-access-key', type: 'string', description: 'refused: berth never takes AWS keys on the command line (use the SDK\'s chain)'},
  {name: 'amazonec2-secret-key', type: 'string', description: 'refused: berth never takes AWS keys on the command line (use the SDK\'s chain)'},
]

function text(values: OptionValues, name: string): string | undefined {
  const value = values[PREFIX + name]
  return typeof value === 'string' && value !== '' ? value : undefined
}

function list(values: OptionValues, name: string): string[] {
  const value = values[PREFIX + name]
  if (Array.isArray(value)) return value.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean)
  return typeof value === 'string' && value !== '' ? value.split(',').map((v) => v.trim()).filter(Boolean) : []
}

function usage(message: string, hint?: string): BerthError {
  return new BerthError(message, ExitCode.usage, hint)
}

function validCidr(cidr: string): boolean {
  const [address, bits, extra] = cidr.split('/')
  if (extra !== undefined || !address || bits === undefined || !/^\d+$/.test(bits)) return false
  const family = isIP(address)
  return family !== 0 && Number(bits) <= (family === 4 ? 32 : 128)
}

/** Validates every option (touching no AWS API) and returns the machine's initial driver state. */
export async function configureEc2(values: OptionValues, context: DriverContext): Promise<Ec2State> {
  if (text(values, 'access-key') || text(values, 'secret-key')) {
    throw usage('berth takes no AWS keys on the command line (they would sit in process lists and shell history)',
      'use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile (--amazonec2-profile) or an instance role')
  }
  const os = text(values, 'os') ?? 'ubuntu'
  if (!OPERATING_SYSTEMS.includes(os as never)) throw usage(`--amazonec2-os ${JSON.stringify(os)}: expected ${OPERATING_SYSTEMS.join(' or ')}`)
  const volumeType = text(values, 'volume-type') ?? 'gp3'
  if (!VOLUME_TYPES.includes(volumeType as never)) throw usage(`--amazonec2-volume-type ${JSON.stringify(volumeType)}: expected one of ${VOLUME_TYPES.join(', ')}`)
  const rootSize = Number(values[PREFIX + 'root-size'] ?? DEFAULT_ROOT_SIZE)
  if (!Number.isInteger(rootSize) || rootSize < 1 || rootSize > 16384) throw usage(`--amazonec2-root-size ${rootSize}: expected GiB between 1 and 16384`)
  const allowCidrs = list(values, 'allow-cidr')
  for (const cidr of allowCidrs) if (!validCidr(cidr)) throw usage(`--amazonec2-allow-cidr ${JSON.stringify(cidr)} is not a CIDR like 203.0.113.7/32`)
  const openPorts = list(values, 'open-port').map(parseOpenPort)
  const tags = parseTags(text(values, 'tags'))
  for (const [name, prefix] of [['ami', 'ami'], ['vpc-id', 'vpc'], ['subnet-id', 'subnet']] as const) {
    const value = text(values, name)
    if (value && !new RegExp(`^${prefix}-[0-9a-f]+$`).test(value)) throw usage(`--amazonec2-${name} ${JSON.stringify(value)} is not an id like ${prefix}-0abc123`)
  }
  const zone = text(values, 'zone')
  if (zone && !/^[a-z]{2}(-[a-z]+)+-\d+[a-z]$/.test(zone)) {
    throw usage(`--amazonec2-zone ${JSON.stringify(zone)} is not a zone name like eu-west-3b`, 'give the full zone name, region included')
  }
  const privateOnly = values[PREFIX + 'private-address-only'] === true
  const spotPrice = text(values, 'spot-price')
  if (spotPrice && !/^\d+(\.\d+)?$/.test(spotPrice)) throw usage(`--amazonec2-spot-price ${JSON.stringify(spotPrice)} is not a price like 0.05`)

  const userDataPath = text(values, 'userdata')
  if (userDataPath) {
    await readFile(userDataPath).catch((err) => {
      throw usage(`--amazonec2-userdata: cannot read ${userDataPath}: ${oneLine(err)}`)
    })
  }
  const sshKey = text(values, 'ssh-key') ?? text(values, 'ssh-keypath')
  let sourceKey: string | undefined
  if (sshKey) {
    sourceKey = resolve(sshKey)
    const parsed = ssh2.utils.parseKey(await readFile(sourceKey).catch((err) => {
      throw usage(`--amazonec2-ssh-key: cannot read ${sourceKey}: ${oneLine(err)}`)
    }))
    if (parsed instanceof Error) throw usage(`--amazonec2-ssh-key ${sourceKey}: ${parsed.message}`)
  }
  const keyPairName = text(values, 'keypair-name')
  if (keyPairName && !/^[\x20-\x7e]{1,255}$/.test(keyPairName)) throw usage('--amazonec2-keypair-name must be 1 to 255 printable ASCII characters')

  const region = text(values, 'region') ?? (await defaultRegion(text(values, 'profile')))
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) throw usage(`region ${JSON.stringify(region)} is not a region name like eu-west-3`)
  if (zone && !zone.startsWith(region)) throw usage(`--amazonec2-zone ${zone} is not in region ${region}`)

  const machineId = randomBytes(4).toString('hex')
  const state: Ec2State = {
    ...baseState(context, {SSHUser: text(values, 'ssh-user') ?? defaultSshUser(os, text(values, 'ami'))}),
    Region: region,
    Profile: text(values, 'profile') ?? '',
    MachineId: machineId,
    InstanceType: text(values, 'instance-type') ?? DEFAULT_INSTANCE_TYPE,
    OS: os,
    AMI: text(values, 'ami') ?? '',
    RootDeviceName: '',
    VpcId: text(values, 'vpc-id') ?? '',
    SubnetId: text(values, 'subnet-id') ?? '',
    Zone: zone ?? '',
    SecurityGroups: list(values, 'security-group'),
    SecurityGroupIds: [],
    CreatedSecurityGroupIds: [],
    OpenPorts: openPorts,
    AllowCidrs: allowCidrs,
    RootSize: rootSize,
    VolumeType: volumeType,
    IamInstanceProfile: text(values, 'iam-instance-profile') ?? '',
    Tags: tags,
    KeyPairName: keyPairName ?? ownResourceName(context.machineName, machineId),
    KeyPairCreated: false,
    UseExistingKeyPair: Boolean(keyPairName && sourceKey),
    SourceSSHKeyPath: sourceKey ?? '',
    UsePrivateAddress: privateOnly || values[PREFIX + 'use-private-address'] === true,
    PrivateAddressOnly: privateOnly,
    Spot: values[PREFIX + 'spot'] === true || values[PREFIX + 'request-spot-instance'] === true,
    SpotPrice: spotPrice ?? '',
    UserDataPath: userDataPath ? resolve(userDataPath) : '',
    InstanceId: '',
    SpotInstanceRequestId: '',
    LabelTagKeys: [],
  }
  return state
}

/** Region from the environment or the profile, as the AWS CLI resolves it; us-east-1 as docker-machine did. */
async function defaultRegion(profile: string | undefined): Promise<string> {
  const fromEnv = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION
  if (fromEnv) return fromEnv
  const {profileRegion} = await import('./aws.js')
  return (await profileRegion(profile)) ?? 'us-east-1'
}

type Ec2Driver = import('./driver.js').Ec2Driver

/**
 * Loading the AWS SDK more than doubles a command's start time and memory (BENCHMARKS.md): the
 * driver module is imported on first use, so commands that never call AWS do not pay for it.
 */
class LazyEc2Driver implements Driver {
  private loaded?: Promise<Ec2Driver>

  constructor(
    readonly state: Ec2State,
    private readonly context: DriverContext,
  ) {}

  private driver(): Promise<Ec2Driver> {
    this.loaded ??= import('./driver.js').then(({Ec2Driver}) => new Ec2Driver(this.state, this.context))
    return this.loaded
  }

  async preCreateCheck(): Promise<void> {
    return (await this.driver()).preCreateCheck()
  }

  async create(): Promise<void> {
    return (await this.driver()).create()
  }

  async start(): Promise<void> {
    return (await this.driver()).start()
  }

  async stop(): Promise<void> {
    return (await this.driver()).stop()
  }

  async restart(): Promise<void> {
    return (await this.driver()).restart()
  }

  async kill(): Promise<void> {
    return (await this.driver()).kill()
  }

  async remove(): Promise<void> {
    return (await this.driver()).remove()
  }

  async getState(): Promise<MachineState> {
    return (await this.driver()).getState()
  }

  async getIP(): Promise<string> {
    return (await this.driver()).getIP()
  }

  async getSSHAddress(): Promise<SshAddress> {
    if (this.state.IPAddress) return {host: this.state.IPAddress, port: this.state.SSHPort, user: this.state.SSHUser, keyPath: this.state.SSHKeyPath}
    return (await this.driver()).getSSHAddress()
  }

  async updateLabels(labels: Record<string, string>): Promise<void> {
    return (await this.driver()).updateLabels(labels)
  }
}

export const amazonEc2Driver: DriverPlugin = {
  name: 'amazonec2',
  description: 'An Amazon EC2 instance (AWS SDK v3): IMDSv2, encrypted gp3 root, tagged, scoped security group',
  options: amazonEc2Options,
  configure: configureEc2,
  load(state: BaseDriverState, context: DriverContext): Driver {
    return new LazyEc2Driver(state as Ec2State, context)
  },
  fromDockerMachine: ec2FromDockerMachine,
}
