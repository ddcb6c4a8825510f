/**
 * A raw disk image becomes a fixed VHD by appending a 512-byte footer (Microsoft's Virtual Hard
 * Disk Image Format Specification); Hyper-V's Convert-VHD then makes a VHDX of it.
 */
import {randomBytes} from 'node:crypto'
import {open} from 'node:fs/promises'
import {BerthError} from '../../src/core/drivers/kit.js'

export const FOOTER_SIZE = 512
const COOKIE = 'conectix'
/** Seconds from the Unix epoch to the VHD epoch, 2000-01-01T00:00:00Z. */
const VHD_EPOCH = Date.UTC(2000, 0, 1) / 1000
const DISK_TYPE_FIXED = 2
const CHECKSUM_OFFSET = 64

export interface Geometry {
  cylinders: number
  heads: number
  sectorsPerTrack: number
}

/** CHS geometry for a disk size, by the specification's algorithm (capped at about 127 GiB). */
export function chsGeometry(sizeBytes: number): Geometry {
  const totalSectors = Math.min(Math.floor(sizeBytes / 512), 65535 * 16 * 255)
  let sectorsPerTrack: number
  let heads: number
  let cylinderTimesHeads: number
  if (totalSectors >= 65535 * 16 * 63) {
    sectorsPerTrack = 255
    heads = 16
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack)
  } else {
    sectorsPerTrack = 17
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack)
    heads = Math.max(4, Math.floor((cylinderTimesHeads + 1023) / 1024))
    if (cylinderTimesHeads >= heads * 1024 || heads > 16) {
      sectorsPerTrack = 31
      heads = 16
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack)
    }
    if (cylinderTimesHeads >= heads * 1024) {
      sectorsPerTrack = 63
      heads = 16
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack)
    }
  }
  return {cylinders: Math.floor(cylinderTimesHeads / heads), heads, sectorsPerTrack}
}

/** Ones' complement of the byte sum, the checksum field itself counted as zero. */
export function footerChecksum(footer: Buffer): number {
  let sum = 0
  for (let i = 0; i < FOOTER_SIZE; i++) if (i < CHECKSUM_OFFSET || i >= CHECKSUM_OFFSET + 4) sum += footer[i]!
  return ~sum >>> 0
}

export interface FooterOptions {
  /** Defaults to now. */
  date?: Date
  /** 16 bytes; defaults to random. */
  uniqueId?: Buffer
}

/** The footer of a fixed VHD whose data is `sizeBytes` long (a multiple of 512). */
export function vhdFooter(sizeBytes: number, options: FooterOptions = {}): Buffer {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % 512 !== 0) {
    throw new BerthError(
      `a fixed VHD needs a size that is a positive multiple of 512 bytes, not ${sizeBytes}`,
    )
  }
  const uniqueId = options.uniqueId ?? randomBytes(16)
  if (uniqueId.length !== 16) throw new BerthError('a VHD unique id is 16 bytes')
  const footer = Buffer.alloc(FOOTER_SIZE)
  footer.write(COOKIE, 0, 'ascii')
  footer.writeUInt32BE(0x00000002, 8) // features: the "reserved" bit the specification says is always set
  footer.writeUInt32BE(0x00010000, 12) // file format version 1.0
  footer.writeBigUInt64BE(0xffffffffffffffffn, 16) // data offset: none for a fixed disk
  footer.writeUInt32BE(Math.max(0, Math.floor((options.date ?? new Date()).getTime() / 1000) - VHD_EPOCH), 24)
  footer.write('brth', 28, 'ascii') // creator application
  footer.writeUInt32BE(0x00010000, 32) // creator version
  footer.write('Wi2k', 36, 'ascii') // creator host OS: Windows, where Hyper-V reads it
  footer.writeBigUInt64BE(BigInt(sizeBytes), 40) // original size
  footer.writeBigUInt64BE(BigInt(sizeBytes), 48) // current size
  const {cylinders, heads, sectorsPerTrack} = chsGeometry(sizeBytes)
  footer.writeUInt16BE(cylinders, 56)
  footer.writeUInt8(heads, 58)
  footer.writeUInt8(sectorsPerTrack, 59)
  footer.writeUInt32BE(DISK_TYPE_FIXED, 60)
  uniqueId.copy(footer, 68)
  // byte 84 (saved state) and the reserved rest stay zero
  footer.writeUInt32BE(footerChecksum(footer), CHECKSUM_OFFSET)
  return footer
}

export interface ParsedFooter {
  cookie: string
  features: number
  version: number
  dataOffset: bigint
  timestamp: Date
  creatorApplication: string
  creatorHostOs: string
  originalSize: bigint
  currentSize: bigint
  geometry: Geometry
  diskType: number
  checksum: number
  uniqueId: Buffer
}

/** Reads a footer back (the tests check what berth wrote with it). */
export function parseVhdFooter(footer: Buffer): ParsedFooter {
  if (footer.length !== FOOTER_SIZE)
    throw new BerthError(`a VHD footer is ${FOOTER_SIZE} bytes, not ${footer.length}`)
  return {
    cookie: footer.toString('ascii', 0, 8),
    features: footer.readUInt32BE(8),
    version: footer.readUInt32BE(12),
    dataOffset: footer.readBigUInt64BE(16),
    timestamp: new Date((footer.readUInt32BE(24) + VHD_EPOCH) * 1000),
    creatorApplication: footer.toString('ascii', 28, 32),
    creatorHostOs: footer.toString('ascii', 36, 40),
    originalSize: footer.readBigUInt64BE(40),
    currentSize: footer.readBigUInt64BE(48),
    geometry: {
      cylinders: footer.readUInt16BE(56),
      heads: footer.readUInt8(58),
      sectorsPerTrack: footer.readUInt8(59),
    },
    diskType: footer.readUInt32BE(60),
    checksum: footer.readUInt32BE(CHECKSUM_OFFSET),
    uniqueId: footer.subarray(68, 84),
  }
}

/**
 * Appends a footer to a raw image file in place, turning it into a fixed VHD. A file whose
 * size is not a multiple of 512 is first padded with zeros (the guest never sees the padding).
 */
export async function appendVhdFooter(path: string, options: FooterOptions = {}): Promise<number> {
  const handle = await open(path, 'r+')
  try {
    const {size} = await handle.stat()
    const padded = Math.ceil(size / 512) * 512
    const footer = vhdFooter(padded, options)
    await handle.write(
      Buffer.concat([Buffer.alloc(padded - size), footer]),
      0,
      padded - size + FOOTER_SIZE,
      size,
    )
    await handle.sync()
    return padded
  } finally {
    await handle.close()
  }
}
