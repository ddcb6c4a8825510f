/** The virtualbox driver's pure parts: VBoxManage discovery, running and parsing; argv building; host-only networks; flags. */
import {chmod, mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  addressForMac,
  DEFAULT_IMAGE_URL,
  hostOnlyNicArgs,
  hostOnlyStyle,
  modifyVmArgs,
  natForwardArgs,
  storageArgs,
  virtualboxDriver,
} from '../../drivers/virtualbox/index.js'
import type {VirtualBoxState} from '../../drivers/virtualbox/index.js'
import {allowedRanges, hostOnlyNetwork} from '../../drivers/virtualbox/network.js'
import {
  errorMessage,
  findVBoxManage,
  isSupported,
  machineState,
  parseBlocks,
  parseMachineReadable,
  parseVersion,
  parseVmList,
  VBoxManage,
} from '../../drivers/virtualbox/vboxmanage.js'

let dir: string
const v7 = parseVersion('7.0.20r163906')!
const v6 = parseVersion('6.1.50r161033')!
const context = () => ({
  machineName: 'box',
  machineDir: join(dir, 'machines/box'),
  storePath: dir,
  log: () => {},
})

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-vbox-unit-'))
})

afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

async function fakeVBoxManage(folder: string, script: string): Promise<string> {
  await mkdir(folder, {recursive: true})
  const path = join(folder, 'VBoxManage')
  await writeFile(path, `#!/bin/sh\n${script}\n`)
  await chmod(path, 0o755)
  return path
}

describe('VBoxManage', () => {
  it('is found on PATH, then in VBOX_INSTALL_PATH and VBOX_MSI_INSTALL_PATH', async () => {
    const onPath = await fakeVBoxManage(join(dir, 'path-bin'), 'true')
    const install = await fakeVBoxManage(join(dir, 'install'), 'true')
    const msi = await fakeVBoxManage(join(dir, 'msi'), 'true')
    await writeFile(join(dir, 'not-exec-VBoxManage'), '')
    expect(
      findVBoxManage({
        PATH: `/nonexistent:${join(dir, 'path-bin')}`,
        VBOX_INSTALL_PATH: join(dir, 'install'),
      }),
    ).toBe(onPath)
    expect(
      findVBoxManage({
        PATH: '/nonexistent',
        VBOX_INSTALL_PATH: join(dir, 'install'),
        VBOX_MSI_INSTALL_PATH: join(dir, 'msi'),
      }),
    ).toBe(install)
    expect(findVBoxManage({PATH: '/nonexistent', VBOX_MSI_INSTALL_PATH: join(dir, 'msi')})).toBe(msi)
    expect(findVBoxManage({PATH: '/nonexistent'})).toBeUndefined()
    expect(() => VBoxManage.locate({PATH: '/nonexistent'})).toThrow(/VirtualBox is not installed/)
  })

  it('reads versions, also after kernel-module warnings, and knows which are too old', () => {
    expect(
      parseVersion(
        'WARNING: The vboxdrv kernel module is not loaded.\n         Please reinstall.\n7.0.14r161095\n',
      ),
    ).toMatchObject({major: 7, minor: 0, patch: 14, text: '7.0.14r161095'})
    expect(parseVersion('nothing here')).toBeUndefined()
    expect(isSupported(v7)).toBe(true)
    expect(isSupported(v6)).toBe(true)
    expect(isSupported(parseVersion('6.0.24r139119')!)).toBe(false)
    expect(isSupported(parseVersion('5.2.44r139111')!)).toBe(false)
  })

  it('runs with an argv array under LANG=C, fails on `error:` even with exit 0, retries only transient errors', async () => {
    const counter = join(dir, 'count')
    await writeFile(counter, '')
    const path = await fakeVBoxManage(
      join(dir, 'runner'),
      [
        `echo "$LANG $LC_ALL $#:$1:$2" >> ${counter}`,
        'case "$1" in',
        '  ok) echo "out put";;',
        '  soft) echo "VBoxManage: error: Could not find file for the medium" >&2;;',
        `  flaky) [ $(wc -l < ${counter}) -gt 3 ] && echo done || { echo "VBoxManage: error: The object is not ready" >&2; exit 1; };;`,
        '  hard) echo "VBoxManage: error: Machine \'x\' is not currently running" >&2; echo "VBoxManage: error: Details: code VBOX_E_INVALID_VM_STATE" >&2; exit 1;;',
        '  quiet) exit 3;;',
        'esac',
      ].join('\n'),
    )
    const vbox = new VBoxManage(path)
    expect(await vbox.run(['ok', 'a b; rm -rf /'])).toBe('out put\n')
    expect((await readFile(counter, 'utf8')).trim()).toBe('C C 2:ok:a b; rm -rf /')
    await expect(vbox.run(['soft'])).rejects.toThrow(
      'VBoxManage soft failed: Could not find file for the medium',
    )
    await expect(vbox.run(['hard'], {retryDelayMs: 1})).rejects.toThrow(
      "VBoxManage hard failed: Machine 'x' is not currently running",
    )
    await writeFile(counter, '')
    expect(await vbox.run(['flaky'], {retryDelayMs: 1})).toBe('done\n')
    expect((await readFile(counter, 'utf8')).trim().split('\n')).toHaveLength(4)
    await writeFile(counter, '')
    await expect(vbox.run(['flaky'], {retries: 1, retryDelayMs: 1})).rejects.toThrow(
      'VBoxManage flaky failed: The object is not ready',
    )
    await expect(vbox.run(['quiet'])).rejects.toThrow('VBoxManage quiet failed: exit code 3')
    expect(errorMessage('VBoxManage: error: first\nVBoxManage: error: second')).toBe('first')
  })

  it('parses --machinereadable, list vms and the Key: value blocks', () => {
    const info = parseMachineReadable(
      'name="my vm"\nmemory=2048\nVMState="poweroff"\n"SATA-0-0"="/x/disk.vdi"\nForwarding(0)="ssh,tcp,127.0.0.1,2222,,22"\ndescription="say \\"hi\\""\n',
    )
    expect(info).toEqual({
      name: 'my vm',
      memory: '2048',
      VMState: 'poweroff',
      'SATA-0-0': '/x/disk.vdi',
      'Forwarding(0)': 'ssh,tcp,127.0.0.1,2222,,22',
      description: 'say "hi"',
    })
    expect(
      parseVmList(
        '"default" {6c3d2d1e-1b7e-4f0a-9d1c-1234567890ab}\n"with space" {0bc4b9e2-0000-4000-8000-000000000001}\n',
      ),
    ).toEqual([
      {name: 'default', uuid: '6c3d2d1e-1b7e-4f0a-9d1c-1234567890ab'},
      {name: 'with space', uuid: '0bc4b9e2-0000-4000-8000-000000000001'},
    ])
    const blocks = parseBlocks(
      'Name:            vboxnet0\nIPAddress:       192.168.56.1\nNetworkMask:     255.255.255.0\nIPV6Address:     \n\nName:            vboxnet1\nIPAddress:       192.168.57.1\n\n',
    )
    expect(blocks).toEqual([
      {Name: 'vboxnet0', IPAddress: '192.168.56.1', NetworkMask: '255.255.255.0', IPV6Address: ''},
      {Name: 'vboxnet1', IPAddress: '192.168.57.1'},
    ])
    expect(
      ['running', 'paused', 'saved', 'poweroff', 'aborted', 'starting', 'stopping', 'gurumeditation'].map(
        machineState,
      ),
    ).toEqual(['Running', 'Paused', 'Saved', 'Stopped', 'Stopped', 'Starting', 'Stopping', 'Error'])
  })
})

