/**
 * Moving files and machines on the real lab: scp (SFTP and rsync --delta, both directions,
 * folders, machine to machine), mount (sshfs), adopting a docker-machine store written in
 * docker-machine's own format, and export/import of a machine bundle into another store, each
 * then used by the real docker CLI through `berth env`.
 */
import {chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {dockerMachineHostOptions, Lab, run, treeHashes} from '../lab/lab.js'

let lab: Lab // the store under test
let origin: Lab // where the machine docker-machine "made" really lives
let other: Lab // a second workstation's store, for bundles
let work: string
let dm: string // the docker-machine store fixture
const a = {name: ''}
const c = {name: ''}
const adopted = {name: ''}
const legacy = {name: ''}
const V2 = 'version 2'

function oneErrorLine(result: {code: number; stderr: string}) {
  expect(result.code).not.toBe(0)
  expect(result.stderr.trim().split('\n'), result.stderr).toHaveLength(1)
  expect(result.stderr).toMatch(/^Error: /)
}

async function sshOut(store: Lab, name: string, command: string): Promise<string> {
  const result = await store.berth(['ssh', name, command])
  expect(result.code, result.stderr).toBe(0)
  return result.stdout
}

/** Lays out `c` as docker-machine would have: its store certs, and a generic machine folder pointing at c's IP with c's key. */
async function writeDockerMachineStore(): Promise<void> {
  const src = JSON.parse(await readFile(join(origin.storePath, 'machines', c.name, 'config.json'), 'utf8'))
  const certs = join(dm, 'certs')
  const mdir = join(dm, 'machines', adopted.name)
  await mkdir(certs, {recursive: true, mode: 0o700})
  await mkdir(mdir, {recursive: true, mode: 0o700})
  const from = join(origin.storePath, 'machines', c.name)
  // docker-machine's CA is the one that signed the engine's certificate: the origin machine's own CA.
  for (const f of ['ca.pem', 'ca-key.pem']) await copyFile(join(from, f), join(certs, f))
  for (const f of ['cert.pem', 'key.pem']) await copyFile(join(origin.storePath, 'certs', f), join(certs, f))
  for (const f of ['ca.pem', 'cert.pem', 'key.pem', 'server.pem', 'server-key.pem'])
    await copyFile(join(from, f), join(mdir, f))
  await copyFile(join(from, 'id_ed25519'), join(mdir, 'id_rsa'))
  await copyFile(join(from, 'id_ed25519.pub'), join(mdir, 'id_rsa.pub'))
  for (const f of ['ca-key.pem', 'key.pem']) await chmod(join(certs, f), 0o600)
  for (const f of ['id_rsa', 'key.pem', 'server-key.pem']) await chmod(join(mdir, f), 0o600)
  // docker-machine's generic driver record, as `docker-machine create -d generic` writes it (4-space JSON).
  const record = {
    ConfigVersion: 3,
    Driver: {
      IPAddress: src.Driver.IPAddress,
      MachineName: adopted.name,
      SSHUser: 'root',
      SSHPort: 22,
      SSHKeyPath: join(mdir, 'id_rsa'),
      StorePath: dm,
      SwarmMaster: false,
      SwarmHost: '',
      SwarmDiscovery: '',
      EnginePort: 2376,
      SSHKey: '/home/someone/.ssh/id_rsa',
    },
    DriverName: 'generic',
    HostOptions: dockerMachineHostOptions(certs, mdir),
    Name: adopted.name,
  }
  await writeFile(join(mdir, 'config.json'), JSON.stringify(record, null, '    '))
  // A VirtualBox machine berth has no driver for.
  const vdir = join(dm, 'machines', legacy.name)
  await mkdir(vdir, {recursive: true})
  const vbox = structuredClone(record)
  vbox.DriverName = 'virtualbox'
  vbox.Name = legacy.name
  await writeFile(join(vdir, 'config.json'), JSON.stringify(vbox, null, '    '))
}

beforeAll(async () => {
  ;[lab, origin, other] = await Promise.all([Lab.create(), Lab.create(), Lab.create()])
  work = await mkdtemp(join(tmpdir(), 'berth-lcb-'))
  dm = join(work, 'docker-machine')
  a.name = lab.name('scp')
  c.name = origin.name('dm')
  adopted.name = lab.name('dm-gen')
  legacy.name = lab.name('dm-vbox')
  const [ca, cc] = await Promise.all([
    lab.berth(['create', '-d', 'container', a.name]),
    origin.berth(['create', '-d', 'container', c.name]),
  ])
  expect(ca.code, ca.stderr).toBe(0)
  expect(cc.code, cc.stderr).toBe(0)
  await writeDockerMachineStore()
})

afterAll(async () => {
  await run('fusermount3', ['-u', join(work ?? '/nonexistent', 'mnt')]).catch(() => undefined)
  if (lab) await lab.berth(['rm', '-f', a.name, adopted.name])
  if (other) await other.berth(['rm', '-f', adopted.name])
  if (origin) await origin.berth(['rm', '-f', c.name])
  for (const l of [lab, origin, other]) await l?.cleanup()
  if (work) await rm(work, {recursive: true, force: true})
})

describe('scp', () => {
  it('copies files both ways over SFTP, keeping content and mode', async () => {
    const src = join(work, 'hello.sh')
    await writeFile(src, '#!/bin/sh\necho hello\n', {mode: 0o750})
    const up = await lab.berth(['scp', src, `${a.name}:/tmp/`])
    expect(up.code, up.stderr).toBe(0)
    expect(up.stdout).toBe('')
    expect(await sshOut(lab, a.name, 'stat -c %a /tmp/hello.sh && sh /tmp/hello.sh')).toBe('750\nhello\n')
    const down = await lab.berth(['scp', '-q', `${a.name}:/tmp/hello.sh`, join(work, 'back.sh')])
    expect(down.code, down.stderr).toBe(0)
    expect(down.stderr).toBe('')
    expect(await readFile(join(work, 'back.sh'), 'utf8')).toBe('#!/bin/sh\necho hello\n')
    expect((await stat(join(work, 'back.sh'))).mode & 0o777).toBe(0o750)
    // Several sources into a folder; a relative remote path is the login folder.
    await writeFile(join(work, 'two.txt'), 'two')
    expect((await lab.berth(['scp', src, join(work, 'two.txt'), `${a.name}:`])).code).toBe(0)
    expect(await sshOut(lab, a.name, 'cat ~/two.txt; ls ~/hello.sh')).toBe('two/root/hello.sh\n')
  })

  it('-r copies folders both ways', async () => {
    const tree = join(work, 'tree')
    await mkdir(join(tree, 'sub/deeper'), {recursive: true})
    await writeFile(join(tree, 'top.txt'), 'top')
    await writeFile(join(tree, 'sub/deeper/leaf.txt'), 'leaf')
    const up = await lab.berth(['scp', '-r', tree, `${a.name}:/srv/tree`])
    expect(up.code, up.stderr).toBe(0)
    expect(
      await sshOut(lab, a.name, 'cd /srv/tree && find . -type f | sort && cat sub/deeper/leaf.txt'),
    ).toBe('./sub/deeper/leaf.txt\n./top.txt\nleaf')
    const down = await lab.berth(['scp', '-r', `${a.name}:/srv/tree`, join(work, 'tree-back')])
    expect(down.code, down.stderr).toBe(0)
    expect(await readFile(join(work, 'tree-back/sub/deeper/leaf.txt'), 'utf8')).toBe('leaf')
  })

  it('--delta syncs with rsync over ssh (installed on the machine when missing), both ways', async () => {
    expect((await lab.berth(['ssh', a.name, 'command -v rsync'])).code).not.toBe(0)
    const site = join(work, 'site')
    await mkdir(site)
    await writeFile(join(site, 'index.html'), 'v1')
    await writeFile(join(site, 'big.bin'), Buffer.alloc(2 * 1024 * 1024, 7))
    const first = await lab.berth(['scp', '-r', '--delta', site, `${a.name}:/srv/site`])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stderr).toMatch(/Installing rsync/)
    expect(first.stdout).toBe('') // rsync's own output goes to stderr: stdout is for data
    expect(await sshOut(lab, a.name, 'cat /srv/site/index.html; stat -c %s /srv/site/big.bin')).toBe(
      'v1' + String(2 * 1024 * 1024) + '\n',
    )
    // Only the change travels: the big file keeps its inode (rsync skipped it), the small one is new.
    const inode = await sshOut(lab, a.name, 'stat -c %i /srv/site/big.bin')
    // A new size: rsync's quick check compares size and mtime, and this may well be the same second.
    await writeFile(join(site, 'index.html'), V2)
    // scp's rule: into an existing folder, so the same tree lands on /srv/site again.
    const second = await lab.berth(['scp', '-r', '-d', '-q', site, `${a.name}:/srv`])
    expect(second.code, second.stderr).toBe(0)
    expect(second.stderr).toBe('')
    expect(await sshOut(lab, a.name, 'cat /srv/site/index.html')).toBe(V2)
    expect(await sshOut(lab, a.name, 'stat -c %i /srv/site/big.bin')).toBe(inode)
    const down = await lab.berth(['scp', '-r', '-d', `${a.name}:/srv/site`, join(work, 'site-back')])
    expect(down.code, down.stderr).toBe(0)
    expect(await readFile(join(work, 'site-back/index.html'), 'utf8')).toBe(V2)
    expect((await stat(join(work, 'site-back/big.bin'))).size).toBe(2 * 1024 * 1024)
  })
})

