/**
 * Crafted bundles and docker-machine stores, played by an attacker: every path an imported record
 * names must be a file of the machine's own folder; anything else is refused with one line and
 * nothing is written.
 */
import {createHash} from 'node:crypto'
import {mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'
import {gzipSync} from 'node:zlib'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {tarArchive, type TarEntry} from '../../src/core/archive/tar.js'
import {createCA, ensureStoreCerts, issueCert, type KeyAndCert} from '../../src/core/certs/certs.js'
import {BerthError} from '../../src/core/errors.js'
import {BUNDLE_FORMAT, BUNDLE_VERSION, importBundle, MANIFEST} from '../../src/core/migrate/bundle.js'
import {planImport} from '../../src/core/migrate/docker-machine.js'
import {
  BERTH_SCHEMA_VERSION,
  CONFIG_VERSION,
  emptyEngineOptions,
  emptySwarmOptions,
  type MachineRecord,
} from '../../src/core/store/record.js'
import {Store} from '../../src/core/store/store.js'
import {dockerMachineHostOptions} from '../lab/lab.js'

let work: string
let ca: KeyAndCert
let server: KeyAndCert
let client: KeyAndCert

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-confine-'))
  ca = await createCA('machine CA')
  server = await issueCert(ca, {kind: 'server', commonName: 'web', sans: ['10.0.0.5']})
  client = await issueCert(ca, {kind: 'client', commonName: 'client'})
})

afterAll(async () => {
  await rm(work, {recursive: true, force: true})
})

/** Every file under `dir`, relative, for "nothing written" checks. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, {withFileTypes: true, recursive: true}))
    out.push(relative(dir, join(entry.parentPath, entry.name)))
  return out.sort()
}

/** A bundle's record as `export` writes it: paths relative to the machine folder. */
function bundledRecord(): MachineRecord {
  return {
    ConfigVersion: CONFIG_VERSION,
    Driver: {
      IPAddress: '10.0.0.5',
      MachineName: 'web',
      SSHUser: 'root',
      SSHPort: 22,
      SSHKeyPath: 'id_ed25519',
      StorePath: '../..',
    },
    DriverName: 'generic',
    HostOptions: {
      Driver: '',
      Memory: 0,
      Disk: 0,
      EngineOptions: emptyEngineOptions(),
      SwarmOptions: emptySwarmOptions(),
      AuthOptions: {
        CertDir: '.',
        CaCertPath: 'ca.pem',
        CaPrivateKeyPath: '',
        CaCertRemotePath: '',
        ServerCertPath: 'server.pem',
        ServerKeyPath: 'server-key.pem',
        ClientKeyPath: 'key.pem',
        ServerCertRemotePath: '',
        ServerKeyRemotePath: '',
        ClientCertPath: 'cert.pem',
        ServerCertSANs: [],
        StorePath: '.',
      },
    },
    Name: 'web',
    Berth: {
      SchemaVersion: BERTH_SCHEMA_VERSION,
      CreatedAt: new Date(0).toISOString(),
      Phase: 'provisioned',
      EnginePort: 2376,
      Timings: {},
      ServerTrust: 'machine-ca',
    },
  }
}

let bundles = 0
/** Writes a bundle with a valid manifest (the attacker can always compute checksums). */
async function craft(
  change: (record: MachineRecord) => void = () => {},
  files: Record<string, string> = {},
  extra: TarEntry[] = [],
): Promise<string> {
  const record = bundledRecord()
  change(record)
  const contents: Record<string, string> = {
    'ca.pem': ca.certPem,
    'cert.pem': client.certPem,
    'key.pem': client.keyPem,
    'server.pem': server.certPem,
    'server-key.pem': server.keyPem,
    id_ed25519: 'ssh key',
    ...files,
    'config.json': JSON.stringify(record),
  }
  const sha = (data: string) => createHash('sha256').update(data).digest('hex')
  const manifest = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    name: 'web',
    exportedAt: new Date(0).toISOString(),
    files: Object.fromEntries([
      ...Object.entries(contents).map(([n, d]) => [n, sha(d)]),
      ...extra.map((e) => [e.name, sha('')]),
    ]),
  }
  const entries: TarEntry[] = [
    {name: MANIFEST, content: JSON.stringify(manifest)},
    ...Object.entries(contents).map(([name, content]) => ({name, content})),
    ...extra,
  ]
  const file = join(work, `bundle-${++bundles}.tgz`)
  await writeFile(file, gzipSync(await tarArchive(entries)))
  return file
}