describe('argv building', () => {
  const state = {
    VMName: 'box',
    CPU: 2,
    Memory: 2048,
    NatNicType: 'virtio',
    NatMAC: '08:00:27:aa:bb:cc',
    HostOnlyMAC: '08:00:27:11:22:33',
    SSHPort: 40022,
  } as VirtualBoxState

  it("configures the VM for a cloud image: serial port, NAT NIC with its MAC, audio off in the version's syntax", () => {
    const args = modifyVmArgs(state, v7, '/m/serial.log')
    expect(args.slice(0, 2)).toEqual(['modifyvm', 'box'])
    expect(args.join(' ')).toContain('--cpus 2 --memory 2048')
    expect(args.join(' ')).toContain('--uart1 0x3F8 4 --uartmode1 file /m/serial.log')
    expect(args.join(' ')).toContain('--nic1 nat --nictype1 virtio --macaddress1 080027AABBCC')
    expect(args).toContain('--audio-enabled')
    expect(modifyVmArgs(state, v6, '/m/serial.log').join(' ')).toContain('--audio none')
    expect(modifyVmArgs(state, v6, '/m/serial.log')).not.toContain('--audio-enabled')
  })

  it('attaches the disk and the seed, forwards SSH (and the engine without host-only) on 127.0.0.1', () => {
    expect(storageArgs('box', '/m/disk.vdi', '/m/seed.iso')).toEqual([
      [
        'storagectl',
        'box',
        '--name',
        'SATA',
        '--add',
        'sata',
        '--controller',
        'IntelAhci',
        '--portcount',
        '2',
        '--hostiocache',
        'on',
      ],
      [
        'storageattach',
        'box',
        '--storagectl',
        'SATA',
        '--port',
        '0',
        '--device',
        '0',
        '--type',
        'hdd',
        '--medium',
        '/m/disk.vdi',
      ],
      [
        'storageattach',
        'box',
        '--storagectl',
        'SATA',
        '--port',
        '1',
        '--device',
        '0',
        '--type',
        'dvddrive',
        '--medium',
        '/m/seed.iso',
      ],
    ])
    expect(natForwardArgs(state)).toEqual(['modifyvm', 'box', '--natpf1', 'ssh,tcp,127.0.0.1,40022,,22'])
    expect(natForwardArgs({...state, EnginePort: 41000})).toEqual([
      'modifyvm',
      'box',
      '--natpf1',
      'ssh,tcp,127.0.0.1,40022,,22',
      '--natpf1',
      'docker,tcp,127.0.0.1,41000,,41000',
    ])
  })

  it('attaches the host-only NIC in VirtualBox 6 and 7 styles, chosen by platform when auto', () => {
    expect(hostOnlyNicArgs(state, 'interface', 'vboxnet0')).toEqual([
      'modifyvm',
      'box',
      '--nic2',
      'hostonly',
      '--hostonlyadapter2',
      'vboxnet0',
      '--nictype2',
      'virtio',
      '--macaddress2',
      '080027112233',
      '--cableconnected2',
      'on',
    ])
    expect(hostOnlyNicArgs(state, 'network', 'berth-net')).toEqual([
      'modifyvm',
      'box',
      '--nic2',
      'hostonlynet',
      '--host-only-net2',
      'berth-net',
      '--nictype2',
      'virtio',
      '--macaddress2',
      '080027112233',
      '--cableconnected2',
      'on',
    ])
    expect(hostOnlyStyle('auto', v7, 'darwin')).toBe('network')
    expect(hostOnlyStyle('auto', v7, 'linux')).toBe('interface')
    expect(hostOnlyStyle('auto', v6, 'darwin')).toBe('interface')
    expect(hostOnlyStyle('network', v6, 'linux')).toBe('network')
  })

  it('reads the host-only address from `ip -j addr` by MAC', () => {
    const ipJson = JSON.stringify([
      {ifname: 'lo', address: '00:00:00:00:00:00', addr_info: [{family: 'inet', local: '127.0.0.1'}]},
      {ifname: 'enp0s3', address: '08:00:27:aa:bb:cc', addr_info: [{family: 'inet', local: '10.0.2.15'}]},
      {
        ifname: 'enp0s8',
        address: '08:00:27:11:22:33',
        addr_info: [
          {family: 'inet6', local: 'fe80::1'},
          {family: 'inet', local: '192.168.56.101'},
        ],
      },
    ])
    expect(addressForMac(ipJson, '080027112233')).toBe('192.168.56.101')
    expect(addressForMac(ipJson, '08:00:27:AA:BB:CC')).toBe('10.0.2.15')
    expect(addressForMac(ipJson, '08:00:27:00:00:01')).toBeUndefined()
    expect(
      addressForMac(
        JSON.stringify([{address: '08:00:27:11:22:33', addr_info: [{family: 'inet6', local: 'fe80::1'}]}]),
        '080027112233',
      ),
    ).toBeUndefined()
  })
})