describe('mount', () => {
  it('mounts a machine folder with sshfs, reads and writes through it, and unmounts', async () => {
    const mnt = join(work, 'mnt')
    const mounted = await lab.berth(['mount', `${a.name}:/srv/tree`, mnt])
    expect(mounted.code, mounted.stderr).toBe(0)
    try {
      expect(await readFile(join(mnt, 'top.txt'), 'utf8')).toBe('top')
      await writeFile(join(mnt, 'from-mount.txt'), 'written locally')
      expect(await sshOut(lab, a.name, 'cat /srv/tree/from-mount.txt')).toBe('written locally')
      const again = await lab.berth(['mount', `${a.name}:/srv/tree`, mnt])
      oneErrorLine(again)
      expect(again.stderr).toMatch(/already an sshfs mount/)
    } finally {
      const un = await lab.berth(['mount', '-u', `${a.name}:/srv/tree`, mnt])
      expect(un.code, un.stderr).toBe(0)
    }
    expect(await readdir(mnt)).toEqual([])
    oneErrorLine(await lab.berth(['mount', '-u', `${a.name}:/srv/tree`, mnt]))
  })

  it('says what is missing when sshfs or FUSE is not there, before touching anything', async () => {
    const empty = join(work, 'empty-bin')
    await mkdir(empty)
    const result = await lab.berth(['mount', `${a.name}:/srv/tree`, join(work, 'never')], {
      env: {PATH: empty},
    })
    oneErrorLine(result)
    expect(result.stderr).toMatch(/sshfs\/FUSE not available: sshfs is not installed/)
    await expect(stat(join(work, 'never'))).rejects.toThrow()
  })

  it('refuses a missing machine, a file, and a missing parent folder', async () => {
    for (const args of [
      ['nosuch:/srv', join(work, 'm1')],
      [`${a.name}:/srv/tree/top.txt`, join(work, 'm2')],
      [`${a.name}:/srv`, join(work, 'no/such/m3')],
    ]) {
      const result = await lab.berth(['mount', ...args])
      oneErrorLine(result)
      await expect(stat(args[1]!)).rejects.toThrow()
    }
  })
})

