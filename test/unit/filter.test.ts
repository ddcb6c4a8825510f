import {describe, expect, it} from 'vitest'
import {BerthError} from '../../src/core/errors.js'
import {matchesFilters, parseFilters} from '../../src/core/machine/filter.js'
import type {MachineStatus} from '../../src/core/machine/filter.js'

function status(overrides: Partial<MachineStatus>): MachineStatus {
  return {
    name: 'dev',
    driver: 'container',
    state: 'Running',
    url: '',
    dockerVersion: '',
    error: '',
    active: false,
    labels: [],
    ...overrides,
  }
}

const fleet = [
  status({name: 'dev', driver: 'container', state: 'Running', labels: ['env=dev']}),
  status({name: 'dev-2', driver: 'generic', state: 'Stopped', labels: ['env=dev', 'team=a']}),
  status({name: 'prod-web', driver: 'generic', state: 'Running', labels: ['env=prod']}),
  status({name: 'prod-db', driver: 'container', state: 'Error', labels: []}),
]

function select(raw: string[]): string[] {
  const filters = parseFilters(raw)
  return fleet.filter((s) => matchesFilters(s, filters)).map((s) => s.name)
}

describe('parseFilters', () => {
  it('parses the four keys, keeping = inside values', () => {
    expect(parseFilters(['driver=generic', 'state=Running', 'name=^dev', 'label=env=prod'])).toEqual([
      {key: 'driver', value: 'generic'},
      {key: 'state', value: 'Running'},
      {key: 'name', value: '^dev'},
      {key: 'label', value: 'env=prod'},
    ])
  })

  it('no filters parse to none', () => {
    expect(parseFilters([])).toEqual([])
  })

  it('unknown keys and missing = are usage errors naming the filter', () => {
    for (const raw of ['color=red', 'driver', 'Driver=generic', '=x', 'swarm=x']) {
      let caught: unknown
      try {
        parseFilters(['state=Running', raw])
      } catch (err) {
        caught = err
      }
      expect(caught, raw).toBeInstanceOf(BerthError)
      expect((caught as BerthError).exitCode, raw).toBe(2)
      expect((caught as BerthError).message, raw).toContain(`"${raw}"`)
    }
  })

  it('an invalid name regex is a usage error', () => {
    expect(() => parseFilters(['name=('])).toThrow(/not a valid regular expression/)
    try {
      parseFilters(['name=[a-'])
    } catch (err) {
      expect((err as BerthError).exitCode).toBe(2)
    }
    expect.assertions(2)
  })
})

describe('matchesFilters', () => {
  it('no filters match everything', () => {
    expect(select([])).toEqual(fleet.map((s) => s.name))
  })

  it('filters of one key are ORed', () => {
    expect(select(['state=Stopped', 'state=Error'])).toEqual(['dev-2', 'prod-db'])
    expect(select(['label=env=prod', 'label=team=a'])).toEqual(['dev-2', 'prod-web'])
  })

  it('different keys are ANDed', () => {
    expect(select(['driver=generic', 'state=Running'])).toEqual(['prod-web'])
    expect(select(['driver=container', 'label=env=dev'])).toEqual(['dev'])
    expect(select(['driver=generic', 'state=Error'])).toEqual([])
  })

  it('OR within and AND across together', () => {
    expect(select(['state=Running', 'state=Stopped', 'driver=generic'])).toEqual(['dev-2', 'prod-web'])
  })

  it('driver and state compare case-insensitively', () => {
    expect(select(['driver=GENERIC'])).toEqual(['dev-2', 'prod-web'])
    expect(select(['state=running'])).toEqual(['dev', 'prod-web'])
  })

  it('name is a regular expression, unanchored unless anchored', () => {
    expect(select(['name=^dev'])).toEqual(['dev', 'dev-2'])
    expect(select(['name=^dev$'])).toEqual(['dev'])
    expect(select(['name=db'])).toEqual(['prod-db'])
    expect(select(['name=web|db'])).toEqual(['prod-web', 'prod-db'])
  })

  it('label matches a whole KEY=VALUE entry, not a prefix', () => {
    expect(select(['label=env'])).toEqual([])
    expect(select(['label=env=de'])).toEqual([])
    expect(select(['label=env=dev'])).toEqual(['dev', 'dev-2'])
  })
})
