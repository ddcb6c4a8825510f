import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {type AddressInfo, createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {BerthError} from '../../src/core/errors.js'
import {
  advertiseAddress,
  advertiseWithPort,
  decideInit,
  decideJoin,
  hostOf,
  hostPort,
  localRole,
  managerStatus,
  nodeRows,
  reachabilityScript,
  reachableTarget,
  roleLabel,
  SwarmInfo,
  SwarmNode,
} from '../../src/core/swarm/model.js'

function info(overrides: Partial<SwarmInfo> = {}): SwarmInfo {
  return {
    NodeID: '',
    NodeAddr: '',
    LocalNodeState: 'inactive',
    ControlAvailable: false,
    Error: '',
    ...overrides,
  }
}
const manager = info({
  LocalNodeState: 'active',
  ControlAvailable: true,
  NodeID: 'n1',
  NodeAddr: '10.0.0.1',
  Cluster: {ID: 'clusterabcdef123456'},
})
const worker = info({LocalNodeState: 'active', NodeID: 'n2', NodeAddr: '10.0.0.2'})

function node(id: string, overrides: Partial<SwarmNode> = {}): SwarmNode {
  return {
    ID: id,
    Version: {Index: 1},
    Spec: {Role: 'worker', Availability: 'active'},
    Status: {State: 'ready'},
    ...overrides,
  }
}

describe('roles', () => {
  it('reads the role from /info alone', () => {
    expect(localRole(manager)).toBe('manager')
    expect(localRole(worker)).toBe('worker')
    expect(localRole(info())).toBeUndefined()
    expect(localRole(info({LocalNodeState: 'pending'}))).toBeUndefined()
    expect(localRole(undefined)).toBeUndefined()
  })

  it('labels the ls SWARM column', () => {
    expect(roleLabel(manager, true)).toBe('manager (leader)')
    expect(roleLabel(manager)).toBe('manager')
    expect(roleLabel(worker)).toBe('worker')
    expect(roleLabel(info())).toBe('')
    expect(roleLabel(info({LocalNodeState: ''}))).toBe('')
    expect(roleLabel(info({LocalNodeState: 'locked'}))).toBe('locked')
    expect(roleLabel(undefined)).toBe('')
  })

  it('renders manager status as docker node ls does', () => {
    expect(managerStatus(node('a', {ManagerStatus: {Leader: true, Reachability: 'reachable'}}))).toBe(
      'Leader',
    )
    expect(managerStatus(node('a', {ManagerStatus: {Reachability: 'unreachable'}}))).toBe('Unreachable')
    expect(managerStatus(node('a'))).toBe('')
  })
})

describe('addresses', () => {
  it('advertises the record IP unless told otherwise', () => {
    expect(advertiseAddress('172.17.0.3')).toBe('172.17.0.3')
    expect(advertiseAddress('172.17.0.3', '10.1.2.3')).toBe('10.1.2.3')
    expect(advertiseAddress('172.17.0.3', 'eth1')).toBe('eth1')
    expect(advertiseAddress('172.17.0.3', '10.1.2.3:4000')).toBe('10.1.2.3:4000')
    expect(advertiseAddress('172.17.0.3', '  ')).toBe('172.17.0.3')
  })

  it('refuses malformed addresses and a machine without an IP', () => {
    expect(() => advertiseAddress('1.2.3.4', '999.1.1.1')).toThrow(/not an IPv4 address/)
    expect(() => advertiseAddress('1.2.3.4', '1.2.3')).toThrow(BerthError)
    expect(() => advertiseAddress('1.2.3.4', 'a b')).toThrow(/expected an IP address/)
    expect(() => advertiseAddress('')).toThrow(/no IP address/)
  })

  it('adds the swarm port where none is given, with brackets for IPv6', () => {
    expect(advertiseWithPort('10.0.0.1')).toBe('10.0.0.1:2377')
    expect(advertiseWithPort('10.0.0.1:4000')).toBe('10.0.0.1:4000')
    expect(advertiseWithPort('eth1')).toBe('eth1:2377')
    expect(advertiseWithPort('fd00::1')).toBe('[fd00::1]:2377')
    expect(advertiseWithPort('[fd00::1]')).toBe('[fd00::1]:2377')
    expect(advertiseWithPort('[fd00::1]:4000')).toBe('[fd00::1]:4000')
    expect(hostPort('10.0.0.1')).toBe('10.0.0.1:2377')
    expect(hostOf('10.0.0.1:2377')).toBe('10.0.0.1')
    expect(hostOf('[fd00::1]:2377')).toBe('fd00::1')
    expect(hostOf('fd00::1')).toBe('fd00::1')
    expect(hostOf('10.0.0.1')).toBe('10.0.0.1')
  })
})

describe('idempotency decisions', () => {
  it('init: new swarm when inactive, no-op on a manager, --force needed for a worker', () => {
    expect(decideInit('m', info(), false)).toEqual({action: 'init'})
    expect(decideInit('m', manager, false)).toMatchObject({
      action: 'noop',
      reason: expect.stringMatching(/already a manager of swarm clusterabcde;/),
    })
    expect(() => decideInit('m', worker, false)).toThrow(/already a worker in a swarm/)
    expect(decideInit('m', worker, true).action).toBe('leave-then-init')
    expect(() => decideInit('m', info({LocalNodeState: 'error'}), false)).toThrow(/swarm state "error"/)
  })

  it('join: no-op in the same swarm (with a hint when the role differs), refused in another unless --force', () => {
    expect(decideJoin('w', info(), false, 'worker', 'm', false)).toEqual({action: 'join'})
    expect(decideJoin('w', worker, true, 'worker', 'm', false)).toEqual({
      action: 'noop',
      reason: "w is already a worker in m's swarm; nothing to do",
    })
    expect(decideJoin('w', worker, true, 'manager', 'm', false).action).toBe('noop')
    expect((decideJoin('w', worker, true, 'manager', 'm', false) as {reason: string}).reason).toMatch(
      /berth swarm promote w/,
    )
    expect(() => decideJoin('w', worker, false, 'worker', 'm', false)).toThrow(
      /a worker in another swarm; refusing/,
    )
    expect(() => decideJoin('w', manager, false, 'worker', 'm', false)).toThrow(/a manager in another swarm/)
    expect(decideJoin('w', manager, false, 'worker', 'm', true).action).toBe('leave-then-join')
    expect(() => decideJoin('w', info({LocalNodeState: 'pending'}), false, 'worker', 'm', false)).toThrow(
      /pending/,
    )
  })

  it('refusals are one-line BerthErrors with a hint', () => {
    try {
      decideJoin('w', worker, false, 'worker', 'm', false)
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(BerthError)
      expect((err as BerthError).message).not.toContain('\n')
      expect((err as BerthError).hint).toMatch(/--force/)
    }
  })
})

describe('nodeRows', () => {
  it('matches nodes to machines by address, then hostname, and puts the leader first', () => {
    const rows = nodeRows(
      [
        node('w1', {
          Description: {Hostname: 'host-w', Engine: {EngineVersion: '20.10'}},
          Status: {State: 'ready', Addr: '10.0.0.2'},
        }),
        node('m2', {
          Spec: {Role: 'manager', Availability: 'active'},
          Description: {Hostname: 'b'},
          Status: {State: 'ready', Addr: '0.0.0.0'},
          ManagerStatus: {Reachability: 'reachable', Addr: '10.0.0.3:2377'},
        }),
        node('m1', {
          Spec: {Role: 'manager', Availability: 'drain'},
          Description: {Hostname: 'a'},
          Status: {State: 'ready', Addr: '10.0.0.1'},
          ManagerStatus: {Leader: true, Reachability: 'reachable', Addr: '10.0.0.1:2377'},
        }),
        node('x', {Description: {Hostname: 'gen'}, Status: {State: 'down', Addr: '192.168.1.9'}}),
      ],
      [
        {name: 'alpha', ip: '10.0.0.1'},
        {name: 'beta', ip: '10.0.0.3'},
        {name: 'wk', ip: '10.0.0.2'},
        {name: 'gen', ip: ''},
      ],
    )
    expect(rows.map((r) => [r.id, r.machine, r.managerStatus, r.role])).toEqual([
      ['m1', 'alpha', 'Leader', 'manager'],
      ['m2', 'beta', 'Reachable', 'manager'],
      ['x', 'gen', '', 'worker'],
      ['w1', 'wk', '', 'worker'],
    ])
    expect(rows[0]).toMatchObject({leader: true, availability: 'drain', address: '10.0.0.1'})
    expect(rows[3]).toMatchObject({engineVersion: '20.10', status: 'ready', address: '10.0.0.2'})
  })
})

describe('the reachability probe, with a manager that lies about its address', () => {
  const sh = (script: string) => spawnSync('sh', ['-c', script], {encoding: 'utf8'})

  it('takes only an IP address or DNS name and a port; anything else is refused before any shell', () => {
    expect(reachableTarget('10.0.0.5:2377', 2377)).toEqual({host: '10.0.0.5', port: 2377})
    expect(reachableTarget('[fd00::5]:2400', 2377)).toEqual({host: 'fd00::5', port: 2400})
    expect(reachableTarget('manager.example', 2377)).toEqual({host: 'manager.example', port: 2377})
    for (const hostile of [
      '1.2.3.4;touch /tmp/x',
      '$(reboot):2377',
      '10.0.0.5:2377 -e sh',
      '`id`',
      'a b',
      '10.0.0.5:99999',
      '10.0.0.5:0',
      '-oProxyCommand=x',
      '',
    ]) {
      expect(() => reachableTarget(hostile, 2377), hostile).toThrow(
        /^the manager reports .*, which is not an address and port; not probing it$/,
      )
    }
  })

  it('hands host and port to bash as arguments: a hostile host is never code, an honest one is probed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-probe-'))
    const server = createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const port = (server.address() as AddressInfo).port
      expect(sh(reachabilityScript({host: '127.0.0.1', port})).status).toBe(0)
      server.close()
      expect(sh(reachabilityScript({host: '127.0.0.1', port})).status).not.toBe(0)
      const marker = join(dir, 'ran')
      for (const host of [
        `$(touch ${marker})`,
        `x; touch ${marker}`,
        `'; touch ${marker}; '`,
        `x/$(touch ${marker})`,
      ]) {
        sh(reachabilityScript({host, port: 2377}))
        expect(existsSync(marker), host).toBe(false)
      }
    } finally {
      server.close()
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
