/**
 * Choosing QEMU's accelerator. A hypervisor that is present is not one that works: /dev/kvm can
 * open and KVM_CREATE_VM succeed while no vCPU ever makes progress (the lab's machines), so an
 * accelerator counts only when a vCPU really ran under it: QEMU boots a 64 KiB firmware image
 * that writes one byte to the serial port, and the byte must arrive.
 */
import {spawn} from 'node:child_process'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

export const ACCELERATORS = ['kvm', 'hvf', 'whpx', 'tcg'] as const
export type Accelerator = (typeof ACCELERATORS)[number]
export type GuestArch = 'x86_64' | 'aarch64'

/** The accelerators to try on a host, best first; TCG (emulation) always works and comes last. */
export function candidateAccelerators(platform: NodeJS.Platform): Accelerator[] {
  if (platform === 'linux') return ['kvm', 'tcg']
  if (platform === 'darwin') return ['hvf', 'tcg']
  if (platform === 'win32') return ['whpx', 'tcg']
  return ['tcg']
}

const PROBE_BYTE = 0x4b // 'K'

/**
 * A firmware image whose first instruction writes PROBE_BYTE to the serial port and then spins.
 * x86: real mode from the reset vector F000:FFF0 (the image's last 16 bytes), `mov dx,0x3f8;
 * mov al,'K'; out dx,al; hlt; jmp $-1`. aarch64 `virt`: the flash at 0 runs first, the PL011 UART
 * sits at 0x09000000: `movz x0,#0x900,lsl #16; movz w1,#'K'; strb w1,[x0]; b .`.
 */
export function probeFirmware(arch: GuestArch): Buffer {
  const image = Buffer.alloc(64 * 1024)
  if (arch === 'x86_64') {
    Buffer.from([0xba, 0xf8, 0x03, 0xb0, PROBE_BYTE, 0xee, 0xf4, 0xeb, 0xfd]).copy(image, image.length - 16)
  } else {
    const code = [0xd2a12000, 0x52800000 | (PROBE_BYTE << 5) | 1, 0x39000001, 0x14000000]
    code.forEach((word, i) => image.writeUInt32LE(word, i * 4))
  }
  return image
}

export function probeArgs(arch: GuestArch, accel: Accelerator, firmware: string): string[] {
  return [
    '-machine',
    arch === 'x86_64' ? 'pc' : 'virt',
    '-accel',
    accel,
    ...(arch === 'aarch64' && accel !== 'tcg' ? ['-cpu', 'host'] : arch === 'aarch64' ? ['-cpu', 'max'] : []),
    '-m',
    '16',
    '-nodefaults',
    '-display',
    'none',
    '-no-reboot',
    '-bios',
    firmware,
    '-serial',
    'stdio',
  ]
}

export interface ProbeResult {
  works: boolean
  /** Why not, in QEMU's words or ours. */
  reason?: string
}

/** Runs a vCPU under `accel` for at most `timeoutMs`; works when the probe byte reaches the serial port. */
export async function probeAccelerator(
  qemu: string,
  arch: GuestArch,
  accel: Accelerator,
  timeoutMs = 5000,
): Promise<ProbeResult> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-qemu-probe-'))
  try {
    const firmware = join(dir, 'probe.bin')
    await writeFile(firmware, probeFirmware(arch))
    return await new Promise<ProbeResult>((resolve) => {
      const child = spawn(qemu, probeArgs(arch, accel, firmware), {stdio: ['ignore', 'pipe', 'pipe']})
      let stderr = ''
      let settled = false
      const finish = (result: ProbeResult) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        child.kill('SIGKILL')
        resolve(result)
      }
      const timer = setTimeout(
        () =>
          finish({works: false, reason: `a vCPU under ${accel} made no progress in ${timeoutMs / 1000}s`}),
        timeoutMs,
      )
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.includes(PROBE_BYTE)) finish({works: true})
      })
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
      })
      child.on('error', (err) => finish({works: false, reason: err.message}))
      child.on('close', (code) =>
        finish({works: false, reason: stderr.trim().split('\n').pop() || `QEMU exited with ${code}`}),
      )
    })
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}

export interface AccelChoice {
  accel: Accelerator
  /** One line for the user when the choice is slow (TCG) or a better one failed. */
  warning?: string
}

/**
 * The accelerator for a new machine: the one asked for (it must work), else the first of the
 * host's candidates that runs a vCPU, else TCG with a warning.
 */
export async function chooseAccelerator(
  requested: Accelerator | 'auto',
  platform: NodeJS.Platform,
  probe: (accel: Accelerator) => Promise<ProbeResult>,
): Promise<AccelChoice & {failure?: string}> {
  if (requested !== 'auto') {
    const result = await probe(requested)
    return result.works
      ? {accel: requested}
      : {accel: requested, failure: result.reason ?? `${requested} does not work`}
  }
  const reasons: string[] = []
  for (const accel of candidateAccelerators(platform)) {
    if (accel === 'tcg') break
    const result = await probe(accel)
    if (result.works) return {accel}
    reasons.push(`${accel}: ${result.reason ?? 'does not work'}`)
  }
  const why = reasons.length ? ` (${reasons.join('; ')})` : ''
  return {
    accel: 'tcg',
    warning: `no hardware acceleration${why}: using TCG emulation, which is many times slower`,
  }
}
