import {mkdir, mkdtemp, readdir, rm, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {LocalEndpoint} from '../../src/core/transfer/endpoints.js'
import {entryName, parseLocation, remotePath} from '../../src/core/transfer/location.js'
import {defaultMountPoint, sshfsMountAt} from '../../src/core/transfer/mount.js'
import {knownHostsLine, remoteSpec, rsyncShell, rsyncWord} from '../../src/core/transfer/openssh.js'
import {copyTree, isUnder, listedName, planCopies} from '../../src/core/transfer/scp.js'

describe('machine:path parsing', () => {
  it('splits NAME:PATH when NAME is a machine name', () => {
    expect(parseLocation('dev:/etc/hosts')).toEqual({machine: 'dev', path: '/etc/hosts'})
    expect(parseLocation('web-1.prod:logs/a.txt')).toEqual({machine: 'web-1.prod', path: 'logs/a.txt'})
    expect(parseLocation('dev:')).toEqual({machine: 'dev', path: '.'})
    expect(parseLocation('dev:~/x')).toEqual({machine: 'dev', path: 'x'})
    expect(parseLocation('dev:a:b')).toEqual({machine: 'dev', path: 'a:b'})
  })

  it('keeps local paths local, colons and all', () => {
    expect(parseLocation('/tmp/a:b')).toEqual({path: '/tmp/a:b'})
    expect(parseLocation('./dev:x')).toEqual({path: './dev:x'})
    expect(parseLocation('~/dev:x')).toEqual({path: '~/dev:x'})
    expect(parseLocation('dir/dev:x')).toEqual({path: 'dir/dev:x'})
    expect(parseLocation('plain.txt')).toEqual({path: 'plain.txt'})
    expect(parseLocation(':x')).toEqual({path: ':x'})
    expect(parseLocation('-bad:x')).toEqual({path: '-bad:x'})
    expect(() => parseLocation('')).toThrow(/empty path/)
  })

  it('maps ~ to the login folder and names entries like scp', () => {
    expect(remotePath('~')).toBe('.')
    expect(remotePath('~/')).toBe('.')
    expect(remotePath('/abs')).toBe('/abs')
    expect(entryName('/a/b/')).toBe('b')
    expect(entryName('file.txt')).toBe('file.txt')
    expect(entryName('/')).toBe('')
    expect(entryName('.')).toBe('')
  })
})

describe('OpenSSH options from the pinned key', () => {
  const target = {
    host: '10.0.0.7',
    port: 22,
    user: 'root',
    keyPath: '/store/machines/dev/id_ed25519',
    hostKey: 'ssh-ed25519 AAAAC3Nz',
  }

  it('writes known_hosts lines with the port when it is not 22', () => {
    expect(knownHostsLine('10.0.0.7', 22, 'ssh-ed25519 AAAA')).toBe('10.0.0.7 ssh-ed25519 AAAA\n')
    expect(knownHostsLine('10.0.0.7', 2222, 'ssh-ed25519 AAAA')).toBe('[10.0.0.7]:2222 ssh-ed25519 AAAA\n')
    expect(() => knownHostsLine('h', 22, 'ssh-ed25519 AAAA\nevil')).toThrow(/malformed/)
  })

  it('refuses a host or user from a record that rsync, sshfs or known_hosts would read as more than a name', () => {
    for (const host of [
      '-oProxyCommand=touch /tmp/x',
      '10.0.0.7\n10.0.0.8',
      '10.0.0.7 ssh-ed25519',
      'a@b',
      '',
    ])
      expect(() => remoteSpec({host, user: 'root'}, 'x'), host).toThrow(
        /^SSH host .* is not a valid host name$/,
      )
    for (const user of ['-oProxyCommand=touch /tmp/x', 'root@evil', 'a:b', 'a b', ''])
      expect(() => remoteSpec({host: '10.0.0.7', user}, 'x'), user).toThrow(
        /^SSH user .* is not a valid user name$/,
      )
    expect(() => knownHostsLine('evil\n10.0.0.8', 22, 'ssh-ed25519 AAAA')).toThrow(/not a valid host name/)
    expect(remoteSpec({host: 'web-1.example', user: 'ec2-user'}, '/srv')).toBe('ec2-user@web-1.example:/srv')
  })

  it('builds an rsync -e command that verifies strictly and passes the key by path', () => {
    const shell = rsyncShell({...target, port: 2222}, '/tmp/kh dir/known_hosts')
    expect(shell).toContain('-p 2222')
    expect(shell).toContain('-i /store/machines/dev/id_ed25519')
    expect(shell).toContain('-o StrictHostKeyChecking=yes')
    expect(shell).toContain("-o 'UserKnownHostsFile=/tmp/kh dir/known_hosts'")
    expect(shell).not.toMatch(/StrictHostKeyChecking=no/)
    expect(rsyncWord("it's")).toBe(`"it's"`)
    expect(() => rsyncWord(`a'b"c`)).toThrow(/both quote/)
    expect(remoteSpec({host: 'fd00::7', user: 'root'}, 'x')).toBe('root@[fd00::7]:x')
  })

  it('finds sshfs mounts in mountinfo and picks a default mount point', async () => {
    const info =
      '36 35 0:40 / /mnt/my\\040dir rw,nosuid - fuse.sshfs root@10.0.0.7:/srv rw\n37 35 0:41 / /tmp rw - tmpfs tmpfs rw\n'
    expect(await sshfsMountAt('/mnt/my dir', info)).toBe('root@10.0.0.7:/srv')
    expect(await sshfsMountAt('/tmp', info)).toBeUndefined()
    expect(defaultMountPoint({machine: 'dev', path: '/srv/app'})).toBe(join(process.cwd(), 'app'))
    expect(defaultMountPoint({machine: 'dev', path: '.'})).toBe(join(process.cwd(), 'dev'))
  })
})

describe('copy planning (scp rules, checked before anything is written)', () => {
  let dir: string
  const local = new LocalEndpoint()
  const plan = (sources: string[], dest: string, recursive = false) =>
    planCopies(() => local, {
      sources: sources.map((p) => ({path: join(dir, p)})),
      destination: {machine: 'm', path: join(dir, dest)},
      recursive,
      delta: false,
    })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-plan-'))
    await mkdir(join(dir, 'folder/sub'), {recursive: true})
    await writeFile(join(dir, 'a.txt'), 'a')
    await writeFile(join(dir, 'b.txt'), 'b')
    await mkdir(join(dir, 'dest'))
  })
  afterAll(() => rm(dir, {recursive: true, force: true}))

  it('copies into a folder, or as the named target', async () => {
    expect((await plan(['a.txt'], 'dest')).map((p) => p.target.path)).toEqual([join(dir, 'dest/a.txt')])
    expect((await plan(['a.txt'], 'new.txt')).map((p) => p.target.path)).toEqual([join(dir, 'new.txt')])
    expect(await plan(['folder'], 'copy', true)).toEqual([
      {source: {path: join(dir, 'folder')}, target: {machine: 'm', path: join(dir, 'copy')}, isDir: true},
    ])
  })

  it('refuses what scp refuses', async () => {
    await expect(plan(['a.txt', 'b.txt'], 'new.txt')).rejects.toThrow(/not a folder/)
    await expect(plan(['folder'], 'dest')).rejects.toThrow(/use -r/)
    await expect(plan(['missing'], 'dest')).rejects.toThrow(/no such file or folder/)
    await expect(plan(['a.txt'], 'nowhere/x')).rejects.toThrow(/no such folder/)
    await expect(plan(['folder'], 'a.txt', true)).rejects.toThrow(/is a file/)
    await expect(
      planCopies(() => local, {
        sources: [{path: 'a'}],
        destination: {path: 'b'},
        recursive: false,
        delta: false,
      }),
    ).rejects.toThrow(/neither side names a machine/)
  })
})