async function newStore(): Promise<{store: Store; before: string[]}> {
  const store = new Store(await mkdtemp(join(work, 'store-')))
  await store.init()
  return {store, before: await tree(store.root)}
}

async function refusedWithOneLine(work: Promise<unknown>, message: RegExp): Promise<void> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(BerthError)
  expect((err as Error).message).toMatch(message)
  expect((err as Error).message).not.toContain('\n')
}

describe('import --bundle', () => {
  it('imports an honest bundle with every path in the new machine folder', async () => {
    const {store} = await newStore()
    const record = await importBundle(store, await craft((r) => (r.Driver.StorePath = '/etc')))
    const dir = store.machineDir('web')
    const auth = record.HostOptions.AuthOptions
    expect([auth.CertDir, auth.StorePath]).toEqual([dir, dir])
    expect([auth.CaCertPath, auth.ServerCertPath, auth.ClientKeyPath, record.Driver.SSHKeyPath]).toEqual(
      ['ca.pem', 'server.pem', 'key.pem', 'id_ed25519'].map((f) => join(dir, f)),
    )
    expect(record.Driver.StorePath).toBe(store.root) // rewritten, never taken from the bundle
  })

  const escapes: [string, (r: MachineRecord) => void, RegExp][] = [
    [
      "CaPrivateKeyPath naming the store's CA key",
      (r) => (r.HostOptions.AuthOptions.CaPrivateKeyPath = '../../certs/ca-key.pem'),
      /names "..\/..\/certs\/ca-key.pem" as CaPrivateKeyPath/,
    ],
    [
      'StorePath outside the folder',
      (r) => (r.HostOptions.AuthOptions.StorePath = '../../../leak'),
      /as StorePath/,
    ],
    ['CertDir at the store', (r) => (r.HostOptions.AuthOptions.CertDir = '../..'), /as CertDir/],
    [
      'an absolute ClientKeyPath',
      (r) => (r.HostOptions.AuthOptions.ClientKeyPath = '/etc/shadow'),
      /as ClientKeyPath/,
    ],
    [
      'a ServerCertPath through a subfolder',
      (r) => (r.HostOptions.AuthOptions.ServerCertPath = 'x/../server.pem'),
      /as ServerCertPath/,
    ],
    [
      'a CaCertPath naming another bundled file',
      (r) => (r.HostOptions.AuthOptions.CaCertPath = 'server.pem'),
      /as CaCertPath/,
    ],
    [
      "an SSHKeyPath at the store's client key",
      (r) => (r.Driver.SSHKeyPath = '../../certs/key.pem'),
      /as SSHKeyPath/,
    ],
    ['an SSHKeyPath naming a certificate', (r) => (r.Driver.SSHKeyPath = 'key.pem'), /as SSHKeyPath/],
    [
      'ServerCertSANs with a space',
      (r) => (r.HostOptions.AuthOptions.ServerCertSANs = ['evil host']),
      /ServerCertSANs "evil host" is neither/,
    ],
    [
      'a wildcard SAN',
      (r) => (r.HostOptions.AuthOptions.ServerCertSANs = ['*']),
      /ServerCertSANs "\*" is neither/,
    ],
    [
      'a SAN with a newline',
      (r) => (r.HostOptions.AuthOptions.ServerCertSANs = ['a.example\nb.example']),
      /is neither/,
    ],
    [
      'an engine option turning TLS off',
      (r) => (r.HostOptions.EngineOptions.ArbitraryFlags = ['tlsverify=false']),
      /managed by berth/,
    ],
    [
      'an unknown ServerTrust',
      (r) => ((r.Berth as {ServerTrust: string}).ServerTrust = 'none'),
      /unknown ServerTrust/,
    ],
  ]
  for (const [what, change, message] of escapes) {
    it(`refuses ${what} with one line, writing nothing`, async () => {
      const {store, before} = await newStore()
      await refusedWithOneLine(importBundle(store, await craft(change)), message)
      expect(await tree(store.root)).toEqual(before)
    })
  }

  it("refuses a CA key that is not the key of the bundle's ca.pem, and takes one that is", async () => {
    const other = await createCA('another CA')
    const named = (r: MachineRecord) => (r.HostOptions.AuthOptions.CaPrivateKeyPath = 'ca-key.pem')
    const {store, before} = await newStore()
    await refusedWithOneLine(
      importBundle(store, await craft(named, {'ca-key.pem': other.keyPem})),
      /ca-key.pem is not the key of its ca.pem/,
    )
    expect(await tree(store.root)).toEqual(before)
    const record = await importBundle(store, await craft(named, {'ca-key.pem': ca.keyPem}))
    expect(record.HostOptions.AuthOptions.CaPrivateKeyPath).toBe(join(store.machineDir('web'), 'ca-key.pem'))
  })

  it('refuses symlinks and entries with paths, writing nothing', async () => {
    for (const entry of [
      {name: 'server.pem', type: 'symlink', linkname: '/etc/shadow'},
      {name: '../escape.pem', content: ''},
      {name: '/abs.pem', content: ''},
    ] as TarEntry[]) {
      const {store, before} = await newStore()
      await refusedWithOneLine(
        importBundle(store, await craft(() => {}, {}, [entry])),
        /not a valid berth machine bundle/,
      )
      expect(await tree(store.root)).toEqual(before)
    }
  })
})

