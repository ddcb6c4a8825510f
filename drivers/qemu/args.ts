/** QEMU's and qemu-img's command lines for a machine (pure: the driver runs them). */
import type {Accelerator, GuestArch} from './accel.js'

/** The machine folder's files, by role. */
export interface QemuPaths {
  disk: string
  seed: string
  qmp: string
  pid: string
  serialLog: string
  /** aarch64 only: the UEFI firmware QEMU ships (edk2-aarch64-code.fd or a distribution's QEMU_EFI.fd). */
  firmware?: string
}

export interface QemuMachine {
  /** The machine's name (letters, digits, dots, dashes), shown in QEMU's process title. */
  name: string
  arch: GuestArch
  accel: Accelerator
  cpus: number
  memoryMb: number
  mac: string
  sshPort: number
  enginePort: number
  /** A second NIC on the store's private network: a multicast socket (GROUP:PORT) on the host's loopback. */
  privateNic?: {mac: string; multicast: string}
}

/** A value inside a QEMU option list: commas are doubled, or a path holding one would split the option. */
export function optionValue(value: string): string {
  return value.replace(/,/g, ',,')
}

/**
 * The argv for a headless, daemonized VM. Disks are virtio: the seed as a CD is invisible to
 * cloud kernels on q35 (no AHCI driver in them) and `virt` has no IDE, and cloud-init without a
 * visible seed disables itself. The serial console goes to a file: cloud images wait on it, and
 * cloud-init prints the SSH host keys there.
 */
export function qemuArgs(m: QemuMachine, paths: QemuPaths, daemonize: boolean): string[] {
  const x86 = m.arch === 'x86_64'
  const forwards = [
    `hostfwd=tcp:127.0.0.1:${m.sshPort}-:22`,
    `hostfwd=tcp:127.0.0.1:${m.enginePort}-:${m.enginePort}`,
  ]
  return [
    '-name',
    `${m.name},process=berth-${m.name}`,
    '-machine',
    x86 ? 'q35' : 'virt',
    '-accel',
    m.accel,
    '-cpu',
    m.accel === 'tcg' ? 'max' : 'host',
    '-smp',
    String(m.cpus),
    '-m',
    String(m.memoryMb),
    ...(x86 ? [] : ['-bios', paths.firmware ?? '']),
    '-nodefaults',
    '-display',
    'none',
    '-vga',
    'none',
    '-drive',
    `file=${optionValue(paths.disk)},if=none,id=disk0,format=qcow2,discard=unmap`,
    '-device',
    'virtio-blk-pci,drive=disk0,bootindex=0',
    '-drive',
    `file=${optionValue(paths.seed)},if=none,id=seed,format=raw,readonly=on`,
    '-device',
    'virtio-blk-pci,drive=seed',
    '-netdev',
    `user,id=net0,${forwards.join(',')}`,
    '-device',
    `virtio-net-pci,netdev=net0,mac=${m.mac}`,
    // localaddr keeps the multicast on the loopback: the segment never reaches the host's LAN.
    ...(m.privateNic
      ? [
          '-netdev',
          `socket,id=net1,mcast=${m.privateNic.multicast},localaddr=127.0.0.1`,
          '-device',
          `virtio-net-pci,netdev=net1,mac=${m.privateNic.mac}`,
        ]
      : []),
    '-device',
    'virtio-rng-pci',
    '-chardev',
    `file,id=serial0,path=${optionValue(paths.serialLog)}`,
    '-serial',
    'chardev:serial0',
    '-qmp',
    `unix:${optionValue(paths.qmp)},server=on,wait=off`,
    '-pidfile',
    paths.pid,
    ...(daemonize ? ['-daemonize'] : []),
  ]
}

/** A qcow2 overlay on the cached image: copy-on-write, so creating it takes milliseconds; its size is the machine's disk. */
export function overlayArgs(
  backing: string,
  backingFormat: string,
  overlay: string,
  sizeMb: number,
): string[] {
  return ['create', '-q', '-f', 'qcow2', '-F', backingFormat, '-b', backing, overlay, `${sizeMb}M`]
}