describe('import from a docker-machine store', () => {
  let before: Record<string, string>

  it('refuses the whole import when a named machine cannot be managed', async () => {
    before = await treeHashes(dm)
    const result = await lab.berth(['import', '--from', dm, adopted.name, legacy.name])
    oneErrorLine(result)
    expect(result.stderr).toMatch(/docker-machine's virtualbox driver, whose machines berth cannot adopt/)
    expect((await lab.berth(['ls', '-q'])).stdout.split('\n')).not.toContain(adopted.name)
  })

  it('adopts the generic machine (skipping the VirtualBox one), used by the real docker CLI through `berth env`', async () => {
    const result = await lab.berth(['import', '--from', dm, '--json'])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toMatch(new RegExp(`Skipping ${legacy.name}: .*virtualbox`))
    expect(JSON.parse(result.stdout)).toEqual([
      expect.objectContaining({name: adopted.name, driver: 'generic'}),
    ])
    const record = JSON.parse(
      await readFile(join(lab.storePath, 'machines', adopted.name, 'config.json'), 'utf8'),
    )
    expect(JSON.stringify(record)).not.toContain(dm)
    expect(record.HostOptions.AuthOptions.CaCertPath).toBe(
      join(lab.storePath, 'machines', adopted.name, 'ca.pem'),
    )
    expect(record.Berth).toMatchObject({Phase: 'provisioned', SchemaVersion: 1, EnginePort: 2376})
    const env = await lab.berth(['env', adopted.name])
    expect(env.stdout).toContain(`DOCKER_CERT_PATH="${join(lab.storePath, 'machines', adopted.name)}"`)
    const version = await lab.docker(adopted.name, ['version', '--format', '{{.Server.Version}}'])
    expect(version.code, version.stderr).toBe(0)
    const ls = await lab.berth([
      'ls',
      '--filter',
      `name=${adopted.name}`,
      '--format',
      '{{.Name}} {{.DriverName}} {{.State}}',
    ])
    expect(ls.stdout).toBe(`${adopted.name} generic Running\n`)
    // SSH pins the host key on first use and sees the very machine `c`.
    expect(await sshOut(lab, adopted.name, 'hostname')).toBe(`${c.name}\n`)
    expect(await treeHashes(dm)).toEqual(before)
  })

  it('imports nothing twice, and says so for a store that is not one', async () => {
    oneErrorLine(await lab.berth(['import', '--from', dm, adopted.name]))
    const notStore = await lab.berth(['import', '--from', join(work, 'nowhere')])
    oneErrorLine(notStore)
    expect(notStore.stderr).toMatch(/not a docker-machine store/)
    oneErrorLine(await lab.berth(['import', '--from', dm, 'missing-one']))
    expect(await treeHashes(dm)).toEqual(before)
  })
})

describe('machine to machine', () => {
  it('copies between two machines through this computer, plain and --delta', async () => {
    const plain = await lab.berth(['scp', '-r', `${a.name}:/srv/tree`, `${adopted.name}:/tmp/`])
    expect(plain.code, plain.stderr).toBe(0)
    expect(await sshOut(lab, adopted.name, 'cat /tmp/tree/sub/deeper/leaf.txt')).toBe('leaf')
    const delta = await lab.berth([
      'scp',
      '-d',
      `${a.name}:/srv/site/index.html`,
      `${adopted.name}:/tmp/index.html`,
    ])
    expect(delta.code, delta.stderr).toBe(0)
    expect(await sshOut(lab, adopted.name, 'cat /tmp/index.html')).toBe(V2)
  })
})

describe('export and import of a bundle', () => {
  const bundle = () => join(work, 'moved.berth.tgz')

  it('exports to a private tar.gz and restores it into another store, where the docker CLI works', async () => {
    const exported = await lab.berth(['export', adopted.name, bundle()])
    expect(exported.code, exported.stderr).toBe(0)
    expect((await stat(bundle())).mode & 0o777).toBe(0o600)
    const imported = await other.berth(['import', '--bundle', bundle()])
    expect(imported.code, imported.stderr).toBe(0)
    const record = JSON.parse(
      await readFile(join(other.storePath, 'machines', adopted.name, 'config.json'), 'utf8'),
    )
    expect(JSON.stringify(record)).not.toContain(lab.storePath)
    expect(record.HostOptions.AuthOptions.CaPrivateKeyPath).toBe('')
    expect(record.Driver.SSHKeyPath).toBe(join(other.storePath, 'machines', adopted.name, 'id_rsa'))
    expect((await stat(record.Driver.SSHKeyPath)).mode & 0o777).toBe(0o600)
    const version = await other.docker(adopted.name, ['version', '--format', '{{.Server.Version}}'])
    expect(version.code, version.stderr).toBe(0)
    expect(await sshOut(other, adopted.name, 'cat /tmp/index.html')).toBe(V2)
  })

  it('refuses corrupt bundles and existing names with one line, writing nothing', async () => {
    const names = async () => (await readdir(join(other.storePath, 'machines'))).sort()
    const held = await names()
    const garbage = join(work, 'garbage.tgz')
    await writeFile(garbage, 'not a bundle at all')
    const original = await readFile(bundle())
    const truncated = join(work, 'truncated.tgz')
    await writeFile(truncated, original.subarray(0, Math.floor(original.length / 2)))
    const foreign = join(work, 'foreign.tgz')
    await writeFile(foreign, gzipSync(Buffer.alloc(1024)))
    for (const file of [garbage, truncated, foreign, join(work, 'missing.tgz')]) {
      const result = await other.berth(['import', '--bundle', file])
      oneErrorLine(result)
      expect(result.code).toBe(2)
    }
    const again = await other.berth(['import', '--bundle', bundle()])
    oneErrorLine(again)
    expect(again.stderr).toMatch(/already exists/)
    expect(await names()).toEqual(held)
  })
})

describe('bad input', () => {
  it('scp: missing machine, missing source, folder without -r, missing target folder: one line, nothing written', async () => {
    const cases: [string[], RegExp][] = [
      [[join(work, 'two.txt'), 'nosuch:/tmp/'], /machine "nosuch" does not exist/],
      [[join(work, 'absent.txt'), `${a.name}:/tmp/`], /no such file or folder/],
      [[join(work, 'tree'), `${a.name}:/tmp/`], /use -r/],
      [[join(work, 'two.txt'), `${a.name}:/no/such/dir/x`], /no such folder/],
      [[`${a.name}:/etc/hostname`, join(work, 'no/such/x')], /no such folder/],
      [[join(work, 'two.txt'), join(work, 'three.txt')], /neither side names a machine/],
    ]
    for (const [args, message] of cases) {
      const result = await lab.berth(['scp', ...args])
      oneErrorLine(result)
      expect(result.stderr).toMatch(message)
    }
    expect((await lab.berth(['ssh', a.name, 'test -e /no/such/dir'])).code).not.toBe(0)
    await expect(stat(join(work, 'three.txt'))).rejects.toThrow()
  })

  it('export: missing machine and a missing folder leave no file', async () => {
    oneErrorLine(await lab.berth(['export', 'nosuch', join(work, 'x.tgz')]))
    oneErrorLine(await lab.berth(['export', a.name, join(work, 'no/such/x.tgz')]))
    await expect(stat(join(work, 'x.tgz'))).rejects.toThrow()
  })
})
