/**
 * Certificates that end: `ls` warns on stderr (one line per machine) and in `ls --json`, stdout under the
 * docker-machine name stays the table docker-machine prints, and a machine CA about to end is replaced
 * when its server certificate is renewed. Needs dist/ for the CLI part (the test script builds first).
 */
import {execFile} from 'node:child_process'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {createCA, issueCert, type KeyAndCert} from '../../src/core/certs/certs.js'
import {expiringCerts, expiryWarning} from '../../src/core/certs/expiry.js'
import {serverSigner} from '../../src/core/certs/trust.js'
import {BERTH_SCHEMA_VERSION, emptyEngineOptions, emptySwarmOptions} from '../../src/core/store/record.js'
import type {MachineRecord} from '../../src/core/store/record.js'

const ROOT = resolve(import.meta.dirname, '../..')
const DAY = 24 * 60 * 60 * 1000
const YEAR_3 = new Date(new Date().setFullYear(new Date().getFullYear() + 3)).getTime()

let dir: string
let ca: KeyAndCert

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-expiry-'))
  ca = await createCA('berth CA for m')
})

afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

/** A generic machine whose folder holds the CA, a server and a client certificate (`years` 0: already ended). */
async function machine(storeRoot: string, name: string, years: number): Promise<MachineRecord> {
  const folder = join(storeRoot, 'machines', name)
  await mkdir(folder, {recursive: true})
  const server = await issueCert(ca, {kind: 'server', commonName: name, sans: ['127.0.0.1'], years})
  const client = await issueCert(ca, {kind: 'client', commonName: 'berth client', years})
  const files = {
    'ca.pem': ca.certPem,
    'ca-key.pem': ca.keyPem,
    'server.pem': server.certPem,
    'cert.pem': client.certPem,
  }
  for (const [file, text] of Object.entries(files)) await writeFile(join(folder, file), text, {mode: 0o600})
  const record = {
    ConfigVersion: 3,
    Driver: {IPAddress: '127.0.0.1', SSHPort: 1, SSHUser: 'root', SSHKeyPath: '', MachineName: name},
    DriverName: 'generic',
    HostOptions: {
      EngineOptions: emptyEngineOptions(),
      SwarmOptions: emptySwarmOptions(),
      AuthOptions: {
        CertDir: join(storeRoot, 'certs'),
        CaCertPath: join(folder, 'ca.pem'),
        CaPrivateKeyPath: join(folder, 'ca-key.pem'),
        ServerCertPath: join(folder, 'server.pem'),
        ClientCertPath: join(folder, 'cert.pem'),
        StorePath: folder,
      },
    },
    Name: name,
    Berth: {
      SchemaVersion: BERTH_SCHEMA_VERSION,
      Phase: 'provisioned',
      EnginePort: 2376,
      ServerTrust: 'machine-ca',
    },
  } as unknown as MachineRecord
  await writeFile(join(folder, 'config.json'), JSON.stringify(record))
  return record
}

describe('certificate expiry', () => {
  it('finds the certificates that end within 30 days or have ended, and says what renews them', async () => {
    const record = await machine(join(dir, 'unit'), 'm', 3)
    expect(await expiringCerts(record)).toEqual([])
    const soon = YEAR_3 - 10 * DAY
    const found = await expiringCerts(record, soon)
    expect(found.map((c) => [c.cert, c.expired])).toEqual([
      ['server', false],
      ['client', false],
    ])
    expect(expiryWarning('m', found, 'berth', soon)).toMatch(
      /^Warning: machine "m": its server certificate expires in 1\d days \(\d{4}-\d\d-\d\d\), its client certificate expires in 1\d days \(.*\); `berth regenerate-certs --client-certs m` renews them$/,
    )
    const after = await expiringCerts(record, YEAR_3 + DAY)
    expect(after.every((c) => c.expired)).toBe(true)
    const caEnd = new Date(new Date().setFullYear(new Date().getFullYear() + 10)).getTime()
    expect((await expiringCerts(record, caEnd - DAY)).map((c) => c.cert)).toEqual(['server', 'client', 'CA'])
  })

  it('renewing a server certificate replaces a machine CA that ends within 30 days, and keeps one that does not', async () => {
    const record = await machine(join(dir, 'signer'), 'm', 3)
    const kept = await serverSigner(record)
    expect([kept.fresh, kept.ca.certPem]).toEqual([false, ca.certPem])
    const caEnd = new Date(new Date().setFullYear(new Date().getFullYear() + 10)).getTime()
    const renewed = await serverSigner(record, caEnd - 20 * DAY)
    expect(renewed.fresh).toBe(true)
    expect(renewed.ca.certPem).not.toBe(ca.certPem)
  })
})

function run(bin: string, args: string[], env: NodeJS.ProcessEnv) {
  return new Promise<{code: number; stdout: string; stderr: string}>((done) =>
    execFile(
      process.execPath,
      [join(ROOT, 'bin', bin), ...args],
      {env: {...process.env, NO_COLOR: '1', ...env}, timeout: 30_000},
      (err, stdout, stderr) =>
        done({code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr}),
    ),
  )
}

describe('ls with ended certificates', () => {
  it('warns on stderr only: docker-machine ls stdout is the same bytes as with fresh certificates', async () => {
    const [ended, fresh] = [join(dir, 'dm-ended'), join(dir, 'dm-fresh')]
    await machine(ended, 'old', 0)
    await machine(fresh, 'old', 3)
    const env = (store: string) => ({MACHINE_STORAGE_PATH: store, DOCKER_HOST: ''})
    const [a, b, json] = await Promise.all([
      run('docker-machine.js', ['ls'], env(ended)),
      run('docker-machine.js', ['ls'], env(fresh)),
      run('run.js', ['ls', '--json'], {BERTH_STORAGE_PATH: ended}),
    ])
    expect(a.stdout).toBe(b.stdout)
    expect(a.stdout).toMatch(/^NAME +ACTIVE +DRIVER +STATE/)
    expect(b.stderr).toBe('')
    expect(a.stderr).toMatch(
      /^Warning: machine "old": its server certificate expired on \d{4}-\d\d-\d\d, its client certificate expired on .*; `docker-machine regenerate-certs --client-certs old` renews them\n$/,
    )
    expect(json.code, json.stderr).toBe(0)
    const [entry] = JSON.parse(json.stdout) as Array<{expiringCerts: Array<{cert: string; expired: boolean}>}>
    expect(entry!.expiringCerts.map((c) => [c.cert, c.expired])).toEqual([
      ['server', true],
      ['client', true],
    ])
    expect(json.stderr).toMatch(/^Warning: machine "old": .*`berth regenerate-certs --client-certs old`/)
  })
})
