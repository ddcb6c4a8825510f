/**
 * berth's own ISO 9660 writer (no npm package writes one) and the cloud-init NoCloud seed built
 * with it. Shared by the VM drivers (virtualbox, hyperv).
 *
 * The image holds a flat root folder with a few small files: 16 zero sectors, the Primary Volume
 * Descriptor at sector 16, optionally a Joliet Supplementary Volume Descriptor (UCS-2 names, so
 * `user-data` keeps its case and dash), the terminator, L and M path tables per descriptor, one
 * root directory sector per descriptor, then each file's data on a sector boundary.
 */
import {randomBytes} from 'node:crypto'
import {BerthError} from '../errors.js'
import {writeFileAtomic} from '../store/fs.js'

const SECTOR = 2048

export interface IsoFile {
  /** A plain file name in the root folder (no slashes). */
  name: string
  content: string | Buffer
}

export interface IsoOptions {
  /** Up to 32 characters; stored as given (cloud-init looks for `cidata`). */
  volumeId: string
  /** Joliet names (exact case, dashes); on by default, Linux and Windows both read them. */
  joliet?: boolean
  /** Recorded in every date field; fixed in tests for byte-stable images. */
  date?: Date
}

function both16(value: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt16LE(value, 0)
  b.writeUInt16BE(value, 2)
  return b
}

function both32(value: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeUInt32LE(value, 0)
  b.writeUInt32BE(value, 4)
  return b
}

/** A fixed-width text field, padded with spaces (UCS-2 spaces for Joliet). */
function text(value: string, width: number, ucs2: boolean): Buffer {
  const field = ucs2 ? Buffer.from('\0 '.repeat(width / 2), 'latin1') : Buffer.alloc(width, 0x20)
  const encoded = ucs2 ? ucs2be(value) : Buffer.from(value, 'ascii')
  encoded.copy(field, 0, 0, Math.min(width, encoded.length))
  return field
}

function ucs2be(value: string): Buffer {
  const le = Buffer.from(value, 'utf16le')
  return le.swap16()
}

/** The 17-byte date of volume descriptors: ASCII digits, then the offset from GMT in 15-minute units. */
function longDate(date: Date): Buffer {
  const p = (n: number, w = 2) => String(n).padStart(w, '0')
  const digits =
    `${p(date.getUTCFullYear(), 4)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}` +
    `${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}00`
  return Buffer.concat([Buffer.from(digits, 'ascii'), Buffer.from([0])])
}

/** "Not specified" for the expiration and effective dates. */
const NO_DATE = Buffer.concat([Buffer.from('0'.repeat(16), 'ascii'), Buffer.from([0])])

/** The 7-byte date of directory records. */
function shortDate(date: Date): Buffer {
  return Buffer.from([
    date.getUTCFullYear() - 1900,
    date.getUTCMonth() + 1,
    date.getUTCDate(),
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
    0,
  ])
}

function directoryRecord(
  identifier: Buffer,
  extent: number,
  size: number,
  isDirectory: boolean,
  date: Date,
): Buffer {
  const padding = identifier.length % 2 === 0 ? 1 : 0
  const record = Buffer.alloc(33 + identifier.length + padding)
  record[0] = record.length
  both32(extent).copy(record, 2)
  both32(size).copy(record, 10)
  shortDate(date).copy(record, 18)
  record[25] = isDirectory ? 2 : 0
  both16(1).copy(record, 28) // volume sequence number
  record[32] = identifier.length
  identifier.copy(record, 33)
  return record
}

/** A path table with only the root folder, little- or big-endian. */
function pathTable(rootExtent: number, bigEndian: boolean): Buffer {
  const table = Buffer.alloc(10)
  table[0] = 1 // identifier length (the root's identifier is one zero byte)
  if (bigEndian) {
    table.writeUInt32BE(rootExtent, 2)
    table.writeUInt16BE(1, 6)
  } else {
    table.writeUInt32LE(rootExtent, 2)
    table.writeUInt16LE(1, 6)
  }
  return table
}

/** An ISO 9660 level 2 name: upper case d-characters, `.` and version `;1`. */
function primaryName(name: string): string {
  const upper = name.toUpperCase().replace(/[^A-Z0-9_.]/g, '_')
  const dot = upper.lastIndexOf('.')
  const [stem, ext] =
    dot === -1 ? [upper, ''] : [upper.slice(0, dot).replace(/\./g, '_'), upper.slice(dot + 1)]
  return `${stem.slice(0, 30 - ext.length)}.${ext};1`
}

interface Tree {
  /** Sector of this descriptor's root folder. */
  rootExtent: number
  lTable: number
  mTable: number
  names: string[]
  encode(name: string): Buffer
}