describe('copies stay inside their target', () => {
  const local = new LocalEndpoint()

  it('takes only plain names from a listing', () => {
    expect(listedName('a b.txt', local, '/src')).toBe('a b.txt')
    expect(listedName('..hidden', local, '/src')).toBe('..hidden')
    for (const name of ['', '.', '..', '../x', 'a/b', '/etc/passwd', 'a\0b']) {
      expect(() => listedName(name, local, '/src'), name).toThrow(/is not a plain file name/)
    }
  })

  it('tells a path under a root from one that leaves it', () => {
    expect(isUnder('/d/t', '/d/t')).toBe(true)
    expect(isUnder('/d/t', '/d/t/a/b')).toBe(true)
    expect(isUnder('/d/t', '/d/t/..x')).toBe(true)
    expect(isUnder('/d/t', '/d')).toBe(false)
    expect(isUnder('/d/t', '/d/tt')).toBe(false)
    expect(isUnder('/d/t', '/etc')).toBe(false)
  })

  it('refuses to write through a folder that is a symlink out of the target', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-confine-'))
    try {
      await mkdir(join(dir, 'src/link'), {recursive: true})
      await writeFile(join(dir, 'src/link/payload'), 'x')
      await mkdir(join(dir, 'dest/tree'), {recursive: true})
      await mkdir(join(dir, 'outside'))
      await symlink(join(dir, 'outside'), join(dir, 'dest/tree/link'))
      await expect(
        copyTree(local, join(dir, 'src'), local, join(dir, 'dest/tree'), {files: 0, bytes: 0}),
      ).rejects.toThrow(/leads outside .*; refusing to write there/)
      expect(await readdir(join(dir, 'outside'))).toEqual([])
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})
