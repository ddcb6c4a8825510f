import {describe, expect, it} from 'vitest'
import {BerthError} from '../../src/core/errors.js'
import {MAX_NAME_LENGTH, validateMachineName} from '../../src/core/names.js'
import {parseOsRelease, recipeFor} from '../../src/core/provision/os.js'

const DEBIAN = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`

const UBUNTU = `PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
ID=ubuntu
ID_LIKE=debian
`

const RASPBIAN = `PRETTY_NAME="Raspbian GNU/Linux 11 (bullseye)"
NAME="Raspbian GNU/Linux"
VERSION_ID="11"
ID=raspbian
ID_LIKE=debian
`

const MINT = `NAME="Linux Mint"
VERSION="21.3 (Virginia)"
ID=linuxmint
ID_LIKE="ubuntu debian"
PRETTY_NAME="Linux Mint 21.3"
VERSION_ID="21.3"
`

const FEDORA = `NAME="Fedora Linux"
VERSION="39 (Workstation Edition)"
ID=fedora
VERSION_ID=39
PRETTY_NAME="Fedora Linux 39 (Workstation Edition)"
`

const ALPINE = `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
`

const ROCKY = `NAME="Rocky Linux"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
`

function recipeError(text: string): BerthError {
  try {
    recipeFor(parseOsRelease(text))
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError)
    return err as BerthError
  }
  throw new Error('expected an unsupported OS error')
}

describe('parseOsRelease', () => {
  it('reads quoted and unquoted values', () => {
    expect(parseOsRelease(DEBIAN)).toEqual({
      id: 'debian',
      idLike: [],
      versionId: '12',
      prettyName: 'Debian GNU/Linux 12 (bookworm)',
    })
  })

  it('splits ID_LIKE into words and lowercases ids', () => {
    expect(parseOsRelease(MINT).idLike).toEqual(['ubuntu', 'debian'])
    expect(parseOsRelease('ID="Ubuntu"\nID_LIKE="Debian"').id).toBe('ubuntu')
    expect(parseOsRelease('ID="Ubuntu"\nID_LIKE="Debian"').idLike).toEqual(['debian'])
  })

  it('handles single quotes, escapes, comments, blank lines, CRLF and surrounding whitespace', () => {
    const text =
      '# comment\r\n\r\nID=\'debian\'\r\n  PRETTY_NAME="My \\"special\\" \\$box"  \r\nVERSION_ID=12\r\n'
    expect(parseOsRelease(text)).toEqual({
      id: 'debian',
      idLike: [],
      versionId: '12',
      prettyName: 'My "special" $box',
    })
  })

  it('keeps = inside values', () => {
    expect(parseOsRelease('PRETTY_NAME="a=b"').prettyName).toBe('a=b')
  })

  it('falls back to NAME, then "unknown OS", for the pretty name', () => {
    expect(parseOsRelease('NAME="Foo"\nID=foo').prettyName).toBe('Foo')
    expect(parseOsRelease('').prettyName).toBe('unknown OS')
    expect(parseOsRelease('').id).toBe('')
  })
})

describe('recipeFor', () => {
  it('debian and ubuntu by ID', () => {
    expect(recipeFor(parseOsRelease(DEBIAN)).name).toBe('debian')
    expect(recipeFor(parseOsRelease(UBUNTU)).name).toBe('ubuntu')
  })

  it('derivatives by ID_LIKE, in order', () => {
    expect(recipeFor(parseOsRelease(RASPBIAN)).name).toBe('debian')
    expect(recipeFor(parseOsRelease(MINT)).name).toBe('ubuntu')
  })

  it('ID wins over ID_LIKE', () => {
    expect(recipeFor(parseOsRelease('ID=debian\nID_LIKE=ubuntu')).name).toBe('debian')
  })

  it('the apt recipe installs the given packages non-interactively', () => {
    const recipe = recipeFor(parseOsRelease(DEBIAN))
    expect(recipe.enginePackages).toEqual(['docker.io'])
    const script = recipe.install(['docker.io', 'curl'])
    expect(script).toContain('DEBIAN_FRONTEND=noninteractive')
    expect(script).toMatch(/apt-get [^&]*update/)
    expect(script).toMatch(/apt-get [^&]*-y[^&]* install docker\.io curl$/)
  })

  for (const [name, text, pretty] of [
    ['Fedora', FEDORA, 'Fedora Linux 39 (Workstation Edition)'],
    ['Alpine', ALPINE, 'Alpine Linux v3.19'],
    ['Rocky', ROCKY, 'Rocky Linux 9.3 (Blue Onyx)'],
  ] as const) {
    it(`${name} is refused with an error naming PRETTY_NAME`, () => {
      const err = recipeError(text)
      expect(err.message).toMatch(/^unsupported OS: /)
      expect(err.message).toContain(pretty)
      expect(err.message).toContain('debian')
      expect(err.message).not.toContain('\n')
      expect(err.exitCode).not.toBe(0)
    })
  }
})

describe('validateMachineName', () => {
  it('accepts letters, digits, dots and dashes', () => {
    for (const name of [
      'default',
      'dev',
      'Dev-1',
      'a',
      '9',
      'web.prod',
      'x-y.z-0',
      'a'.repeat(MAX_NAME_LENGTH),
    ]) {
      expect(validateMachineName(name)).toBe(name)
    }
  })

  const rejected: Array<[string, string, RegExp]> = [
    ['path traversal', '../x', /invalid machine name "\.\.\/x"/],
    ['dot-dot', '..', /invalid machine name/],
    ['empty', '', /must not be empty/],
    ['300 characters', 'a'.repeat(300), /300 characters long; the limit is 63/],
    ['64 characters', 'a'.repeat(64), /64 characters long/],
    ['leading dash', '-x', /invalid machine name "-x"/],
    ['leading dot', '.x', /invalid machine name/],
    ['space', 'a b', /invalid machine name "a b"/],
    ['slash', 'x/y', /invalid machine name "x\/y"/],
    ['backslash', 'x\\y', /invalid machine name/],
    ['trailing newline', 'x\n', /invalid machine name "x\\n"/],
    ['underscore', 'a_b', /invalid machine name/],
    ['non-ascii', 'café', /invalid machine name/],
  ]
  for (const [what, name, message] of rejected) {
    it(`rejects ${what} with a one-line usage error`, () => {
      let caught: unknown
      try {
        validateMachineName(name)
      } catch (err) {
        caught = err
      }
      expect(caught).toBeInstanceOf(BerthError)
      const err = caught as BerthError
      expect(err.exitCode).toBe(2)
      expect(err.message).toMatch(message)
      expect(err.message).not.toMatch(/[\r\n]/)
    })
  }
})