function volumeDescriptor(
  kind: 'primary' | 'joliet',
  options: Required<IsoOptions>,
  totalSectors: number,
  tree: Tree,
): Buffer {
  const ucs2 = kind === 'joliet'
  const d = Buffer.alloc(SECTOR)
  d[0] = ucs2 ? 2 : 1
  d.write('CD001', 1, 'ascii')
  d[6] = 1
  text('', 32, ucs2).copy(d, 8) // system identifier
  text(options.volumeId, 32, ucs2).copy(d, 40)
  both32(totalSectors).copy(d, 80)
  if (ucs2) d.write('%/E', 88, 'ascii') // Joliet level 3 escape sequence
  both16(1).copy(d, 120) // volume set size
  both16(1).copy(d, 124) // volume sequence number
  both16(SECTOR).copy(d, 128)
  both32(10).copy(d, 132) // path table size
  d.writeUInt32LE(tree.lTable, 140)
  d.writeUInt32BE(tree.mTable, 148)
  directoryRecord(Buffer.from([0]), tree.rootExtent, SECTOR, true, options.date).copy(d, 156)
  text('', 128, ucs2).copy(d, 190) // volume set
  text('', 128, ucs2).copy(d, 318) // publisher
  text('', 128, ucs2).copy(d, 446) // data preparer
  text('BERTH', 128, ucs2).copy(d, 574) // application
  for (const offset of [702, 739, 776]) text('', 37, ucs2).copy(d, offset)
  longDate(options.date).copy(d, 813)
  longDate(options.date).copy(d, 830)
  NO_DATE.copy(d, 847)
  NO_DATE.copy(d, 864)
  d[881] = 1 // file structure version
  return d
}

/** Builds an ISO 9660 image holding `files` in its root folder. */
export function buildIso(files: IsoFile[], options: IsoOptions): Buffer {
  const opts: Required<IsoOptions> = {
    volumeId: options.volumeId,
    joliet: options.joliet ?? true,
    date: options.date ?? new Date(),
  }
  if (opts.volumeId.length === 0 || opts.volumeId.length > (opts.joliet ? 16 : 32)) {
    throw new BerthError(
      `ISO volume id ${JSON.stringify(opts.volumeId)} must be 1 to ${opts.joliet ? 16 : 32} characters`,
    )
  }
  const seen = new Set<string>()
  for (const file of files) {
    if (!/^[^/\0]{1,64}$/.test(file.name))
      throw new BerthError(`ISO file name ${JSON.stringify(file.name)} is not a plain name`)
    const key = primaryName(file.name)
    if (seen.has(key))
      throw new BerthError(`ISO file names ${JSON.stringify(file.name)} and another one collide as ${key}`)
    seen.add(key)
  }
  const contents = files.map((f) =>
    typeof f.content === 'string' ? Buffer.from(f.content, 'utf8') : f.content,
  )

  // Sector layout: descriptors, then per tree its L and M path tables and its root folder, then data.
  let next = 16
  const pvdSector = next++
  const svdSector = opts.joliet ? next++ : undefined
  const terminatorSector = next++
  const trees: Tree[] = []
  const makeTree = (encode: (name: string) => Buffer): Tree => {
    const tree = {lTable: next++, mTable: next++, rootExtent: next++, names: files.map((f) => f.name), encode}
    trees.push(tree)
    return tree
  }
  const primary = makeTree((name) => Buffer.from(primaryName(name), 'ascii'))
  const joliet = opts.joliet ? makeTree((name) => ucs2be(name)) : undefined
  const extents = contents.map((content) => {
    const extent = next
    next += Math.ceil(content.length / SECTOR)
    return extent
  })
  const total = next

  const image = Buffer.alloc(total * SECTOR)
  volumeDescriptor('primary', opts, total, primary).copy(image, pvdSector * SECTOR)
  if (joliet && svdSector !== undefined)
    volumeDescriptor('joliet', opts, total, joliet).copy(image, svdSector * SECTOR)
  const terminator = Buffer.alloc(7)
  terminator[0] = 255
  terminator.write('CD001', 1, 'ascii')
  terminator[6] = 1
  terminator.copy(image, terminatorSector * SECTOR)

  for (const tree of trees) {
    pathTable(tree.rootExtent, false).copy(image, tree.lTable * SECTOR)
    pathTable(tree.rootExtent, true).copy(image, tree.mTable * SECTOR)
    const records = [
      directoryRecord(Buffer.from([0]), tree.rootExtent, SECTOR, true, opts.date),
      directoryRecord(Buffer.from([1]), tree.rootExtent, SECTOR, true, opts.date),
      // File records sorted by their encoded identifier, as the standard asks.
      ...files
        .map((file, i) => ({id: tree.encode(file.name), i}))
        .sort((x, y) => Buffer.compare(x.id, y.id))
        .map(({id, i}) =>
          directoryRecord(
            id,
            contents[i]!.length > 0 ? extents[i]! : 0,
            contents[i]!.length,
            false,
            opts.date,
          ),
        ),
    ]
    const folder = Buffer.concat(records)
    if (folder.length > SECTOR)
      throw new BerthError(`too many files for a one-sector ISO root folder (${files.length})`)
    folder.copy(image, tree.rootExtent * SECTOR)
  }
  contents.forEach((content, i) => content.copy(image, extents[i]! * SECTOR))
  return image
}

