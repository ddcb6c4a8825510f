import {describe, expect, it} from 'vitest'
import {formatPoint} from '../../agent/src/lineprotocol.js'

const point = (tags: Record<string, string>, fields: Record<string, unknown> = {v: 1}) =>
  formatPoint({measurement: 'm', tags, fields: fields as never, time: 5n})

describe('agent line protocol', () => {
  it('escapes spaces, commas and equals signs in measurements, tag keys and values', () => {
    expect(formatPoint({measurement: 'my m,x', tags: {'a b': 'c,d=e f'}, fields: {'f k': 1}, time: 1n}))
      .toBe('my\\ m\\,x,a\\ b=c\\,d\\=e\\ f f\\ k=1i 1')
  })

  it('turns newlines and tabs in tags into (escaped) spaces, so a point stays on one line', () => {
    expect(point({name: 'two\nlines\tand\r\nmore'})).toBe('m,name=two\\ lines\\ and\\ \\ more v=1i 5')
  })

  it('keeps quotes in tag values as they are and escapes them in string fields', () => {
    expect(point({q: 'say "hi"'}, {s: 'say "hi" \\ back'})).toBe('m,q=say\\ "hi" s="say \\"hi\\" \\\\ back" 5')
  })

  it('writes newlines in string fields as \\n', () => {
    expect(point({}, {s: 'a\nb\r\nc'})).toBe('m s="a\\nb\\nc" 5')
  })

  it('drops trailing backslashes of tag values (InfluxDB would read them as escapes)', () => {
    expect(point({path: 'C:\\dir\\', x: 'a\\,b'})).toBe('m,path=C:\\dir,x=a\\\\,b v=1i 5')
  })

  it('sorts tags and leaves out empty ones', () => {
    expect(point({z: '1', a: '2', empty: ''})).toBe('m,a=2,z=1 v=1i 5')
  })

  it('types fields: integers with i, floats, forced floats, booleans, bigints', () => {
    expect(point({}, {i: 3, f: 1.5, ff: {float: 2}, b: false, big: 12345678901234567890n}))
      .toBe('m i=3i,f=1.5,ff=2.0,b=false,big=12345678901234567890i 5')
  })

  it('skips non-finite numbers and gives no line without any field', () => {
    expect(point({}, {nan: NaN, inf: Infinity, ok: 1})).toBe('m ok=1i 5')
    expect(point({}, {nan: NaN})).toBeUndefined()
  })
})
