/**
 * A machine that turned hostile reaches nothing beyond itself: berth, run as a process against
 * a store whose machine answers SSH with a hostile server, writes nothing outside what it was
 * asked to write.
 */
import {mkdir, mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  BERTH_SCHEMA_VERSION,
  CONFIG_VERSION,
  emptyEngineOptions,
  emptySwarmOptions,
} from '../../src/core/store/record.js'
import {ensureSshKey} from '../../src/core/ssh/keys.js'
import {Store} from '../../src/core/store/store.js'
import {startHostileSftp, type HostileSftpServer} from '../lab/hostile-sftp.js'
import {Lab, treeHashes} from '../lab/lab.js'

let lab: Lab
let work: string
let hostile: HostileSftpServer
const machine = {name: ''}

function oneErrorLine(result: {code: number; stderr: string}) {
  expect(result.code).not.toBe(0)
  expect(result.stderr.trim().split('\n'), result.stderr).toHaveLength(1)
  expect(result.stderr).toMatch(/^Error: /)
}

/** A generic machine in the store, its host key pinned to the hostile server's: a machine berth knew, since compromised. */
async function addMachine(store: Store, name: string, server: HostileSftpServer): Promise<void> {
  const dir = await store.reserve(name)
  const keyPath = join(dir, 'id_ed25519')
  // berth's own key maker: ssh2's generator alone now and then emits a key its parser refuses (see keys.ts).
  await ensureSshKey(keyPath, 'berth@hostile')
  const certs = store.certsDir
  await store.save({
    ConfigVersion: CONFIG_VERSION,
    Driver: {
      IPAddress: server.host,
      MachineName: name,
      SSHUser: 'root',
      SSHPort: server.port,
      SSHKeyPath: keyPath,
      StorePath: store.root,
    },
    DriverName: 'generic',
    HostOptions: {
      Driver: '',
      Memory: 0,
      Disk: 0,
      EngineOptions: emptyEngineOptions(),
      SwarmOptions: emptySwarmOptions(),
      AuthOptions: {
        CertDir: certs,
        CaCertPath: join(certs, 'ca.pem'),
        CaPrivateKeyPath: join(certs, 'ca-key.pem'),
        CaCertRemotePath: '',
        ServerCertPath: join(dir, 'server.pem'),
        ServerKeyPath: join(dir, 'server-key.pem'),
        ClientKeyPath: join(certs, 'key.pem'),
        ServerCertRemotePath: '',
        ServerKeyRemotePath: '',
        ClientCertPath: join(certs, 'cert.pem'),
        ServerCertSANs: [],
        StorePath: dir,
      },
    },
    Name: name,
    Berth: {
      SchemaVersion: BERTH_SCHEMA_VERSION,
      CreatedAt: new Date().toISOString(),
      Phase: 'provisioned',
      SSHHostKey: server.hostKey,
      EnginePort: 2376,
      Timings: {},
    },
  })
}

beforeAll(async () => {
  lab = await Lab.create()
  work = await mkdtemp(join(tmpdir(), 'berth-hostile-'))
  machine.name = lab.name('hostile')
  hostile = await startHostileSftp({
    // From DEST/dotdot, four levels up is WORK/a/b: outside the destination.
    dotdot: {'ok.txt': 'fine', '../../../../pwned': 'owned'},
    slash: {'sub/../../../../../pwned': 'owned'},
    absolute: {'/tmp/pwned': 'owned'},
    nul: {'a\0b': 'owned'},
    deeper: {inner: {'z.txt': 'fine', '../../../../../pwned': 'owned'}},
    escape: {'\u001b[2J/../x': 'owned'},
    plain: {'.': {}, '..': {}, 'ok.txt': 'fine', sub: {'leaf.txt': 'leaf'}},
  })
  await addMachine(new Store(lab.storePath), machine.name, hostile)
  // The first command on a store may migrate it (one line); the tests below want only their own output.
  expect((await lab.berth(['ls', '-q'])).code).toBe(0)
})

afterAll(async () => {
  await hostile?.close()
  await lab?.cleanup()
  if (work) await rm(work, {recursive: true, force: true})
})

describe('scp -r from a hostile SFTP server', {timeout: 60_000}, () => {
  it('refuses listed names with "/", NUL or "..", and writes nothing outside the destination', async () => {
    const dest = join(work, 'a/b/c/d/dest')
    await mkdir(dest, {recursive: true})
    for (const folder of ['dotdot', 'slash', 'absolute', 'nul', 'deeper', 'escape']) {
      const result = await lab.berth(['scp', '-q', '-r', `${machine.name}:/${folder}`, dest])
      oneErrorLine(result)
      expect(result.stderr).toMatch(
        /lists an entry named .*, which is not a plain file name; refusing to copy it/,
      )
      expect(result.stderr).not.toContain('\u001b')
    }
    // A listing is checked whole before any of its entries is copied: only empty folders inside the destination were made.
    expect(await treeHashes(work)).toEqual({})
    expect(hostile.writes).toEqual([])
  })

  it('copies an honest listing, skipping the "." and ".." entries every SFTP listing has', async () => {
    const dest = await mkdtemp(join(work, 'plain-'))
    const result = await lab.berth(['scp', '-r', `${machine.name}:/plain`, dest])
    expect(result.code, result.stderr).toBe(0)
    expect(Object.keys(await treeHashes(dest)).sort()).toEqual(['plain/ok.txt', 'plain/sub/leaf.txt'])
  })
})
