/**
 * `export` never overwrites a file it was not told to: an existing bundle, or a symlink planted where the
 * bundle goes (pointing at a file the attacker wants clobbered), stays as it was without --force; with it,
 * the file is replaced atomically and a symlink itself is replaced, its target untouched.
 */
import {lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {exportMachine} from '../../src/core/migrate/bundle.js'
import {writeFileAtomic} from '../../src/core/store/fs.js'
import {BERTH_SCHEMA_VERSION, emptyEngineOptions, emptySwarmOptions} from '../../src/core/store/record.js'
import {Store} from '../../src/core/store/store.js'

let dir: string
let store: Store

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-export-'))
  store = new Store(join(dir, 'store'))
  const folder = store.machineDir('m')
  await mkdir(folder, {recursive: true})
  await writeFile(join(folder, 'id_ed25519'), 'KEY\n', {mode: 0o600})
  await writeFile(
    store.recordPath('m'),
    JSON.stringify({
      ConfigVersion: 3,
      Driver: {IPAddress: '10.0.0.5', SSHUser: 'root', SSHPort: 22, SSHKeyPath: join(folder, 'id_ed25519')},
      DriverName: 'generic',
      HostOptions: {
        EngineOptions: emptyEngineOptions(),
        SwarmOptions: emptySwarmOptions(),
        AuthOptions: {StorePath: folder, CertDir: join(dir, 'store', 'certs'), ServerCertSANs: []},
      },
      Name: 'm',
      Berth: {SchemaVersion: BERTH_SCHEMA_VERSION, Phase: 'provisioned', EnginePort: 2376, Timings: {}},
    }),
  )
})

afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

async function failure(work: Promise<unknown>): Promise<{message: string; hint?: string; exitCode?: number}> {
  try {
    await work
  } catch (err) {
    return err as {message: string; hint?: string; exitCode?: number}
  }
  throw new Error('expected a failure')
}

describe('export', () => {
  it('refuses to replace an existing file without --force, and replaces it whole with it', async () => {
    const file = join(dir, 'm.tgz')
    await writeFile(file, 'precious\n')
    const err = await failure(exportMachine(store, 'm', file))
    expect([err.message, err.hint, err.exitCode]).toEqual([`${file} exists`, 'pass --force to replace it', 2])
    expect(await readFile(file, 'utf8')).toBe('precious\n')
    await exportMachine(store, 'm', file, true)
    expect((await readFile(file)).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])) // gzip
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })

  it('a symlink planted at the bundle path is never followed: refused, and with --force replaced itself', async () => {
    const victim = join(dir, 'victim')
    await writeFile(victim, 'do not touch\n')
    const link = join(dir, 'planted.tgz')
    await symlink(victim, link)
    expect((await failure(exportMachine(store, 'm', link))).message).toBe(`${link} exists`)
    const dangling = join(dir, 'dangling.tgz')
    await symlink(join(dir, 'made-by-export'), dangling)
    expect((await failure(exportMachine(store, 'm', dangling))).message).toBe(`${dangling} exists`)
    await exportMachine(store, 'm', link, true)
    expect((await lstat(link)).isFile()).toBe(true)
    expect((await lstat(link)).mode & 0o777).toBe(0o600)
    expect(await readFile(victim, 'utf8')).toBe('do not touch\n')
    await expect(lstat(join(dir, 'made-by-export'))).rejects.toThrow(/ENOENT/)
  })

  it('a file made between the check and the write is not replaced either (linked into place, not renamed)', async () => {
    const file = join(dir, 'raced')
    await writeFile(file, 'first\n')
    await expect(writeFileAtomic(file, 'second\n', 0o600, false)).rejects.toMatchObject({code: 'EEXIST'})
    expect(await readFile(file, 'utf8')).toBe('first\n')
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })
})
