/**
 * docker-machine's amazonec2 driver state (its Go struct's field names, as config.json holds them)
 * mapped onto berth's. What berth owns afterwards, and so what `rm` deletes:
 * - the instance (terminated, as docker-machine's rm did);
 * - the key pair when docker-machine imported it (ExistingKey false: named after the machine),
 *   as docker-machine's rm deleted it; one the user named with --amazonec2-keypair-name stays;
 * - never a security group: docker-machine's default group "docker-machine" is shared by every
 *   machine it made in the VPC (a whole GitLab Runner fleet), and its rm left groups alone too.
 * AWS keys docker-machine kept in the record are never carried over.
 */
import {randomBytes} from 'node:crypto'
import {BerthError, ExitCode} from '../../src/core/drivers/kit.js'
import type {AdoptedDriver} from '../../src/core/drivers/kit.js'
import {
  DEFAULT_INSTANCE_TYPE,
  DEFAULT_ROOT_SIZE,
  parseOpenPort,
  parseTags,
  type Ec2State,
  type OpenPort,
} from './state.js'

/** The fields of docker-machine's amazonec2 Driver struct that berth reads (BaseDriver's are flattened in). */
interface DockerMachineEc2 {
  IPAddress?: string
  MachineName?: string
  SSHUser?: string
  SSHPort?: number
  SSHKeyPath?: string
  AccessKey?: string
  SecretKey?: string
  SessionToken?: string
  Endpoint?: string
  Region?: string
  AMI?: string
  InstanceId?: string
  InstanceType?: string
  PrivateIPAddress?: string
  KeyName?: string
  ExistingKey?: boolean
  SecurityGroupId?: string
  SecurityGroupIds?: string[] | null
  SecurityGroupName?: string
  SecurityGroupNames?: string[] | null
  OpenPorts?: string[] | null
  Tags?: string
  DeviceName?: string
  RootSize?: number
  VolumeType?: string
  IamInstanceProfile?: string
  VpcId?: string
  SubnetId?: string
  Zone?: string
  RequestSpotInstance?: boolean
  SpotPrice?: string
  PrivateIPOnly?: boolean
  UsePrivateIP?: boolean
}

const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/

function strings(list: string[] | null | undefined, single: string | undefined): string[] {
  // docker-machine kept the single-value field from before 2016 next to the list.
  const all = [...(list ?? []), ...(single ? [single] : [])].filter((v) => typeof v === 'string' && v !== '')
  return [...new Set(all)]
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : ''
}

export function ec2FromDockerMachine(
  source: Record<string, unknown>,
  machineName: string,
): AdoptedDriver<Ec2State> {
  const dm = source as DockerMachineEc2
  const notImported = (why: string) =>
    new BerthError(`machine "${machineName}": ${why}; not imported`, ExitCode.usage)
  const instanceId = text(dm.InstanceId)
  if (!/^i-[0-9a-f]+$/.test(instanceId))
    throw notImported(
      "its amazonec2 record has no instance id (docker-machine's create did not get that far)",
    )
  const region = text(dm.Region)
  if (!REGION.test(region))
    throw notImported(`its amazonec2 record has no region like eu-west-3 (${JSON.stringify(region)})`)

  const notes: string[] = []
  if (text(dm.AccessKey) || text(dm.SecretKey) || text(dm.SessionToken)) {
    notes.push(
      `${machineName}: the AWS keys in docker-machine's record are not carried over; berth uses the SDK's default chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO, an instance role)`,
    )
  }
  if (text(dm.Endpoint))
    notes.push(
      `${machineName}: docker-machine's --amazonec2-endpoint is not carried over; set AWS_ENDPOINT_URL_EC2 for it`,
    )

  // docker-machine stored the zone's letter and joined it to the region (unless it had an endpoint).
  const zone = text(dm.Zone)
  const fullZone = /^[a-z]$/.test(zone) ? `${region}${zone}` : zone.startsWith(region) ? zone : ''
  let tags: Record<string, string> = {}
  try {
    tags = parseTags(text(dm.Tags))
  } catch {
    // Tags only matter to a create, which an imported machine never runs again.
  }
  const openPorts: OpenPort[] = []
  for (const port of dm.OpenPorts ?? []) {
    try {
      openPorts.push(parseOpenPort(port))
    } catch {
      // as above: descriptive only
    }
  }
  const keyPairName = text(dm.KeyName)
  const existingKey = dm.ExistingKey === true
  const privateOnly = dm.PrivateIPOnly === true
  const state: Ec2State = {
    IPAddress: text(dm.IPAddress),
    MachineName: machineName,
    SSHUser: text(dm.SSHUser) || 'ubuntu',
    SSHPort: Number(dm.SSHPort) || 22,
    SSHKeyPath: text(dm.SSHKeyPath), // rewritten into berth's store by the import
    StorePath: '',
    Region: region,
    Profile: '',
    // Nothing in AWS carries this id: rm's search by berth's tags finds nothing, and only the state counts.
    MachineId: randomBytes(4).toString('hex'),
    InstanceType: text(dm.InstanceType) || DEFAULT_INSTANCE_TYPE,
    OS: '',
    AMI: text(dm.AMI),
    RootDeviceName: text(dm.DeviceName),
    VpcId: text(dm.VpcId),
    SubnetId: text(dm.SubnetId),
    Zone: fullZone,
    SecurityGroups: strings(dm.SecurityGroupNames, dm.SecurityGroupName),
    SecurityGroupIds: strings(dm.SecurityGroupIds, dm.SecurityGroupId),
    CreatedSecurityGroupIds: [],
    OpenPorts: openPorts,
    AllowCidrs: [],
    RootSize: Number(dm.RootSize) || DEFAULT_ROOT_SIZE,
    VolumeType: text(dm.VolumeType),
    IamInstanceProfile: text(dm.IamInstanceProfile),
    Tags: tags,
    KeyPairName: keyPairName,
    KeyPairCreated: keyPairName !== '' && !existingKey,
    UseExistingKeyPair: existingKey,
    SourceSSHKeyPath: '',
    UsePrivateAddress: privateOnly || dm.UsePrivateIP === true,
    PrivateAddressOnly: privateOnly,
    Spot: dm.RequestSpotInstance === true,
    SpotPrice: text(dm.SpotPrice),
    UserDataPath: '',
    InstanceId: instanceId,
    // docker-machine never saved it; its one-time request closes when the instance terminates.
    SpotInstanceRequestId: '',
    LabelTagKeys: [],
  }
  return {state, notes}
}
