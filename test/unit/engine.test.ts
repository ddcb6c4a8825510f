import {describe, expect, it} from 'vitest'
import {demuxedText} from '../../src/core/engine/engine.js'

function frame(stream: number, text: string): Buffer {
  const payload = Buffer.from(text)
  const header = Buffer.alloc(8)
  header[0] = stream
  header.writeUInt32BE(payload.length, 4)
  return Buffer.concat([header, payload])
}

describe('demuxedText', () => {
  it("joins the payloads of a non-TTY log answer's frames, stdout and stderr alike", () => {
    const body = Buffer.concat([
      frame(1, 'Welcome to Debian\n'),
      frame(2, 'Failed to allocate manager object: Too many open files\n'),
      frame(1, 'Exiting PID 1...\n'),
    ])
    expect(demuxedText(body)).toBe(
      'Welcome to Debian\nFailed to allocate manager object: Too many open files\nExiting PID 1...\n',
    )
  })

  it('ignores a truncated trailing header and reads a truncated payload as far as it goes', () => {
    expect(demuxedText(Buffer.concat([frame(1, 'one\n'), Buffer.from([1, 0, 0])]))).toBe('one\n')
    expect(demuxedText(frame(1, 'partial line').subarray(0, 12))).toBe('part')
    expect(demuxedText(Buffer.alloc(0))).toBe('')
  })
})