describe('import --from a docker-machine store', () => {
  /** A docker-machine store with one machine "web" whose record `change` may tamper with. */
  async function dmStore(
    change: (auth: Record<string, unknown>) => void = () => {},
    caKey = ca.keyPem,
  ): Promise<string> {
    const dir = await mkdtemp(join(work, 'dm-'))
    const certs = join(dir, 'certs')
    const mdir = join(dir, 'machines', 'web')
    await mkdir(certs, {recursive: true})
    await mkdir(mdir, {recursive: true})
    for (const [f, content] of Object.entries({
      'ca.pem': ca.certPem,
      'ca-key.pem': caKey,
      'cert.pem': client.certPem,
      'key.pem': client.keyPem,
    }))
      await writeFile(join(certs, f), content)
    for (const [f, content] of Object.entries({
      'server.pem': server.certPem,
      'server-key.pem': server.keyPem,
      id_rsa: 'ssh key',
    }))
      await writeFile(join(mdir, f), content)
    const hostOptions = dockerMachineHostOptions(certs, mdir)
    change(hostOptions.AuthOptions as unknown as Record<string, unknown>)
    await writeFile(
      join(mdir, 'config.json'),
      JSON.stringify({
        ConfigVersion: 3,
        DriverName: 'generic',
        Name: 'web',
        HostOptions: hostOptions,
        Driver: {
          IPAddress: '10.0.0.5',
          MachineName: 'web',
          SSHUser: 'root',
          SSHPort: 22,
          SSHKeyPath: join(mdir, 'id_rsa'),
          StorePath: dir,
        },
      }),
    )
    return dir
  }

  it('plans an honest machine, its CA key checked against its ca.pem', async () => {
    const plan = await planImport(await dmStore(), 'web')
    expect(plan.files.map((f) => f.name).sort()).toEqual([
      'ca-key.pem',
      'ca.pem',
      'cert.pem',
      'id_rsa',
      'key.pem',
      'server-key.pem',
      'server.pem',
    ])
  })

  it("refuses a record naming a CA key outside the docker-machine store (berth's own, say)", async () => {
    const {store} = await newStore()
    await ensureStoreCerts(store)
    const dir = await dmStore((auth) => (auth.CaPrivateKeyPath = join(store.certsDir, 'ca-key.pem')))
    await rm(join(dir, 'certs', 'ca-key.pem'))
    await refusedWithOneLine(
      planImport(dir, 'web'),
      /ca-key.pem is not a file inside the docker-machine store/,
    )
  })

  it('refuses a symlinked file, even one pointing inside the store', async () => {
    const dir = await dmStore()
    await rm(join(dir, 'machines', 'web', 'server.pem'))
    await symlink('/etc/passwd', join(dir, 'machines', 'web', 'server.pem'))
    await refusedWithOneLine(
      planImport(dir, 'web'),
      /server.pem is not a file inside the docker-machine store/,
    )
  })

  it("refuses a CA key that is not the key of the machine's ca.pem", async () => {
    await refusedWithOneLine(
      planImport(await dmStore(() => {}, (await createCA('x')).keyPem), 'web'),
      /its CA key is not the key of its ca.pem/,
    )
  })

  it('refuses ServerCertSANs that are neither IP addresses nor DNS names', async () => {
    await refusedWithOneLine(
      planImport(await dmStore((auth) => (auth.ServerCertSANs = ['ok.example', 'x; rm -rf /'])), 'web'),
      /ServerCertSANs "x; rm -rf \/" is neither/,
    )
  })

  it('leaves the source store as it was', async () => {
    const dir = await dmStore()
    const before = await readFile(join(dir, 'machines', 'web', 'config.json'))
    await planImport(dir, 'web')
    expect(await readFile(join(dir, 'machines', 'web', 'config.json'))).toEqual(before)
  })
})
