import {describe, expect, it} from 'vitest'
import {allowed, redactInspect} from '../../agent/src/apiproxy.js'

describe("the agent's Docker API filter", () => {
  it('lets through the GETs the agent makes, with or without a version prefix, queries included', () => {
    for (const target of [
      '/_ping',
      '/v1.41/version',
      '/info',
      '/events?since=1.5&filters=%7B%7D',
      '/containers/json?all=1',
      '/v1.24/containers/abc123/json',
      '/containers/abc_1.x-y/logs?follow=1&stdout=1&stderr=1&timestamps=1&since=1.000000001',
    ]) {
      expect(allowed('GET', target), target).toMatchObject({ok: true})
    }
    expect(allowed('HEAD', '/_ping')).toMatchObject({ok: true})
    expect(allowed('GET', '/containers/abc/json')).toMatchObject({
      ok: true,
      inspect: true,
      path: '/containers/abc/json',
    })
  })

  it('refuses every write and every other endpoint, and paths that could be read two ways', () => {
    const refused: [string, string][] = [
      ['POST', '/containers/create'],
      ['POST', '/v1.41/containers/abc/start'],
      ['DELETE', '/containers/abc'],
      ['PUT', '/containers/abc/archive?path=/'],
      ['POST', '/containers/abc/exec'],
      ['POST', '/exec/x/start'],
      ['GET', '/containers/abc/archive?path=/etc/shadow'],
      ['GET', '/containers/abc/export'],
      ['GET', '/containers/abc/attach/ws'],
      ['GET', '/images/json'],
      ['GET', '/secrets'],
      ['GET', '/swarm'],
      ['GET', '/containers/abc/stats'],
      ['GET', '/containers/../images/json'],
      ['GET', '/containers/%2e%2e/json'],
      ['GET', '/containers/a%2Fb/logs'],
      ['GET', '//containers/json'],
      ['GET', '/containers/json/../create'],
      ['GET', 'http://docker/containers/json'],
      ['GET', '/v1.41/../containers/create'],
      ['OPTIONS', '/info'],
      ['GET', '/containers/abc/logs?x=\u0000'],
      ['GET', '/containers/abc/logs?follow=1#frag'],
      ['GET', '/containers/.abc/json'],
    ]
    for (const [method, target] of refused)
      expect(allowed(method, target), `${method} ${target}`).toMatchObject({ok: false})
  })

  it('cuts an inspect answer down to what the agent reads: no environment, mounts or command', () => {
    const full = {
      Id: 'abc',
      Name: '/web',
      RestartCount: 2,
      Path: '/entry',
      Args: ['--password=x'],
      Mounts: [{Source: '/etc'}],
      Config: {Image: 'nginx:1', Tty: false, Labels: {a: 'b'}, Env: ['DB_PASSWORD=hunter2'], Cmd: ['x']},
      HostConfig: {NetworkMode: 'bridge', Binds: ['/:/host']},
      State: {
        Status: 'running',
        Running: true,
        Pid: 7,
        ExitCode: 0,
        OOMKilled: false,
        StartedAt: 's',
        FinishedAt: 'f',
        Health: {},
      },
    }
    const cut = JSON.parse(redactInspect(Buffer.from(JSON.stringify(full))).toString()) as Record<
      string,
      unknown
    >
    expect(cut).toEqual({
      Id: 'abc',
      Name: '/web',
      RestartCount: 2,
      Config: {Image: 'nginx:1', Tty: false, Labels: {a: 'b'}},
      HostConfig: {NetworkMode: 'bridge'},
      State: {
        Status: 'running',
        Running: true,
        Pid: 7,
        ExitCode: 0,
        OOMKilled: false,
        StartedAt: 's',
        FinishedAt: 'f',
      },
    })
    expect(JSON.stringify(cut)).not.toContain('hunter2')
  })
})
