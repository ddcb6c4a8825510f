/** The writer's line buffer: what it sends is exactly the lines joined by newlines, however it is cut. */
import {describe, expect, it} from 'vitest'
import {LineBuilder, Lines} from '../../agent/src/lines.js'

const text = (lines: Lines) => lines.body().toString('utf8')

describe('agent line buffer', () => {
  const strings = ['m v=1i 1', 'm,t=é v="ünïcödé 🚀" 2', '', 'm s="a\nb" 3', 'x'.repeat(100_000)]

  it('holds lines of any size and any UTF-8 as bytes, growing past its first buffer', () => {
    const builder = new LineBuilder(16)
    let bytes = 0
    for (const line of strings.slice(0, 4)) bytes += builder.push(line)
    bytes += builder.push('x'.repeat(99_990), 'x'.repeat(10))
    const lines = builder.take()
    expect(lines.count).toBe(strings.length)
    expect(lines.size).toBe(bytes)
    expect(bytes).toBe(Buffer.byteLength(strings.join('\n')) + 1)
    expect(text(lines)).toBe(strings.join('\n'))
    expect(builder.count).toBe(0)
    expect(text(builder.take())).toBe('')
  })

  it('cuts at line boundaries and puts parts back together byte for byte', () => {
    const lines = Lines.of(strings)
    for (let cut = 0; cut <= strings.length; cut++) {
      const [head, tail] = [lines.slice(0, cut), lines.slice(cut)]
      expect(text(head)).toBe(strings.slice(0, cut).join('\n'))
      expect(text(tail)).toBe(strings.slice(cut).join('\n'))
      expect(head.count + tail.count).toBe(strings.length)
      expect(text(Lines.concat([head, tail].filter((l) => l.count > 0)))).toBe(strings.join('\n'))
    }
    expect(text(lines.slice(1, 3).slice(1))).toBe(strings[2])
    expect(lines.slice(3, 3)).toBe(Lines.none)
  })
})