describe('host-only networks', () => {
  it('derives the DHCP range from the host address as VirtualBox does by default', () => {
    expect(hostOnlyNetwork('192.168.56.1/24', ['192.168.56.0/21'])).toEqual({
      hostIp: '192.168.56.1',
      prefix: 24,
      netmask: '255.255.255.0',
      network: '192.168.56.0',
      dhcpServer: '192.168.56.100',
      lowerIp: '192.168.56.101',
      upperIp: '192.168.56.254',
    })
    expect(hostOnlyNetwork('192.168.59.1/28', ['192.168.56.0/21'])).toMatchObject({
      netmask: '255.255.255.240',
      dhcpServer: '192.168.59.2',
      lowerIp: '192.168.59.3',
      upperIp: '192.168.59.14',
    })
    expect(hostOnlyNetwork('10.8.0.1/16', null)).toMatchObject({
      dhcpServer: '10.8.0.100',
      upperIp: '10.8.255.254',
    })
  })

  it('refuses ranges VirtualBox refuses, and addresses that are not host addresses', () => {
    expect(() => hostOnlyNetwork('192.168.99.1/24', ['192.168.56.0/21'])).toThrow(
      '192.168.99.1/24 is outside the host-only ranges VirtualBox allows (192.168.56.0/21)',
    )
    expect(() => hostOnlyNetwork('192.168.56.1/20', ['192.168.56.0/21'])).toThrow(/outside/)
    expect(() => hostOnlyNetwork('192.168.56.0/24', ['192.168.56.0/21'])).toThrow(
      /network address, not a host address/,
    )
    expect(() => hostOnlyNetwork('192.168.56.255/24', ['192.168.56.0/21'])).toThrow(/broadcast address/)
    expect(() => hostOnlyNetwork('192.168.56.1', null)).toThrow(/not an IPv4 CIDR/)
    expect(() => hostOnlyNetwork('192.168.300.1/24', null)).toThrow(/not an IPv4 address/)
    expect(() => hostOnlyNetwork('192.168.56.1/30', null)).toThrow(/between \/8 and \/29/)
    expect(() => hostOnlyNetwork('192.168.56.254/24', null)).toThrow(/no addresses for guests/)
  })

  it('reads the allowed ranges from networks.conf', () => {
    expect(allowedRanges(undefined)).toEqual(['192.168.56.0/21'])
    expect(allowedRanges('# comment\n* 10.0.0.0/8 192.168.0.0/16\n* 2001::/64\n')).toEqual([
      '10.0.0.0/8',
      '192.168.0.0/16',
    ])
    expect(() => hostOnlyNetwork('10.1.2.1/24', allowedRanges('* 10.0.0.0/8\n'))).not.toThrow()
  })
})

