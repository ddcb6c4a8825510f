import {createServer, type Server} from 'node:https'
import type {AddressInfo} from 'node:net'
import {mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {
  createCA,
  ensureStoreCerts,
  issueCert,
  storeCertPaths,
  type KeyAndCert,
} from '../../src/core/certs/certs.js'
import {keyMatchesCert, migrateStoreTrust} from '../../src/core/certs/trust.js'
import {STORE_LAYOUT_FILE, trustMigrationPending} from '../../src/core/certs/trust-layout.js'
import {engineVersion} from '../../src/core/engine/engine.js'
import {Store} from '../../src/core/store/store.js'
import {
  BERTH_SCHEMA_VERSION,
  CONFIG_VERSION,
  emptyEngineOptions,
  emptySwarmOptions,
  type MachineRecord,
  type ServerTrust,
} from '../../src/core/store/record.js'

const tmpDirs: string[] = []
const servers: Server[] = []
afterAll(async () => {
  for (const server of servers) server.close()
  await Promise.all(tmpDirs.map((dir) => rm(dir, {recursive: true, force: true})))
})

/** An "engine" on 127.0.0.1 presenting `served`, answering /version like dockerd. */
async function engine(served: KeyAndCert): Promise<number> {
  const server = createServer({key: served.keyPem, cert: served.certPem}, (_req, res) => {
    res.setHeader('Content-Type', 'application/json')
    res.end(JSON.stringify({Version: '99.0.0', ApiVersion: '1.41', Os: 'linux', Arch: 'amd64'}))
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

interface Folder {
  record: MachineRecord
  dir: string
}

/** A machine folder holding ca.pem (its trust), the client files and, when given, server.pem. */
async function machine(
  trust: ServerTrust | undefined,
  port: number,
  caPem: string,
  client: KeyAndCert,
  serverPem?: string,
): Promise<Folder> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-trust-'))
  tmpDirs.push(dir)
  await writeFile(join(dir, 'ca.pem'), caPem)
  await writeFile(join(dir, 'cert.pem'), client.certPem)
  await writeFile(join(dir, 'key.pem'), client.keyPem, {mode: 0o600})
  if (serverPem !== undefined) await writeFile(join(dir, 'server.pem'), serverPem)
  const record: MachineRecord = {
    ConfigVersion: CONFIG_VERSION,
    Driver: {
      IPAddress: '127.0.0.1',
      MachineName: 'b',
      SSHUser: 'root',
      SSHPort: 22,
      SSHKeyPath: join(dir, 'id_ed25519'),
      StorePath: dir,
    },
    DriverName: 'generic',
    HostOptions: {
      Driver: '',
      Memory: 0,
      Disk: 0,
      EngineOptions: emptyEngineOptions(),
      SwarmOptions: emptySwarmOptions(),
      AuthOptions: {
        CertDir: dir,
        CaCertPath: join(dir, 'ca.pem'),
        CaPrivateKeyPath: '',
        CaCertRemotePath: '',
        ServerCertPath: join(dir, 'server.pem'),
        ServerKeyPath: join(dir, 'server-key.pem'),
        ClientKeyPath: join(dir, 'key.pem'),
        ServerCertRemotePath: '',
        ServerKeyRemotePath: '',
        ClientCertPath: join(dir, 'cert.pem'),
        ServerCertSANs: [],
        StorePath: dir,
      },
    },
    Name: 'b',
    Berth: {
      SchemaVersion: BERTH_SCHEMA_VERSION,
      CreatedAt: new Date(0).toISOString(),
      Phase: 'provisioned',
      EnginePort: port,
      Timings: {},
      ServerTrust: trust,
    },
  }
  return {record, dir}
}

describe('the server certificate pin', async () => {
  const ca = await createCA()
  const client = await issueCert(ca, {kind: 'client', commonName: 'berth client'})
  const machineB = await issueCert(ca, {kind: 'server', commonName: 'b', sans: ['127.0.0.1']})
  // The attacker holds machine A's key and certificate, from the same CA, naming B's address.
  const machineA = await issueCert(ca, {kind: 'server', commonName: 'a', sans: ['127.0.0.1']})
  const attackerPort = await engine(machineA)

  it("answers when the engine presents the machine's own certificate", async () => {
    const port = await engine(machineB)
    const {record} = await machine('machine-ca', port, ca.certPem, client, machineB.certPem)
    expect((await engineVersion(record)).Version).toBe('99.0.0')
  })

  it("refuses another machine's certificate from the same CA when the pin is in place", async () => {
    const {record} = await machine('machine-ca', attackerPort, ca.certPem, client, machineB.certPem)
    await expect(engineVersion(record)).rejects.toThrow(/is not machine "b": it presents another certificate/)
  })

  it("fails closed for berth's own machines when server.pem is missing or garbage", async () => {
    for (const trust of ['machine-ca', 'pinned-certificate', undefined] as const) {
      const missing = await machine(trust, attackerPort, ca.certPem, client)
      await expect(engineVersion(missing.record)).rejects.toThrow(/has no usable server certificate to pin/)
      const garbage = await machine(
        trust,
        attackerPort,
        ca.certPem,
        client,
        '-----BEGIN CERTIFICATE-----\nnot a certificate\n',
      )
      await expect(engineVersion(garbage.record)).rejects.toThrow(/has no usable server certificate to pin/)
    }
  })

  it('lets an imported machine without server.pem through on the CA check alone, which still refuses a foreign CA', async () => {
    const imported = await machine('imported-ca', attackerPort, ca.certPem, client)
    expect((await engineVersion(imported.record)).Version).toBe('99.0.0')
    const foreign = await createCA('berth CA for other\n"machine"')
    const foreignPort = await engine(
      await issueCert(foreign, {kind: 'server', commonName: 'other', sans: ['127.0.0.1']}),
    )
    const refused = await machine('imported-ca', foreignPort, ca.certPem, client)
    // The refusal says whose certificate answered, on one line (the names are the engine's to choose).
    const error = await engineVersion(refused.record).catch((err: Error) => err)
    expect(String(error)).toMatch(
      /did not answer over TLS: unable to get local issuer certificate \(it presents a certificate for "other" issued by "berth CA for other\\n\\"machine\\"", SHA-256 [0-9A-F:]{95}\)$/,
    )
  })

  it("trusts a ca.pem that is the machine's pinned certificate itself, and nothing else", async () => {
    const port = await engine(machineB)
    const pinned = await machine('pinned-certificate', port, machineB.certPem, client, machineB.certPem)
    expect((await engineVersion(pinned.record)).Version).toBe('99.0.0')
    // Even with B's server.pem missing from the pin check's view, A's certificate does not chain to B's pinned one.
    const spoofed = await machine('imported-ca', attackerPort, machineB.certPem, client)
    await expect(engineVersion(spoofed.record)).rejects.toThrow(/did not answer over TLS/)
  })
})

describe('migrating a store of an earlier berth to per-machine server trust', async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-trust-store-'))
  tmpDirs.push(root)
  const store = new Store(root)
  const {ca: storeCa, client} = await ensureStoreCerts(store)
  const old = await issueCert(storeCa, {kind: 'server', commonName: 'old', sans: ['127.0.0.1']})
  const oldPort = await engine(old)
  // Another machine of the same store: under the old layout its certificate was as good as old's.
  const attackerPort = await engine(
    await issueCert(storeCa, {kind: 'server', commonName: 'other', sans: ['127.0.0.1']}),
  )
  const dmCa = await createCA('docker-machine CA')

  /** A record as berth 0.1 wrote it: the store's CA as every machine's CaCertPath, copied to its folder. */
  async function oldLayout(
    name: string,
    phase: MachineRecord['Berth']['Phase'],
    serverPem?: string,
    caPem = storeCa.certPem,
    caPath?: string,
  ): Promise<void> {
    const dir = await store.reserve(name)
    await writeFile(join(dir, 'ca.pem'), caPem)
    await writeFile(join(dir, 'cert.pem'), client.certPem)
    await writeFile(join(dir, 'key.pem'), client.keyPem, {mode: 0o600})
    if (serverPem) await writeFile(join(dir, 'server.pem'), serverPem)
    const {record} = await machine(undefined, oldPort, caPem, client)
    record.Name = name
    record.Berth.Phase = phase
    delete record.Berth.ServerTrust
    if (name === 'old') record.Berth.DockerContext = 'old'
    Object.assign(record.HostOptions.AuthOptions, {
      CertDir: store.certsDir,
      CaCertPath: caPath ?? storeCertPaths(store).caCert,
      CaPrivateKeyPath: storeCertPaths(store).caKey,
      ClientCertPath: storeCertPaths(store).clientCert,
      ClientKeyPath: storeCertPaths(store).clientKey,
      ServerCertPath: join(dir, 'server.pem'),
      ServerKeyPath: join(dir, 'server-key.pem'),
      StorePath: dir,
    })
    await store.save(record)
  }
  await oldLayout('old', 'provisioned', old.certPem)
  await oldLayout('half', 'driver')
  await oldLayout(
    'adopted',
    'provisioned',
    undefined,
    dmCa.certPem,
    join(store.machineDir('adopted'), 'ca.pem'),
  )

  it('pins each provisioned machine to its current certificate, gives the others their own CA, and says so in one line', async () => {
    expect(await trustMigrationPending(store)).toBe(true)
    const contexts: string[] = []
    const line = await migrateStoreTrust(store, async (record) => contexts.push(record.Name))
    expect(line).toMatch(
      /^migrated .* to per-machine server trust: old now trusts only its current engine certificate until `berth regenerate-certs`/,
    )
    expect(line).not.toContain('\n')
    expect(contexts).toEqual(['old'])

    const migrated = await store.load('old')
    expect(migrated.Berth.ServerTrust).toBe('pinned-certificate')
    expect(migrated.HostOptions.AuthOptions.CaCertPath).toBe(join(store.machineDir('old'), 'ca.pem'))
    expect(await readFile(join(store.machineDir('old'), 'ca.pem'), 'utf8')).toBe(old.certPem)
    // The store's CA is no machine's server trust any more.
    for (const name of ['old', 'half'])
      expect(await readFile(join(store.machineDir(name), 'ca.pem'), 'utf8')).not.toBe(storeCa.certPem)

    const half = await store.load('half')
    expect(half.Berth.ServerTrust).toBe('machine-ca')
    expect(
      keyMatchesCert(
        await readFile(half.HostOptions.AuthOptions.CaPrivateKeyPath),
        await readFile(half.HostOptions.AuthOptions.CaCertPath),
      ),
    ).toBe(true)
    expect((await stat(half.HostOptions.AuthOptions.CaPrivateKeyPath)).mode & 0o777).toBe(0o600)
    expect((await stat(store.machineDir('half'))).mode & 0o777).toBe(0o700)

    const adopted = await store.load('adopted')
    expect(adopted.Berth.ServerTrust).toBe('imported-ca')
    expect(await readFile(join(store.machineDir('adopted'), 'ca.pem'), 'utf8')).toBe(dmCa.certPem)

    expect(await migrateStoreTrust(store, async () => {})).toBeUndefined() // once
    expect(await trustMigrationPending(store)).toBe(false)
  })

  it('says nothing about a corrupt record or a store of docker-machine records only, and writes no marker there', async () => {
    const other = new Store(await mkdtemp(join(tmpdir(), 'berth-trust-dm-')))
    tmpDirs.push(other.root)
    await other.reserve('broken')
    await writeFile(other.recordPath('broken'), '{"Name": "broken", "Driver": {')
    await other.reserve('theirs')
    const {record} = await machine(undefined, oldPort, dmCa.certPem, client)
    await other.save({...record, Name: 'theirs', Berth: undefined as unknown as MachineRecord['Berth']})
    expect(await trustMigrationPending(other)).toBe(false)
    expect(await migrateStoreTrust(other, async () => {})).toBeUndefined()
    await expect(stat(join(other.root, STORE_LAYOUT_FILE))).rejects.toThrow(/ENOENT/)
  })

  it("after migration the machine's engine answers, and another engine of the old CA on its address is refused", async () => {
    const record = await store.load('old')
    expect((await engineVersion(record)).Version).toBe('99.0.0')
    // The migrated ca.pem is old's certificate, not the CA that signed both: the TLS check refuses it before the pin would.
    await expect(
      engineVersion({...record, Berth: {...record.Berth, EnginePort: attackerPort}}),
    ).rejects.toThrow(/did not answer over TLS: unable to get local issuer certificate/)
    const unpinned = {
      ...record,
      Berth: {...record.Berth, EnginePort: attackerPort, ServerTrust: 'imported-ca' as const},
      HostOptions: {
        ...record.HostOptions,
        AuthOptions: {...record.HostOptions.AuthOptions, ServerCertPath: join(root, 'absent.pem')},
      },
    }
    await expect(engineVersion(unpinned)).rejects.toThrow(
      /did not answer over TLS: unable to get local issuer certificate/,
    )
  })
})
