import {randomBytes} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {isIP} from 'node:net'
import {resolve} from 'node:path'
import ssh2 from 'ssh2'
import {baseState, BerthError, ExitCode, oneLine} from '../../src/core/drivers/kit.js'
import type {Driver, DriverContext, DriverPlugin, OptionValues} from '../../src/core/drivers/kit.js'
import {ec2FromDockerMachine} from './adopt.js'
import {profileRegion} from './aws.js'
import {descriptor} from './descriptor.js'
import {Ec2Driver} from './driver.js'
import {
  DEFAULT_INSTANCE_TYPE,
  DEFAULT_ROOT_SIZE,
  defaultSshUser,
  OPERATING_SYSTEMS,
  ownResourceName,
  parseOpenPort,
  parseTags,
  VOLUME_TYPES,
  type Ec2State,
} from './state.js'

const PREFIX = 'amazonec2-'

function text(values: OptionValues, name: string): string | undefined {
  const value = values[PREFIX + name]
  return typeof value === 'string' && value !== '' ? value : undefined
}

function list(values: OptionValues, name: string): string[] {
  const value = values[PREFIX + name]
  if (Array.isArray(value))
    return value
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter(Boolean)
  return typeof value === 'string' && value !== ''
    ? value
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean)
    : []
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
    throw usage(
      'berth takes no AWS keys on the command line (they would sit in process lists and shell history)',
      'use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile (--amazonec2-profile) or an instance role',
    )
  }
  const os = text(values, 'os') ?? 'ubuntu'
  if (!OPERATING_SYSTEMS.includes(os as never))
    throw usage(`--amazonec2-os ${JSON.stringify(os)}: expected ${OPERATING_SYSTEMS.join(' or ')}`)
  const volumeType = text(values, 'volume-type') ?? 'gp3'
  if (!VOLUME_TYPES.includes(volumeType as never))
    throw usage(
      `--amazonec2-volume-type ${JSON.stringify(volumeType)}: expected one of ${VOLUME_TYPES.join(', ')}`,
    )
  const rootSize = Number(values[PREFIX + 'root-size'] ?? DEFAULT_ROOT_SIZE)
  if (!Number.isInteger(rootSize) || rootSize < 1 || rootSize > 16384)
    throw usage(`--amazonec2-root-size ${rootSize}: expected GiB between 1 and 16384`)
  const allowCidrs = list(values, 'allow-cidr')
  for (const cidr of allowCidrs)
    if (!validCidr(cidr))
      throw usage(`--amazonec2-allow-cidr ${JSON.stringify(cidr)} is not a CIDR like 203.0.113.7/32`)
  const openPorts = list(values, 'open-port').map(parseOpenPort)
  const tags = parseTags(text(values, 'tags'))
  for (const [name, prefix] of [
    ['ami', 'ami'],
    ['vpc-id', 'vpc'],
    ['subnet-id', 'subnet'],
  ] as const) {
    const value = text(values, name)
    if (value && !new RegExp(`^${prefix}-[0-9a-f]+$`).test(value))
      throw usage(`--amazonec2-${name} ${JSON.stringify(value)} is not an id like ${prefix}-0abc123`)
  }
  const zone = text(values, 'zone')
  if (zone && !/^[a-z]{2}(-[a-z]+)+-\d+[a-z]$/.test(zone)) {
    throw usage(
      `--amazonec2-zone ${JSON.stringify(zone)} is not a zone name like eu-west-3b`,
      'give the full zone name, region included',
    )
  }
  const privateOnly = values[PREFIX + 'private-address-only'] === true
  const spotPrice = text(values, 'spot-price')
  if (spotPrice && !/^\d+(\.\d+)?$/.test(spotPrice))
    throw usage(`--amazonec2-spot-price ${JSON.stringify(spotPrice)} is not a price like 0.05`)

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
    const parsed = ssh2.utils.parseKey(
      await readFile(sourceKey).catch((err) => {
        throw usage(`--amazonec2-ssh-key: cannot read ${sourceKey}: ${oneLine(err)}`)
      }),
    )
    if (parsed instanceof Error) throw usage(`--amazonec2-ssh-key ${sourceKey}: ${parsed.message}`)
  }
  const keyPairName = text(values, 'keypair-name')
  if (keyPairName && !/^[\x20-\x7e]{1,255}$/.test(keyPairName))
    throw usage('--amazonec2-keypair-name must be 1 to 255 printable ASCII characters')

  const region = text(values, 'region') ?? (await defaultRegion(text(values, 'profile')))
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region))
    throw usage(`region ${JSON.stringify(region)} is not a region name like eu-west-3`)
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
  return (await profileRegion(profile)) ?? 'us-east-1'
}

export const amazonEc2Driver: DriverPlugin<Ec2State> = {
  ...descriptor,
  configure: configureEc2,
  load(state: Ec2State, context: DriverContext): Driver {
    return new Ec2Driver(state, context)
  },
  fromDockerMachine: ec2FromDockerMachine,
}
