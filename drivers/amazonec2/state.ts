import {BerthError, ExitCode} from '../../src/core/drivers/kit.js'
import type {BaseDriverState} from '../../src/core/drivers/kit.js'

export const DEFAULT_INSTANCE_TYPE = 't3.micro'
export const DEFAULT_ROOT_SIZE = 16
export const OPERATING_SYSTEMS = ['ubuntu', 'debian'] as const
export const VOLUME_TYPES = ['gp3', 'gp2', 'io1', 'io2', 'st1', 'sc1', 'standard'] as const

/** Tag keys berth puts on everything it makes; the machine id finds a crashed create's leftovers. */
export const TAG_MACHINE = 'berth:machine'
export const TAG_MACHINE_ID = 'berth:machine-id'

export interface OpenPort {
  port: number
  protocol: 'tcp' | 'udp'
}

/** The driver's part of the machine record. Never credentials: only the profile's name. */
export interface Ec2State extends BaseDriverState {
  Region: string
  Profile: string
  /** Random, per machine: in tags and names so leftovers are found and never confused with another store's. */
  MachineId: string
  InstanceType: string
  OS: string
  AMI: string
  RootDeviceName: string
  VpcId: string
  SubnetId: string
  Zone: string
  /** As the user named them (names or ids). */
  SecurityGroups: string[]
  /** All groups the instance gets. */
  SecurityGroupIds: string[]
  /** The ones berth made, deleted by rm. */
  CreatedSecurityGroupIds: string[]
  OpenPorts: OpenPort[]
  AllowCidrs: string[]
  RootSize: number
  VolumeType: string
  IamInstanceProfile: string
  Tags: Record<string, string>
  KeyPairName: string
  KeyPairCreated: boolean
  /** --amazonec2-keypair-name with --amazonec2-ssh-key: the key pair is the user's, never imported or deleted. */
  UseExistingKeyPair: boolean
  SourceSSHKeyPath: string
  UsePrivateAddress: boolean
  PrivateAddressOnly: boolean
  Spot: boolean
  SpotPrice: string
  UserDataPath: string
  InstanceId: string
  SpotInstanceRequestId: string
  /** Tag keys set through update-labels, so a label dropped later has its tag deleted. */
  LabelTagKeys: string[]
}

/** The name of the key pair and the security group berth makes for a machine. */
export function ownResourceName(machineName: string, machineId: string): string {
  return `berth-${machineName}-${machineId}`
}

export function defaultSshUser(os: string, ami: string | undefined): string {
  // A custom AMI's user is unknown; ubuntu is docker-machine's default.
  return os === 'debian' && !ami ? 'admin' : 'ubuntu'
}

export function parseOpenPort(value: string): OpenPort {
  const match = /^(\d{1,5})(?:\/(tcp|udp))?$/.exec(value)
  const port = Number(match?.[1])
  if (!match || port < 1 || port > 65535) {
    throw new BerthError(
      `--amazonec2-open-port ${JSON.stringify(value)}: expected PORT or PORT/tcp or PORT/udp`,
      ExitCode.usage,
    )
  }
  return {port, protocol: (match[2] ?? 'tcp') as OpenPort['protocol']}
}

/** docker-machine's format: key1,value1,key2,value2. */
export function parseTags(value: string | undefined): Record<string, string> {
  if (!value) return {}
  const parts = value.split(',')
  if (parts.length % 2 !== 0)
    throw new BerthError(
      `--amazonec2-tags ${JSON.stringify(value)}: expected key1,value1,key2,value2`,
      ExitCode.usage,
    )
  const tags: Record<string, string> = {}
  for (let i = 0; i < parts.length; i += 2) {
    const key = parts[i]!.trim()
    if (!key || key.toLowerCase().startsWith('aws:') || key.startsWith('berth:')) {
      throw new BerthError(
        `--amazonec2-tags: tag key ${JSON.stringify(key)} is empty or reserved (aws:, berth:)`,
        ExitCode.usage,
      )
    }
    tags[key] = parts[i + 1]!.trim()
  }
  return tags
}

/** Tags for every resource of the machine: Name, berth's ownership tags, then the user's. */
export function machineTags(state: Ec2State): {Key: string; Value: string}[] {
  const tags: Record<string, string> = {
    Name: state.MachineName,
    ...state.Tags,
    [TAG_MACHINE]: state.MachineName,
    [TAG_MACHINE_ID]: state.MachineId,
  }
  return Object.entries(tags).map(([Key, Value]) => ({Key, Value}))
}
