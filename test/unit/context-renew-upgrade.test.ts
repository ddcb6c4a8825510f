/**
 * The pure parts of docker contexts, cert renewal (live-restore in daemon.json) and the engine
 * upgrade; test/e2e/context-renew-upgrade.test.ts runs them on the lab.
 */
import {describe, expect, it} from 'vitest'
import {csvField, dockerConfigDir, dockerEndpoint} from '../../src/core/context/context.js'
import {withLiveRestore} from '../../src/core/ops/renew.js'
import {recipeFor} from '../../src/core/provision/os.js'
import type {MachineRecord} from '../../src/core/store/record.js'

function record(ip: string, storePath: string): MachineRecord {
  return {
    Name: 'dev',
    Driver: {IPAddress: ip},
    HostOptions: {AuthOptions: {StorePath: storePath}},
    Berth: {EnginePort: 2376},
  } as unknown as MachineRecord
}

describe('docker context endpoint', () => {
  it('points at the TLS port and the client files in the machine folder', () => {
    expect(dockerEndpoint(record('10.0.0.7', '/s/machines/dev'))).toBe(
      'host=tcp://10.0.0.7:2376,ca=/s/machines/dev/ca.pem,cert=/s/machines/dev/cert.pem,key=/s/machines/dev/key.pem',
    )
  })

  it('brackets IPv6 hosts', () => {
    expect(dockerEndpoint(record('fd00::5', '/s')).split(',')[0]).toBe('host=tcp://[fd00::5]:2376')
  })

  it('quotes fields the docker CLI would split (it reads the value as CSV)', () => {
    expect(csvField('key=/a,b/key.pem')).toBe('"key=/a,b/key.pem"')
    expect(csvField('ca=/a"b')).toBe('"ca=/a""b"')
    expect(csvField('ca=/plain/path')).toBe('ca=/plain/path')
    expect(dockerEndpoint(record('10.0.0.7', '/home/x,y'))).toContain('"ca=/home/x,y/ca.pem"')
  })

  it('uses DOCKER_CONFIG, else ~/.docker', () => {
    expect(dockerConfigDir({DOCKER_CONFIG: '/tmp/cfg'})).toBe('/tmp/cfg')
    expect(dockerConfigDir({})).toMatch(/\/\.docker$/)
  })
})

describe('withLiveRestore', () => {
  it('writes a new daemon.json when there is none', () => {
    expect(JSON.parse(withLiveRestore(undefined, true)!)).toEqual({'live-restore': true})
    expect(JSON.parse(withLiveRestore('  \n', false)!)).toEqual({'live-restore': false})
  })

  it('keeps the settings of an existing file', () => {
    const merged = JSON.parse(withLiveRestore('{"log-level": "debug", "live-restore": false}', true)!)
    expect(merged).toEqual({'log-level': 'debug', 'live-restore': true})
  })

  it('leaves alone a file that is not a JSON object', () => {
    expect(withLiveRestore('not json', true)).toBeUndefined()
    expect(withLiveRestore('[1]', true)).toBeUndefined()
    expect(withLiveRestore('null', true)).toBeUndefined()
  })
})

describe('engine upgrade recipe', () => {
  it('upgrades only installed packages, keeping changed config files', () => {
    const script = recipeFor({
      id: 'ubuntu',
      idLike: ['debian'],
      versionId: '24.04',
      prettyName: 'Ubuntu',
    }).upgrade(['docker.io'])
    expect(script).toContain('apt-get -q -o DPkg::Lock::Timeout=300 update')
    expect(script).toContain('--only-upgrade install docker.io')
    expect(script).toContain('--force-confold')
    expect(script).toContain('DEBIAN_FRONTEND=noninteractive')
  })
})