describe('flags', () => {
  it('defaults as documented, with the docker user and the VM named after the machine', async () => {
    const state = (await virtualboxDriver.configure({}, context())) as VirtualBoxState
    expect(state).toMatchObject({
      VMName: 'box',
      CPU: 2,
      Memory: 2048,
      DiskSize: 20000,
      ImageURL: DEFAULT_IMAGE_URL,
      ImageChecksum: '',
      HostOnlyCIDR: '192.168.56.1/24',
      NoHostOnly: false,
      HostOnlyStyle: 'auto',
      NatNicType: 'virtio',
      ShareFolder: '',
      UIType: 'headless',
      SSHUser: 'docker',
      BootTimeout: 300,
      StopTimeout: 60,
      SSHKeyPath: join(dir, 'machines/box/id_ed25519'),
    })
    expect(DEFAULT_IMAGE_URL).toBe(
      'https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.vmdk',
    )
  })

  it('takes values, case-insensitive choices and a share folder', async () => {
    const state = (await virtualboxDriver.configure(
      {
        'virtualbox-memory': 4096,
        'virtualbox-cpu-count': 4,
        'virtualbox-disk-size': 50000,
        'virtualbox-nat-nictype': '82540em',
        'virtualbox-ui-type': 'GUI',
        'virtualbox-share-folder': `${dir}:work`,
        'virtualbox-image-checksum': 'sha256:' + 'a'.repeat(64),
        'virtualbox-no-hostonly': true,
        'virtualbox-hostonly-cidr': 'ignored',
      },
      context(),
    )) as VirtualBoxState
    expect(state).toMatchObject({
      Memory: 4096,
      CPU: 4,
      DiskSize: 50000,
      NatNicType: '82540EM',
      UIType: 'gui',
      ShareFolder: `${dir}:work`,
      NoHostOnly: true,
    })
  })

  it('refuses bad values with the flag named', async () => {
    const bad: Array<[Record<string, string | number | boolean>, RegExp]> = [
      [{'virtualbox-memory': 'lots'}, /--virtualbox-memory "lots" must be a whole number of at least 512/],
      [{'virtualbox-cpu-count': 0}, /--virtualbox-cpu-count 0 must be/],
      [{'virtualbox-nat-nictype': 'e1000'}, /--virtualbox-nat-nictype "e1000" must be one of Am79C970A/],
      [
        {'virtualbox-ui-type': 'vnc'},
        /--virtualbox-ui-type "vnc" must be one of headless, gui, sdl, separate/,
      ],
      [{'virtualbox-hostonly-style': 'bridge'}, /--virtualbox-hostonly-style "bridge"/],
      [{'virtualbox-share-folder': '/nonexistent/dir'}, /is not an existing absolute folder/],
      [{'virtualbox-share-folder': `${dir}:bad name`}, /share name "bad name"/],
      [{'virtualbox-image-url': 'ftp://example.org/x.img'}, /must be http\(s\):\/\/ or file:\/\//],
      [
        {'virtualbox-image-checksum': 'md5:abc'},
        /image checksum "md5:abc" is neither a sha256 or sha512 digest nor the URL of a checksum file/,
      ],
      [{'virtualbox-hostonly-cidr': '192.168.99.1/24'}, /outside the host-only ranges/],
    ]
    for (const [values, message] of bad)
      await expect(virtualboxDriver.configure(values, context()), JSON.stringify(values)).rejects.toThrow(
        message,
      )
  })
})