/** A network interface of the VM, matched by MAC in the network-config. */
export interface SeedNic {
  /** The name used in network-config (an id, not the guest's interface name). */
  id: string
  /** Colon-separated, e.g. 08:00:27:12:34:56. */
  mac: string
  /** Static addresses with their prefix (e.g. 192.168.76.2/24) instead of DHCP. */
  addresses?: string[]
}

export interface NoCloudSeed {
  hostname: string
  /** The user berth logs in as: created with passwordless sudo and this key. */
  user: string
  sshPublicKey: string
  nics: SeedNic[]
  /** Defaults to a fresh one, so cloud-init runs once per machine. */
  instanceId?: string
  /** Commands cloud-init runs once, as root, late in the first boot (network up), each an argv. */
  runcmd?: string[][]
}

/**
 * VirtualBox MACs as `modifyvm --macaddressN` takes them (12 hex digits) in colon form; the
 * prefix is VirtualBox's own OUI 08:00:27.
 */
export function randomMac(prefix = '080027'): string {
  return formatMac(prefix + randomBytes(3).toString('hex'))
}

export function formatMac(mac: string): string {
  const hex = mac.replace(/[^0-9a-fA-F]/g, '').toLowerCase()
  if (hex.length !== 12) throw new BerthError(`${JSON.stringify(mac)} is not a MAC address`)
  return hex.match(/../g)!.join(':')
}

/**
 * The NoCloud files. They are written as JSON: YAML is a superset of JSON, so cloud-init reads
 * them as any YAML, and nothing on either side needs a YAML library (`#cloud-config` is a
 * YAML comment line).
 */
export function noCloudFiles(seed: NoCloudSeed): {userData: string; metaData: string; networkConfig: string} {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$/.test(seed.hostname.split('.')[0] ?? ''))
    throw new BerthError(`${JSON.stringify(seed.hostname)} is not a hostname`)
  const key = seed.sshPublicKey.trim()
  if (!/^(ssh-|ecdsa-)\S+ \S+/.test(key) || key.includes('\n'))
    throw new BerthError('the SSH public key for the seed is not one OpenSSH public key line')
  const userData = {
    hostname: seed.hostname,
    fqdn: seed.hostname,
    // Without it every sudo warns that it cannot resolve the hostname.
    manage_etc_hosts: true,
    // The login user's group is declared and made its primary group: on images that ship
    // docker.io a `docker` group already exists, and useradd's own user group would clash with it
    // ("Failed to create user docker": no user, no SSH). cloud-init skips a group that exists.
    groups: [seed.user],
    users: [
      {
        name: seed.user,
        primary_group: seed.user,
        groups: ['sudo'],
        shell: '/bin/bash',
        sudo: 'ALL=(ALL) NOPASSWD:ALL',
        lock_passwd: true,
        ssh_authorized_keys: [key],
      },
    ],
    ssh_pwauth: false,
    ...(seed.runcmd?.length ? {runcmd: seed.runcmd} : {}),
  }
  const metaData = {
    'instance-id': seed.instanceId ?? `berth-${seed.hostname}-${randomBytes(4).toString('hex')}`,
    'local-hostname': seed.hostname,
  }
  const ethernets: Record<string, unknown> = {}
  for (const nic of seed.nics) {
    const match = {macaddress: formatMac(nic.mac)}
    ethernets[nic.id] = nic.addresses?.length ? {match, addresses: nic.addresses} : {match, dhcp4: true}
  }
  return {
    userData: `#cloud-config\n${JSON.stringify(userData, null, 2)}\n`,
    metaData: `${JSON.stringify(metaData, null, 2)}\n`,
    networkConfig: `${JSON.stringify({version: 2, ethernets}, null, 2)}\n`,
  }
}

/** The NoCloud seed image (volume label `cidata`). */
export function buildSeedIso(seed: NoCloudSeed, date?: Date): Buffer {
  const files = noCloudFiles(seed)
  return buildIso(
    [
      {name: 'user-data', content: files.userData},
      {name: 'meta-data', content: files.metaData},
      {name: 'network-config', content: files.networkConfig},
    ],
    {volumeId: 'cidata', date},
  )
}

/** Writes the seed image atomically; it holds no secret, only the public key. */
export async function writeSeedIso(path: string, seed: NoCloudSeed): Promise<void> {
  await writeFileAtomic(path, buildSeedIso(seed), 0o644)
}
