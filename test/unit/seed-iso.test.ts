/**
 * berth's ISO 9660 writer and NoCloud seed, read back by Debian's tools: isoinfo (genisoimage)
 * and blkid (util-linux), which know nothing of berth's code.
 */
import {execFileSync} from 'node:child_process'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {hypervSeed} from '../../drivers/hyperv/index.js'
import {qemuSeed} from '../../drivers/qemu/index.js'
import {virtualboxSeed} from '../../drivers/virtualbox/index.js'
import {buildIso, buildSeedIso, formatMac, noCloudFiles} from '../../src/core/vm/seed-iso.js'
import type {NoCloudSeed} from '../../src/core/vm/seed-iso.js'

let dir: string
const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests berth@box1'
const seed = {
  hostname: 'box1',
  user: 'docker',
  sshPublicKey: key + '\n',
  instanceId: 'berth-box1-test',
  nics: [
    {id: 'nat', mac: '08:00:27:AA:BB:CC'},
    {id: 'hostonly', mac: '080027001122'},
  ],
}

function isoinfo(args: string[]): string {
  return execFileSync('isoinfo', args, {encoding: 'utf8'})
}

async function write(name: string, image: Buffer): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, image)
  return path
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-iso-'))
})

afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

describe('ISO 9660 writer', () => {
  it('writes a volume isoinfo and blkid read: label, Joliet, sector size, volume size', async () => {
    const image = buildIso([{name: 'hello.txt', content: 'hi\n'}], {volumeId: 'TESTVOL'})
    expect(image.length % 2048).toBe(0)
    const path = await write('plain.iso', image)
    const info = isoinfo(['-d', '-i', path])
    expect(info).toContain('CD-ROM is in ISO 9660 format')
    expect(info).toMatch(/^Volume id: TESTVOL$/m)
    expect(info).toMatch(/^Logical block size is: 2048$/m)
    expect(info).toMatch(new RegExp(`^Volume size is: ${image.length / 2048}$`, 'm'))
    expect(info).toContain('Joliet with UCS level 3 found')
    const blkid = execFileSync('blkid', ['-o', 'export', path], {encoding: 'utf8'})
    expect(blkid).toContain('TYPE=iso9660')
    expect(blkid).toContain('LABEL=TESTVOL')
  })

  it('keeps files on sector boundaries, with exact content, under ISO and Joliet names', async () => {
    const big = Buffer.alloc(5000, 0x61)
    big.write('end', 4997)
    const path = await write(
      'files.iso',
      buildIso(
        [
          {name: 'b-file', content: big},
          {name: 'a.txt', content: 'first\n'},
          {name: 'empty', content: ''},
        ],
        {volumeId: 'files'},
      ),
    )
    expect(isoinfo(['-f', '-i', path]).trim().split('\n')).toEqual(['/A.TXT;1', '/B_FILE.;1', '/EMPTY.;1'])
    expect(isoinfo(['-J', '-f', '-i', path]).trim().split('\n')).toEqual(['/a.txt', '/b-file', '/empty'])
    expect(isoinfo(['-J', '-i', path, '-x', '/a.txt'])).toBe('first\n')
    expect(Buffer.from(execFileSync('isoinfo', ['-J', '-i', path, '-x', '/b-file']))).toEqual(big)
    expect(isoinfo(['-i', path, '-x', '/B_FILE.;1'])).toBe(big.toString())
    expect(isoinfo(['-J', '-i', path, '-x', '/empty'])).toBe('')
    // `-l` prints each file's extent: every one starts on its own sector, after the folders.
    const extents = [...isoinfo(['-l', '-i', path]).matchAll(/\[\s*(\d+) 00\]/g)].map((m) => Number(m[1]))
    expect(extents.filter((e) => e > 0).length).toBe(2)
  })

  it('writes a plain ISO 9660 volume without Joliet when asked', async () => {
    const path = await write(
      'nojoliet.iso',
      buildIso([{name: 'user-data', content: 'x'}], {volumeId: 'cidata', joliet: false}),
    )
    const info = isoinfo(['-d', '-i', path])
    expect(info).toContain('NO Joliet present')
    expect(isoinfo(['-f', '-i', path]).trim()).toBe('/USER_DATA.;1')
  })

  it('refuses bad volume ids and colliding or nested names', () => {
    expect(() => buildIso([], {volumeId: ''})).toThrow(/volume id/)
    expect(() => buildIso([], {volumeId: 'x'.repeat(17)})).toThrow(/volume id/)
    expect(() => buildIso([{name: 'a/b', content: ''}], {volumeId: 'v'})).toThrow(/plain name/)
    expect(() =>
      buildIso(
        [
          {name: 'user-data', content: ''},
          {name: 'user_data', content: ''},
        ],
        {volumeId: 'v'},
      ),
    ).toThrow(/collide/)
  })

  it('is byte-stable for a fixed date', () => {
    const date = new Date('2024-05-01T12:00:00Z')
    expect(buildIso([{name: 'f', content: 'x'}], {volumeId: 'v', date})).toEqual(
      buildIso([{name: 'f', content: 'x'}], {volumeId: 'v', date}),
    )
  })
})

