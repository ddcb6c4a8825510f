import type {DriverDescriptor} from '../../src/core/drivers/kit.js'
import {DEFAULT_INSTANCE_TYPE, DEFAULT_ROOT_SIZE} from './state.js'

/** What berth shows and checks of the amazonec2 driver before loading its code (and the AWS SDK). */
export const descriptor: DriverDescriptor = {
  name: 'amazonec2',
  description:
    'An Amazon EC2 instance (AWS SDK v3): IMDSv2, encrypted gp3 root, tagged, scoped security group',
  adoptsDockerMachine: true,
  options: [
    {
      name: 'amazonec2-region',
      type: 'string',
      description: "AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's region, us-east-1)",
    },
    {
      name: 'amazonec2-profile',
      type: 'string',
      env: 'AWS_PROFILE',
      description:
        "shared config/credentials profile; credentials come from the SDK's default chain and are never stored",
    },
    {
      name: 'amazonec2-instance-type',
      type: 'string',
      env: 'AWS_INSTANCE_TYPE',
      default: DEFAULT_INSTANCE_TYPE,
      description: 'instance type',
    },
    {
      name: 'amazonec2-os',
      type: 'string',
      default: 'ubuntu',
      description: 'image family for the default AMI: ubuntu (24.04 LTS) or debian (12)',
    },
    {
      name: 'amazonec2-ami',
      type: 'string',
      env: 'AWS_AMI',
      description: 'AMI id (default: the latest image of --amazonec2-os from its SSM public parameter)',
    },
    {
      name: 'amazonec2-vpc-id',
      type: 'string',
      env: 'AWS_VPC_ID',
      description: "VPC (default: the region's default VPC, or the subnet's)",
    },
    {
      name: 'amazonec2-subnet-id',
      type: 'string',
      env: 'AWS_SUBNET_ID',
      description: "subnet (default: the VPC's default subnet in the zone)",
    },
    {
      name: 'amazonec2-zone',
      type: 'string',
      env: 'AWS_ZONE',
      description: 'availability zone, full name (e.g. eu-west-3b); default: any zone with a default subnet',
    },
    {
      name: 'amazonec2-security-group',
      type: 'string',
      env: 'AWS_SECURITY_GROUP',
      multiple: true,
      description:
        'security group name or id (repeatable); an existing group is used as it is, a missing name is created (default: one group for this machine)',
    },
    {
      name: 'amazonec2-open-port',
      type: 'string',
      multiple: true,
      description: 'extra port to open from the allowed CIDRs, PORT[/tcp|udp] (repeatable)',
    },
    {
      name: 'amazonec2-allow-cidr',
      type: 'string',
      env: 'AWS_ALLOW_CIDR',
      multiple: true,
      description:
        "CIDR allowed to reach SSH and the engine (repeatable; default: this computer's public address /32)",
    },
    {
      name: 'amazonec2-root-size',
      type: 'integer',
      env: 'AWS_ROOT_SIZE',
      default: DEFAULT_ROOT_SIZE,
      description: 'root volume size in GiB',
    },
    {
      name: 'amazonec2-volume-type',
      type: 'string',
      env: 'AWS_VOLUME_TYPE',
      default: 'gp3',
      description: 'root volume type (always encrypted)',
    },
    {
      name: 'amazonec2-iam-instance-profile',
      type: 'string',
      env: 'AWS_INSTANCE_PROFILE',
      description: 'IAM instance profile name or ARN',
    },
    {
      name: 'amazonec2-tags',
      type: 'string',
      env: 'AWS_TAGS',
      description: 'extra tags as key1,value1,key2,value2',
    },
    {
      name: 'amazonec2-ssh-user',
      type: 'string',
      env: 'AWS_SSH_USER',
      description: 'SSH user (default: ubuntu, or admin for debian)',
    },
    {
      name: 'amazonec2-keypair-name',
      type: 'string',
      env: 'AWS_KEYPAIR_NAME',
      description:
        'with --amazonec2-ssh-key: an existing key pair to use; alone: the name for the key pair berth imports',
    },
    {
      name: 'amazonec2-ssh-key',
      type: 'string',
      env: 'AWS_SSH_KEYPATH',
      description: 'private key file (default: a new ed25519 key for this machine)',
    },
    {
      name: 'amazonec2-ssh-keypath',
      type: 'string',
      description: "docker-machine's name for --amazonec2-ssh-key",
    },
    {
      name: 'amazonec2-use-private-address',
      type: 'boolean',
      description: 'reach the machine on its private address',
    },
    {
      name: 'amazonec2-private-address-only',
      type: 'boolean',
      description: 'no public address at all (implies --amazonec2-use-private-address)',
    },
    {
      name: 'amazonec2-spot',
      type: 'boolean',
      description: 'a one-time spot instance (InstanceMarketOptions)',
    },
    {
      name: 'amazonec2-request-spot-instance',
      type: 'boolean',
      description: "docker-machine's name for --amazonec2-spot",
    },
    {
      name: 'amazonec2-spot-price',
      type: 'string',
      description: 'highest hourly spot price in USD (default: the on-demand price)',
    },
    {
      name: 'amazonec2-userdata',
      type: 'string',
      env: 'AWS_USERDATA',
      description: 'file with user data (cloud-init) for the instance',
    },
    {
      name: 'amazonec2-access-key',
      type: 'string',
      description: "refused: berth never takes AWS keys on the command line (use the SDK's chain)",
    },
    {
      name: 'amazonec2-secret-key',
      type: 'string',
      description: "refused: berth never takes AWS keys on the command line (use the SDK's chain)",
    },
  ],
}
