import type {DriverDescriptor} from '../../src/core/drivers/kit.js'

/** --qemu-accel's values (the accelerators in drivers/qemu/accel.ts, and auto). */
export const ACCEL_CHOICES = ['auto', 'kvm', 'hvf', 'whpx', 'tcg']

/** What berth shows and checks of the qemu driver before loading its code. */
export const descriptor: DriverDescriptor = {
  name: 'qemu',
  description: 'A local QEMU VM (KVM, HVF, WHPX or TCG) from a cloud image with a cloud-init seed',
  options: [
    {
      name: 'qemu-memory',
      type: 'integer',
      env: 'QEMU_MEMORY_SIZE',
      default: 2048,
      description: 'memory of the VM in MB',
    },
    {
      name: 'qemu-cpu-count',
      type: 'integer',
      env: 'QEMU_CPU_COUNT',
      default: 2,
      description: 'number of CPUs',
    },
    {
      name: 'qemu-disk-size',
      type: 'integer',
      env: 'QEMU_DISK_SIZE',
      default: 20000,
      description: 'disk size in MB (the overlay grows to it; the guest grows its root file system)',
    },
    {
      name: 'qemu-os',
      type: 'string',
      env: 'QEMU_OS',
      default: 'ubuntu',
      description: 'cloud image to use: ubuntu (24.04) or debian (12)',
    },
    {
      name: 'qemu-image-url',
      type: 'string',
      env: 'QEMU_IMAGE_URL',
      description: "cloud image instead of --qemu-os's (qcow2 or raw; http(s):// or file://)",
    },
    {
      name: 'qemu-image-checksum',
      type: 'string',
      env: 'QEMU_IMAGE_CHECKSUM',
      description:
        'sha256:HEX, sha512:HEX or a SHA256SUMS/SHA512SUMS URL (default: the SUMS file beside the image)',
    },
    {
      name: 'qemu-accel',
      type: 'string',
      env: 'QEMU_ACCEL',
      default: 'auto',
      description: `acceleration: ${ACCEL_CHOICES.join(', ')} (auto: the first that runs a vCPU here, else tcg)`,
    },
    {
      name: 'qemu-binary',
      type: 'string',
      env: 'QEMU_BINARY',
      description: 'the qemu-system-* binary (default: from PATH)',
    },
    {
      name: 'qemu-boot-timeout',
      type: 'integer',
      env: 'QEMU_BOOT_TIMEOUT',
      default: 300,
      description: 'seconds a starting VM may take to answer SSH',
    },
    {
      name: 'qemu-stop-timeout',
      type: 'integer',
      env: 'QEMU_STOP_TIMEOUT',
      default: 60,
      description: 'seconds stop waits after the ACPI power button before powering off',
    },
    {
      name: 'qemu-private-network',
      type: 'string',
      env: 'QEMU_PRIVATE_NETWORK',
      description:
        "a private network (CIDR, e.g. 192.168.76.0/24) shared with the store's other QEMU machines on it: a second NIC with a static address, for swarm",
    },
    {
      name: 'qemu-private-ip',
      type: 'string',
      env: 'QEMU_PRIVATE_IP',
      description: "the machine's address on --qemu-private-network (default: the first free one)",
    },
  ],
}