describe('NoCloud seed', () => {
  it('is labelled cidata and holds user-data, meta-data and network-config', async () => {
    const path = await write('seed.iso', buildSeedIso(seed))
    expect(execFileSync('blkid', ['-s', 'LABEL', '-o', 'value', path], {encoding: 'utf8'}).trim()).toBe(
      'cidata',
    )
    expect(isoinfo(['-J', '-f', '-i', path]).trim().split('\n').sort()).toEqual([
      '/meta-data',
      '/network-config',
      '/user-data',
    ])

    const userData = isoinfo(['-J', '-i', path, '-x', '/user-data'])
    expect(userData.split('\n')[0]).toBe('#cloud-config')
    const config = JSON.parse(userData.slice(userData.indexOf('\n')))
    expect(config.hostname).toBe('box1')
    expect(config.users).toEqual([
      expect.objectContaining({
        name: 'docker',
        sudo: 'ALL=(ALL) NOPASSWD:ALL',
        ssh_authorized_keys: [key],
        lock_passwd: true,
      }),
    ])
    expect(config.ssh_pwauth).toBe(false)
    expect(config).not.toHaveProperty('runcmd')

    expect(JSON.parse(isoinfo(['-J', '-i', path, '-x', '/meta-data']))).toEqual({
      'instance-id': 'berth-box1-test',
      'local-hostname': 'box1',
    })
    expect(JSON.parse(isoinfo(['-J', '-i', path, '-x', '/network-config']))).toEqual({
      version: 2,
      ethernets: {
        nat: {match: {macaddress: '08:00:27:aa:bb:cc'}, dhcp4: true},
        hostonly: {match: {macaddress: '08:00:27:00:11:22'}, dhcp4: true},
      },
    })
  })

  it("carries runcmd's commands as argv lists when given", async () => {
    const runcmd = [
      ['sh', '-c', "echo 'it''s' \"$HOME\"\nexit 0"],
      ['touch', '/x y'],
    ]
    const path = await write('runcmd.iso', buildSeedIso({...seed, runcmd}))
    const userData = isoinfo(['-J', '-i', path, '-x', '/user-data'])
    expect(JSON.parse(userData.slice(userData.indexOf('\n'))).runcmd).toEqual(runcmd)
  })

  it('gives each seed a fresh instance id unless one is given', () => {
    const withoutId = {...seed, instanceId: undefined}
    const first = JSON.parse(noCloudFiles(withoutId).metaData)['instance-id']
    const second = JSON.parse(noCloudFiles(withoutId).metaData)['instance-id']
    expect(first).toMatch(/^berth-box1-[0-9a-f]{8}$/)
    expect(first).not.toBe(second)
  })

  it('refuses a bad hostname, key or MAC', () => {
    expect(() => noCloudFiles({...seed, hostname: '-bad'})).toThrow(/hostname/)
    expect(() => noCloudFiles({...seed, sshPublicKey: 'not a key'})).toThrow(/public key/)
    expect(() => noCloudFiles({...seed, sshPublicKey: `${key}\n${key}`})).toThrow(/public key/)
    expect(() => formatMac('08:00:27:aa:bb')).toThrow(/MAC/)
  })
})

/**
 * Cloud images that ship Docker (docker.io) already have a `docker` group; cloud-init's useradd
 * without -g then fails ("group docker exists") and the login user, so SSH, never exists. The
 * qemu e2e boots such an image with real cloud-init; here every VM driver's own seed, read back
 * from its ISO, carries the same users section that boot proves.
 */
describe("every VM driver's seed on an image with Docker preinstalled", () => {
  const seeds: Record<string, NoCloudSeed> = {
    virtualbox: virtualboxSeed('box1', key, '08:00:27:aa:bb:cc', '08:00:27:00:11:22'),
    hyperv: hypervSeed('box1', key, '00155DAABBCC'),
    qemu: qemuSeed('box1', key, '52:54:00:12:34:56', {mac: '52:54:00:ab:cd:ef', address: '192.168.76.2/24'}),
  }
  const userData = async (driver: string) => {
    const path = await write(`${driver}-seed.iso`, buildSeedIso(seeds[driver]!))
    const text = isoinfo(['-J', '-i', path, '-x', '/user-data'])
    return JSON.parse(text.slice(text.indexOf('\n')))
  }

  for (const driver of Object.keys(seeds)) {
    it(`${driver}: declares the docker group and makes it the login user's primary group, with sudo and /etc/hosts managed`, async () => {
      const config = await userData(driver)
      expect(config.groups).toEqual(['docker'])
      expect(config.users).toHaveLength(1)
      expect(config.users[0]).toMatchObject({
        name: 'docker',
        primary_group: 'docker',
        groups: ['sudo'],
        sudo: 'ALL=(ALL) NOPASSWD:ALL',
        ssh_authorized_keys: [key],
      })
      expect(config.manage_etc_hosts).toBe(true)
      expect(config.hostname).toBe('box1')
    })
  }

  it('is the same users section in every driver (the one the qemu e2e boots on the docker.io image)', async () => {
    const sections = await Promise.all(
      Object.keys(seeds).map(async (driver) => {
        const {groups, users, manage_etc_hosts: hosts, ssh_pwauth: pwauth} = await userData(driver)
        return {groups, users, hosts, pwauth}
      }),
    )
    expect(sections[1]).toEqual(sections[0])
    expect(sections[2]).toEqual(sections[0])
  })
})
