import {describe, expect, it} from 'vitest'
import {absolutizeRecord, adoptRecord, relativizeRecord} from '../../src/core/migrate/record-paths.js'
import type {MachineRecord} from '../../src/core/store/record.js'

const DM = '/home/someone/.docker/machine'

function dmRecord(): MachineRecord {
  return {
    ConfigVersion: 3,
    Driver: {
      IPAddress: '10.0.0.7',
      MachineName: 'web',
      SSHUser: 'ubuntu',
      SSHPort: 22,
      SSHKeyPath: `${DM}/machines/web/id_rsa`,
      StorePath: DM,
      EnginePort: 2376,
      SSHKey: '/home/someone/.ssh/id_rsa',
    },
    DriverName: 'generic',
    HostOptions: {
      Driver: '',
      Memory: 0,
      Disk: 0,
      EngineOptions: {
        ArbitraryFlags: [],
        Env: [],
        InsecureRegistry: [],
        Labels: [],
        RegistryMirror: [],
        StorageDriver: '',
        InstallURL: '',
        TlsVerify: true,
      },
      SwarmOptions: {
        IsSwarm: false,
        Address: '',
        Discovery: '',
        Master: false,
        Host: '',
        Image: '',
        Strategy: '',
        ArbitraryFlags: [],
        Env: null,
      },
      AuthOptions: {
        CertDir: `${DM}/certs`,
        CaCertPath: `${DM}/certs/ca.pem`,
        CaPrivateKeyPath: `${DM}/certs/ca-key.pem`,
        CaCertRemotePath: '',
        ServerCertPath: `${DM}/machines/web/server.pem`,
        ServerKeyPath: `${DM}/machines/web/server-key.pem`,
        ClientKeyPath: `${DM}/certs/key.pem`,
        ServerCertRemotePath: '',
        ServerKeyRemotePath: '',
        ClientCertPath: `${DM}/certs/cert.pem`,
        ServerCertSANs: [],
        StorePath: `${DM}/machines/web`,
      },
    },
    Name: 'web',
  } as unknown as MachineRecord
}

describe('adopting a docker-machine record', () => {
  const dir = '/root/.berth/machines/web'
  const all = [
    'CaCertPath',
    'CaPrivateKeyPath',
    'ClientCertPath',
    'ClientKeyPath',
    'ServerCertPath',
    'ServerKeyPath',
  ] as const

  it("points every path into the machine folder in berth's store and adds a Berth section", () => {
    const source = dmRecord()
    const adopted = adoptRecord(source, {
      machineDir: dir,
      storeRoot: '/root/.berth',
      sshKeyName: 'id_rsa',
      files: [...all],
      now: new Date(0),
    })
    expect(adopted.HostOptions.AuthOptions).toMatchObject({
      CertDir: dir,
      StorePath: dir,
      CaCertPath: `${dir}/ca.pem`,
      CaPrivateKeyPath: `${dir}/ca-key.pem`,
      ClientCertPath: `${dir}/cert.pem`,
      ClientKeyPath: `${dir}/key.pem`,
      ServerCertPath: `${dir}/server.pem`,
      ServerKeyPath: `${dir}/server-key.pem`,
    })
    expect(adopted.Driver.SSHKeyPath).toBe(`${dir}/id_rsa`)
    expect(adopted.Driver.StorePath).toBe('/root/.berth')
    expect(adopted.Berth).toEqual({
      SchemaVersion: 1,
      CreatedAt: new Date(0).toISOString(),
      Phase: 'provisioned',
      EnginePort: 2376,
      Timings: {},
      ServerTrust: 'imported-ca',
    })
    expect(JSON.stringify(adopted)).not.toContain(DM)
    expect(source).toEqual(dmRecord()) // the input is not modified
  })

  it('empties paths of files that were not copied and keeps a Berth section berth wrote', () => {
    const source = {
      ...dmRecord(),
      Berth: {
        SchemaVersion: 1,
        CreatedAt: 'x',
        Phase: 'provisioned',
        EnginePort: 2376,
        Timings: {},
        SSHHostKey: 'ssh-ed25519 AAAA',
      },
    }
    const adopted = adoptRecord(source as MachineRecord, {
      machineDir: dir,
      storeRoot: '/s',
      sshKeyName: 'id_rsa',
      files: ['CaCertPath', 'ClientCertPath', 'ClientKeyPath'],
    })
    expect(adopted.HostOptions.AuthOptions.ServerCertPath).toBe('')
    expect(adopted.HostOptions.AuthOptions.CaPrivateKeyPath).toBe('')
    expect(adopted.Berth.SSHHostKey).toBe('ssh-ed25519 AAAA')
  })
})

describe('bundle paths', () => {
  it('relativizes to the machine folder and restores against a new one', () => {
    const dir = '/bundle/machines/web'
    const adopted = adoptRecord(dmRecord(), {
      machineDir: dir,
      storeRoot: '/bundle',
      sshKeyName: 'id_rsa',
      files: ['CaCertPath', 'ClientCertPath', 'ClientKeyPath'],
    })
    const rel = relativizeRecord(adopted, dir)
    expect(rel.HostOptions.AuthOptions).toMatchObject({
      CertDir: '.',
      StorePath: '.',
      CaCertPath: 'ca.pem',
      ClientKeyPath: 'key.pem',
      ServerCertPath: '',
    })
    expect(rel.Driver.SSHKeyPath).toBe('id_rsa')
    expect(rel.Driver.StorePath).toBe('../..')
    const back = absolutizeRecord(rel, '/other/store/machines/web')
    expect(back.HostOptions.AuthOptions.CaCertPath).toBe('/other/store/machines/web/ca.pem')
    expect(back.HostOptions.AuthOptions.StorePath).toBe('/other/store/machines/web')
    expect(back.Driver.StorePath).toBe('/other/store')
    expect(back.HostOptions.AuthOptions.ServerCertPath).toBe('')
  })

  it('refuses absolute paths in a bundled record', () => {
    expect(() => absolutizeRecord(dmRecord(), '/x/machines/web')).toThrow(/not relative/)
  })
})
