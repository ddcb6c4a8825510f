import {describe, expect, it} from 'vitest'
import {redactUrl} from '../../agent/src/url.js'
import {InfluxQuery} from '../../src/core/dashboards/harness.js'
import {checkUrl} from '../../src/core/http-url.js'

describe('URLs as berth prints them', () => {
  it('redactUrl hides user:password@, parsed or not, and leaves other URLs alone', () => {
    expect(redactUrl('http://admin:pw@influx:8086/x?a=b@c')).toBe('http://***@influx:8086/x?a=b@c')
    expect(redactUrl('https://a@b:pw:x@[broken')).toBe('https://***@[broken')
    expect(redactUrl('http://influx:8086/path@x')).toBe('http://influx:8086/path@x')
    expect(redactUrl('not a url user:pw@host')).toBe('not a url user:pw@host')
    expect(redactUrl('fetch failed for http://u:pw@h/ and https://v:pw@i')).toBe(
      'fetch failed for http://***@h/ and https://***@i',
    )
  })

  it('checkUrl takes http(s) only, without credentials, and never repeats them', () => {
    expect(checkUrl('https://influx:8086', '--influx-url').host).toBe('influx:8086')
    for (const [value, message] of [
      ['file:///etc/shadow', '--x must be http:// or https://, not file:'],
      ['javascript:alert(1)', '--x must be http:// or https://, not javascript:'],
      ['http://u:hunter2@h', '--x must not carry credentials'],
      ['http://u@h', '--x must not carry credentials'],
      ['http://u:hunter2@[h', '--x is not a URL: "http://***@[h"'],
    ])
      expect(() => checkUrl(value!, '--x')).toThrow(message)
    expect(checkUrl('file:///img', '--y', {schemes: ['file:']}).pathname).toBe('/img')
  })

  it('an InfluxDB that cannot be reached is named without the credentials of its URL', async () => {
    const query = new InfluxQuery({url: 'http://admin:hunter2@127.0.0.1:1', database: 'd'})
    await expect(query.query('SHOW DATABASES')).rejects.toThrow(
      /^cannot reach InfluxDB at http:\/\/\*\*\*@127\.0\.0\.1:1: /,
    )
    await query.query('SHOW DATABASES').catch((err: Error) => expect(err.message).not.toContain('hunter2'))
  })
})
