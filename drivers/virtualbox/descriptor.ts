import type {DriverDescriptor} from '../../src/core/drivers/kit.js'
import {DEFAULT_HOSTONLY_CIDR} from './network.js'

export const DEFAULT_IMAGE_URL =
  'https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.vmdk'
export const NIC_TYPES = ['Am79C970A', 'Am79C973', 'Am79C960', '82540EM', '82543GC', '82545EM', 'virtio']
export const UI_TYPES = ['headless', 'gui', 'sdl', 'separate']

/** What berth shows and checks of the virtualbox driver before loading its code. */
export const descriptor: DriverDescriptor = {
  name: 'virtualbox',
  description: 'A local VirtualBox VM from a cloud image with a cloud-init seed',
  options: [
    {
      name: 'virtualbox-memory',
      type: 'integer',
      env: 'VIRTUALBOX_MEMORY_SIZE',
      default: 2048,
      description: 'memory of the VM in MB',
    },
    {
      name: 'virtualbox-cpu-count',
      type: 'integer',
      env: 'VIRTUALBOX_CPU_COUNT',
      default: 2,
      description: 'number of CPUs',
    },
    {
      name: 'virtualbox-disk-size',
      type: 'integer',
      env: 'VIRTUALBOX_DISK_SIZE',
      default: 20000,
      description: 'disk size in MB',
    },
    {
      name: 'virtualbox-image-url',
      type: 'string',
      env: 'VIRTUALBOX_IMAGE_URL',
      default: DEFAULT_IMAGE_URL,
      description: 'cloud image (vmdk, vdi, vhd, qcow2 or raw; http(s):// or file://)',
    },
    {
      name: 'virtualbox-image-checksum',
      type: 'string',
      env: 'VIRTUALBOX_IMAGE_CHECKSUM',
      description:
        'sha256:HEX, sha512:HEX or a SHA256SUMS/SHA512SUMS URL (default: SHA256SUMS beside the image)',
    },
    {
      name: 'virtualbox-hostonly-cidr',
      type: 'string',
      env: 'VIRTUALBOX_HOSTONLY_CIDR',
      default: DEFAULT_HOSTONLY_CIDR,
      description: 'host address and prefix of the host-only network',
    },
    {
      name: 'virtualbox-no-hostonly',
      type: 'boolean',
      env: 'VIRTUALBOX_NO_HOSTONLY',
      description: 'no host-only NIC: the engine is forwarded to 127.0.0.1',
    },
    {
      name: 'virtualbox-hostonly-style',
      type: 'string',
      env: 'VIRTUALBOX_HOSTONLY_STYLE',
      default: 'auto',
      description: 'interface (hostonlyif), network (VirtualBox 7 hostonlynet) or auto',
    },
    {
      name: 'virtualbox-nat-nictype',
      type: 'string',
      env: 'VIRTUALBOX_NAT_NICTYPE',
      default: 'virtio',
      description: `type of the NAT and host-only NICs (${NIC_TYPES.join(', ')})`,
    },
    {
      name: 'virtualbox-share-folder',
      type: 'string',
      env: 'VIRTUALBOX_SHARE_FOLDER',
      description: 'host folder shared with the VM, DIR or DIR:NAME (mounting it needs the Guest Additions)',
    },
    {
      name: 'virtualbox-ui-type',
      type: 'string',
      env: 'VIRTUALBOX_UI_TYPE',
      default: 'headless',
      description: `how the VM is shown (${UI_TYPES.join(', ')})`,
    },
    {
      name: 'virtualbox-boot-timeout',
      type: 'integer',
      env: 'VIRTUALBOX_BOOT_TIMEOUT',
      default: 300,
      description: 'seconds a starting VM may take to report its address',
    },
    {
      name: 'virtualbox-stop-timeout',
      type: 'integer',
      env: 'VIRTUALBOX_STOP_TIMEOUT',
      default: 60,
      description: 'seconds stop waits after the ACPI power button before powering off',
    },
  ],
}
