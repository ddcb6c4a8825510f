/**
 * Files berth reads from a store play the attacker: a machine's config.json, certificate or key that is a
 * symlink to a file the user can read but must not see printed (/etc/shadow), or that holds such bytes.
 * Each read is refused, and no error carries any of the target's bytes.
 */
import {mkdir, mkdtemp, rm, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {engineClient} from '../../src/core/engine/engine.js'
import {planImport} from '../../src/core/migrate/docker-machine.js'
import {connectSsh} from '../../src/core/ssh/ssh.js'
import {parseJsonQuietly, readStoreFile} from '../../src/core/store/fs.js'
import type {MachineRecord} from '../../src/core/store/record.js'
import {Store} from '../../src/core/store/store.js'

const SHADOW = 'root:$6$SECRETSALT$HASHBYTES:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n'
/** Any run of these in an error would be the target's bytes leaking. */
const LEAKS = /root|SECRET|HASH|daemon|\$6\$/

let dir: string
let shadow: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-reads-'))
  shadow = join(dir, 'shadow')
  await writeFile(shadow, SHADOW, {mode: 0o600})
})

afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

async function message(work: Promise<unknown>): Promise<string> {
  try {
    await work
  } catch (err) {
    return (err as Error).message
  }
  throw new Error('expected a failure')
}

describe('machine records', () => {
  it('store.load refuses a config.json that is a symlink, naming the file, not its target bytes', async () => {
    const store = new Store(join(dir, 'store-link'))
    await mkdir(store.machineDir('evil'), {recursive: true})
    await symlink(shadow, store.recordPath('evil'))
    const text = await message(store.load('evil'))
    expect(text).toMatch(/^record of machine "evil" is unreadable \(.*config\.json: is a symlink\)$/)
    expect(text).not.toMatch(LEAKS)
  })

  it('store.load of a record holding foreign bytes says where it is not JSON, not what is there', async () => {
    const store = new Store(join(dir, 'store-copy'))
    await mkdir(store.machineDir('evil'), {recursive: true})
    await writeFile(store.recordPath('evil'), SHADOW)
    const text = await message(store.load('evil'))
    expect(text).toMatch(/is corrupt \(.*config\.json: not valid JSON( \(at byte \d+\))?\)$/)
    expect(text).not.toMatch(LEAKS)
  })

  it('store.load refuses a folder standing in for config.json', async () => {
    const store = new Store(join(dir, 'store-dir'))
    await mkdir(store.recordPath('odd'), {recursive: true})
    expect(await message(store.load('odd'))).toMatch(/config\.json: is not a regular file\)$/)
  })

  it('import --from refuses a docker-machine config.json that is a symlink', async () => {
    const from = join(dir, 'dm')
    await mkdir(join(from, 'machines', 'evil'), {recursive: true})
    await symlink(shadow, join(from, 'machines', 'evil', 'config.json'))
    const text = await message(planImport(from, 'evil'))
    expect(text).toMatch(/^record of "evil" in .* is unreadable: is a symlink$/)
    expect(text).not.toMatch(LEAKS)
  })

  it('the shared reader and parser never quote the text', async () => {
    await expect(readStoreFile(join(dir, 'shadow-link'))).rejects.toMatchObject({code: 'ENOENT'})
    await symlink(shadow, join(dir, 'shadow-link'))
    await expect(readStoreFile(join(dir, 'shadow-link'))).rejects.toThrow(/^is a symlink$/)
    expect(() => parseJsonQuietly('{"a": "root:SECRET')).toThrow(/^not valid JSON( \(at byte \d+\))?$/)
    expect(parseJsonQuietly('{"a": 1}')).toEqual({a: 1})
  })
})

describe('certificates and keys', () => {
  it('a server.pem that is foreign bytes refuses the engine without echoing them', async () => {
    const record = {
      Name: 'evil',
      Driver: {IPAddress: '127.0.0.1'},
      HostOptions: {
        AuthOptions: {
          CaCertPath: shadow,
          ClientCertPath: shadow,
          ClientKeyPath: shadow,
          ServerCertPath: shadow,
        },
      },
      Berth: {SchemaVersion: 1, EnginePort: 2376},
    } as unknown as MachineRecord
    const text = await message(engineClient(record))
    expect(text).toMatch(/has no usable server certificate to pin/)
    expect(text).not.toMatch(LEAKS)
  })

  it('an SSH key that is foreign bytes is refused without echoing them', async () => {
    const text = await message(
      connectSsh(
        {host: '127.0.0.1', port: 1, user: 'root', privateKeyPath: shadow, machine: 'evil'},
        {pin: async () => {}},
      ),
    )
    expect(text).toMatch(/^cannot use SSH key /)
    expect(text.replace(shadow, '')).not.toMatch(LEAKS)
  })
})
