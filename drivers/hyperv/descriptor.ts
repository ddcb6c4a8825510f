import type {DriverDescriptor} from '../../src/core/drivers/kit.js'

/** Debian 12's generic cloud image is a raw disk (what the VHD footer needs) and boots on UEFI with Hyper-V drivers. */
export const DEFAULT_IMAGE_URL =
  'https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.raw'

/** What berth shows and checks of the hyperv driver before loading its code. */
export const descriptor: DriverDescriptor = {
  name: 'hyperv',
  description: 'A Hyper-V VM on this Windows host, from a cloud image and a cloud-init seed',
  options: [
    {
      name: 'hyperv-virtual-switch',
      type: 'string',
      env: 'HYPERV_VIRTUAL_SWITCH',
      description: 'virtual switch for the VM (default: the first External switch, else the Default Switch)',
    },
    {
      name: 'hyperv-memory',
      type: 'integer',
      env: 'HYPERV_MEMORY',
      default: 2048,
      description: 'memory in MB',
    },
    {
      name: 'hyperv-cpu-count',
      type: 'integer',
      env: 'HYPERV_CPU_COUNT',
      default: 2,
      description: 'virtual CPUs',
    },
    {
      name: 'hyperv-disk-size',
      type: 'integer',
      env: 'HYPERV_DISK_SIZE',
      default: 20000,
      description: 'disk size in MB',
    },
    {
      name: 'hyperv-image-url',
      type: 'string',
      env: 'HYPERV_IMAGE_URL',
      default: DEFAULT_IMAGE_URL,
      description: 'raw cloud image (http(s):// or file://), cached by URL',
    },
    {
      name: 'hyperv-image-checksum',
      type: 'string',
      env: 'HYPERV_IMAGE_CHECKSUM',
      description:
        "sha256:HEX, sha512:HEX or the URL of a SHA256SUMS/SHA512SUMS file (default: Debian's SHA512SUMS for the default image, else SHA256SUMS beside the image)",
    },
    {
      name: 'hyperv-static-macaddress',
      type: 'string',
      env: 'HYPERV_STATIC_MACADDRESS',
      identifiesOneMachine: true,
      description: "MAC address of the VM's network adapter (default: a random locally administered one)",
    },
    {
      name: 'hyperv-vlan-id',
      type: 'integer',
      env: 'HYPERV_VLAN_ID',
      description: 'VLAN id of the network adapter (access mode)',
    },
    {
      name: 'hyperv-disable-dynamic-memory',
      type: 'boolean',
      env: 'HYPERV_DISABLE_DYNAMIC_MEMORY',
      default: false,
      description: 'give the VM all its memory up front',
    },
    {
      name: 'hyperv-ip-timeout',
      type: 'integer',
      env: 'HYPERV_IP_TIMEOUT',
      default: 300,
      description: "seconds to wait for the VM's IP address after it starts",
    },
  ],
}
