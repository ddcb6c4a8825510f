import {describe, expect, it} from 'vitest'
import {formatPoint, splitLines} from '../../agent/src/lineprotocol.js'

const point = (tags: Record<string, string>, fields: Record<string, unknown> = {v: 1}) =>
  formatPoint({measurement: 'm', tags, fields: fields as never, time: 5n})

describe('agent line protocol', () => {
  it('escapes spaces, commas and equals signs in measurements, tag keys and values', () => {
    expect(formatPoint({measurement: 'my m,x', tags: {'a b': 'c,d=e f'}, fields: {'f k': 1}, time: 1n})).toBe(
      'my\\ m\\,x,a\\ b=c\\,d\\=e\\ f f\\ k=1i 1',
    )
  })

  it('keeps tabs, carriage returns and inner backslashes of tags as they are (InfluxDB reads them back so)', () => {
    expect(point({name: 'tab\there\r', path: 'C:\\dir\\x'})).toBe('m,name=tab\there\r,path=C:\\dir\\x v=1i 5')
  })

  it('keeps quotes in tag values as they are and escapes them in string fields', () => {
    expect(point({q: 'say "hi"'}, {s: 'say "hi" \\ back'})).toBe(
      'm,q=say\\ "hi" s="say \\"hi\\" \\\\ back" 5',
    )
  })

  it('writes newlines in string fields as they are, and splitLines finds the lines around them', () => {
    const line = point({t: 'a "b'}, {s: 'a\nb\r\nc', k: '"', e: 'x=\\'})!
    expect(line).toBe('m,t=a\\ "b s="a\nb\r\nc",k="\\"",e="x=\\\\" 5')
    expect(splitLines([line, 'm v=1i 6', line].join('\n'))).toEqual([line, 'm v=1i 6', line])
  })

  it('refuses points it cannot write faithfully: newlines or a trailing backslash in names and tags, time as a key, # tab or NUL starting a measurement, a quote in a field key, a tag named like a field, lone surrogates', () => {
    for (const bad of [
      {tags: {name: 'two\nlines'}},
      {tags: {path: 'C:\\dir\\'}},
      {tags: {'k\\': 'v'}},
      {tags: {k: 'a\\,b'}},
      {fields: {'k\\=': 1}},
      {tags: {time: 'x'}},
      {fields: {time: 1}},
      {measurement: '#m'},
      {measurement: '\tm'},
      {measurement: '\0m'},
      {measurement: 'a\\"b'},
      {measurement: 'a\\=b c'},
      {fields: {'k"': 1}},
      {measurement: 'm\n'},
      {tags: {v: 'x'}},
      {fields: {s: 'lone \ud800'}},
      {tags: {t: '\udc00'}},
      {fields: {big: 2n ** 63n}},
      {tags: {t: 'x'.repeat(70_000)}},
    ])
      expect(
        formatPoint({measurement: 'm', tags: {}, fields: {v: 1}, time: 1n, ...bad} as never),
        Object.keys(bad.tags ?? bad.fields ?? {}).join() + String(bad.measurement),
      ).toBeUndefined()
  })

  it('writes constant fields before the others, formatted once per object yet checked against each point', () => {
    const constantFields = {id: 'abc', n: 7}
    const line = (tags: Record<string, string>, fields: Record<string, number>) =>
      formatPoint({measurement: 'm', tags, fields, time: 5n, constantFields})
    expect(line({k: 'v'}, {up: 1})).toBe('m,k=v id="abc",n=7i,up=1i 5')
    expect(line({k: 'v'}, {})).toBe('m,k=v id="abc",n=7i 5')
    // The same object's cached text does not let through a point whose tag shares a constant field's name.
    expect(line({n: 'x'}, {up: 1})).toBeUndefined()
    expect(line({k: 'v'}, {up: 2})).toBe('m,k=v id="abc",n=7i,up=2i 5')
    for (const bad of [{time: 1}, {'k"': 1}, {s: 'lone \ud800'}])
      expect(
        formatPoint({measurement: 'm', tags: {}, fields: {v: 1}, time: 1n, constantFields: bad}),
      ).toBeUndefined()
    expect(
      formatPoint({measurement: 'm', tags: {}, fields: {}, time: 1n, constantFields: {}}),
    ).toBeUndefined()
  })

  it('sorts tags and leaves out empty ones', () => {
    expect(point({z: '1', a: '2', empty: ''})).toBe('m,a=2,z=1 v=1i 5')
  })

  it('types fields: integers with i, floats, forced floats, booleans, bigints', () => {
    expect(
      point({}, {i: 3, f: 1.5, ff: {float: 2}, b: false, big: 1234567890123456789n, huge: 2 ** 60}),
    ).toBe('m i=3i,f=1.5,ff=2.0,b=false,big=1234567890123456789i,huge=1152921504606846976i 5')
  })

  it('skips non-finite numbers and gives no line without any field', () => {
    expect(point({}, {nan: NaN, inf: Infinity, ok: 1})).toBe('m ok=1i 5')
    expect(point({}, {nan: NaN})).toBeUndefined()
  })
})
