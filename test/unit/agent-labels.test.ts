import {describe, expect, it} from 'vitest'
import {toInfo} from '../../agent/src/containers.js'
import type {ContainerDetails} from '../../agent/src/docker.js'
import {ALL_LABELS, labelMatcher, labelTags, MAX_LABEL_BYTES} from '../../agent/src/labels.js'
import {formatPoint} from '../../agent/src/lineprotocol.js'
import {CONTAINER_BLKIO, CONTAINER_MEM, MEASUREMENTS} from '../../agent/src/schema.js'

const all = labelMatcher(ALL_LABELS)

describe('container labels as tags', () => {
  it('keeps labels that read back as they are, whatever characters they hold', () => {
    const labels = {
      'com.example.team': 'a b,c=d',
      'odd\\key': 'mid\\dle',
      quote: 'say "hi"',
      é: '日本',
      tab: 'a\tb',
    }
    const {tags, dropped} = labelTags(labels, all)
    expect(tags).toEqual(labels)
    expect(dropped).toBe(0)
  })

  it('drops and counts labels that would break or replace a point: reserved names, newlines, trailing backslashes, oversized', () => {
    const hostile = {
      host: 'spoofed',
      'host\\': 'x',
      time: 'x',
      container_name: 'other',
      usage_percent: '1',
      _field: 'x',
      _measurement: 'x',
      io_service_bytes_recursive_read: 'x',
      value: '\\',
      nl: 'two\nlines',
      'k\n': 'v',
      big: 'x'.repeat(MAX_LABEL_BYTES),
      empty: '',
      ok: 'fine',
    }
    const {tags, dropped} = labelTags(hostile, all)
    expect(tags).toEqual({ok: 'fine'})
    expect(dropped).toBe(Object.keys(hostile).length - 1)
    // The point they would have been on is written, with the agent's own host tag.
    expect(
      formatPoint({
        measurement: 'docker_container_cpu',
        tags: {...tags, host: 'real'},
        fields: {usage_total: 1},
        time: 1n,
      }),
    ).toBe('docker_container_cpu,host=real,ok=fine usage_total=1i 1')
  })

  it("refuses as a label key every tag and field name of the schema's container measurements, and only those", () => {
    const containerMeasurements = MEASUREMENTS.filter(
      (m) => m.name.startsWith('docker_container_') || m.name === 'docker_log',
    )
    const names = containerMeasurements.flatMap((m) => [...Object.keys(m.tags), ...Object.keys(m.fields)])
    expect(names).toEqual(expect.arrayContaining(['cpu', 'network', 'device', 'stream', 'message']))
    expect(names).toContain(CONTAINER_BLKIO.fields.io_serviced_recursive_async)
    expect(names).toContain(CONTAINER_MEM.fields.fail_count)
    for (const name of names) expect(labelTags({[name]: 'x'}, all), name).toEqual({tags: {}, dropped: 1})
    // Names of the host's and the agent's own measurements are not on container points: fine as labels.
    expect(labelTags({n_containers: '1', load1: 'x', points_written: 'y'}, all).dropped).toBe(0)
  })

  it('include and exclude globs choose labels as Telegraf does (dropped counts only labels asked for)', () => {
    const wanted = labelMatcher({include: ['com.example.*', 'team'], exclude: ['com.example.secret*']})
    const {tags, dropped} = labelTags(
      {'com.example.a': '1', 'com.example.secret.x': '2', team: 'ops', other: '3', 'com.example.bad': 'x\\'},
      wanted,
    )
    expect(tags).toEqual({'com.example.a': '1', team: 'ops'})
    expect(dropped).toBe(1)
    expect(labelMatcher({include: ['a?c'], exclude: []})('abc')).toBe(true)
    expect(labelMatcher({include: ['a.c'], exclude: []})('abc')).toBe(false)
  })

  it("a container's info carries the tags and the count", () => {
    const details = {
      Id: 'id',
      Name: '/web',
      RestartCount: 0,
      Config: {Image: 'nginx:1', Tty: false, Labels: {host: 'x', team: 'a'}},
      HostConfig: {},
      State: {
        Status: 'running',
        Running: true,
        Pid: 1,
        ExitCode: 0,
        OOMKilled: false,
        StartedAt: '',
        FinishedAt: '',
      },
    } as ContainerDetails
    expect(toInfo(details)).toMatchObject({labels: {team: 'a'}, labelsDropped: 1})
  })
})
