import {describe, expect, it} from 'vitest'
import {BerthError} from '../../src/core/errors.js'
import {
  dockerdCommand,
  dropInUnit,
  splitExecStart,
  systemdQuote,
  validateEngineOptions,
} from '../../src/core/provision/daemon.js'
import {emptyEngineOptions} from '../../src/core/store/record.js'
import type {EngineOptions} from '../../src/core/store/record.js'

const DEBIAN_EXEC_START =
  '/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS'

function engine(overrides: Partial<EngineOptions> = {}): EngineOptions {
  return {...emptyEngineOptions(), ...overrides}
}

/** Index of `value` right after a `-H` word, or -1. */
function hostIndex(words: string[], value: string): number {
  return words.findIndex((w, i) => w === value && words[i - 1] === '-H')
}

function rejection(options: Partial<EngineOptions>): BerthError {
  try {
    validateEngineOptions(engine(options))
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError)
    return err as BerthError
  }
  throw new Error(`expected ${JSON.stringify(options)} to be rejected`)
}

describe('systemdQuote', () => {
  it('leaves plain words alone', () => {
    expect(systemdQuote('--tlsverify')).toBe('--tlsverify')
    expect(systemdQuote('tcp://0.0.0.0:2376')).toBe('tcp://0.0.0.0:2376')
    expect(systemdQuote('--label=a=b,c@d+e')).toBe('--label=a=b,c@d+e')
  })

  it('doubles % so specifiers are not expanded', () => {
    expect(systemdQuote('100%')).toBe('100%%')
    expect(systemdQuote('%H')).toBe('%%H')
  })

  it('doubles $ so variables are not expanded', () => {
    expect(systemdQuote('$HOME')).toBe('"$$HOME"')
    expect(systemdQuote('a$b$c')).toBe('"a$$b$$c"')
  })

  it('double-quotes words with spaces, escaping quotes and backslashes', () => {
    expect(systemdQuote('a b')).toBe('"a b"')
    expect(systemdQuote('say "hi"')).toBe('"say \\"hi\\""')
    expect(systemdQuote('a\\b')).toBe('"a\\\\b"')
    expect(systemdQuote("it's")).toBe('"it\'s"')
  })

  it('quotes the empty string so it stays a word', () => {
    expect(systemdQuote('')).toBe('""')
  })

  it('quoted words split back into one word', () => {
    for (const word of ['a b', '--label=team=a b c', '50% $x', 'x\ty']) {
      expect(splitExecStart(`/bin/x ${systemdQuote(word)} tail`)).toHaveLength(3)
    }
  })
})

describe('splitExecStart', () => {
  it('splits on whitespace and keeps $VARS as written', () => {
    expect(splitExecStart(DEBIAN_EXEC_START)).toEqual([
      '/usr/sbin/dockerd',
      '-H',
      'fd://',
      '--containerd=/run/containerd/containerd.sock',
      '$DOCKER_OPTS',
    ])
  })

  it('honours double and single quotes', () => {
    expect(splitExecStart(`/bin/x "a b"  'c d' e`)).toEqual(['/bin/x', 'a b', 'c d', 'e'])
  })

  it('keeps escaped quotes inside double quotes in one word', () => {
    expect(splitExecStart('/bin/x "a \\"b\\" c" d')).toEqual(['/bin/x', 'a \\"b\\" c', 'd'])
  })

  it('empty line gives no words', () => {
    expect(splitExecStart('   ')).toEqual([])
  })
})

describe('dockerdCommand', () => {
  const options = engine({
    Labels: ['env=prod', 'team=a b'],
    StorageDriver: 'overlay2',
    InsecureRegistry: ['reg.local:5000'],
    RegistryMirror: ['https://mirror.local'],
    ArbitraryFlags: ['log-level=debug', 'experimental'],
  })

  it("keeps Debian's fd://, containerd flag and unquoted $DOCKER_OPTS", () => {
    const command = dockerdCommand(DEBIAN_EXEC_START, options, 'generic', 2376)
    const words = splitExecStart(command)
    expect(words[0]).toBe('/usr/sbin/dockerd')
    expect(hostIndex(words, 'fd://')).toBeGreaterThan(0)
    expect(words.filter((w) => w === 'fd://')).toHaveLength(1)
    expect(words).toContain('--containerd=/run/containerd/containerd.sock')
    // $DOCKER_OPTS must stay a bare word so systemd still splits the variable into arguments.
    expect(command).toMatch(/ \$DOCKER_OPTS /)
    expect(command).not.toContain('$$DOCKER_OPTS')
    expect(command).not.toContain('"$DOCKER_OPTS"')
    expect(words).not.toContain('unix:///var/run/docker.sock')
  })

  it('adds the TLS listener, cert paths and the provider label', () => {
    const words = splitExecStart(dockerdCommand(DEBIAN_EXEC_START, options, 'generic', 2376))
    expect(hostIndex(words, 'tcp://0.0.0.0:2376')).toBeGreaterThan(0)
    expect(words).toContain('--tlsverify')
    expect(words).toContain('--tlscacert=/etc/docker/ca.pem')
    expect(words).toContain('--tlscert=/etc/docker/server.pem')
    expect(words).toContain('--tlskey=/etc/docker/server-key.pem')
    expect(words).toContain('--label=provider=generic')
  })

  it('uses the given port', () => {
    const words = splitExecStart(dockerdCommand(DEBIAN_EXEC_START, engine(), 'container', 12376))
    expect(hostIndex(words, 'tcp://0.0.0.0:12376')).toBeGreaterThan(0)
    expect(words).not.toContain('tcp://0.0.0.0:2376')
  })

  it('adds engine options (labels, storage driver, registries, arbitrary flags)', () => {
    const command = dockerdCommand(DEBIAN_EXEC_START, options, 'generic', 2376)
    const words = splitExecStart(command)
    expect(words).toContain('--label=env=prod')
    expect(words).toContain('--label=team=a b')
    expect(command).toContain('"--label=team=a b"')
    expect(words).toContain('--storage-driver=overlay2')
    expect(words).toContain('--insecure-registry=reg.local:5000')
    expect(words).toContain('--registry-mirror=https://mirror.local')
    expect(words).toContain('--log-level=debug')
    expect(words).toContain('--experimental')
  })

  it('escapes $ and % in engine options but not in words kept from the unit', () => {
    const command = dockerdCommand(
      DEBIAN_EXEC_START,
      engine({Labels: ['cost=100%', 'price=$5']}),
      'generic',
      2376,
    )
    expect(command).toContain('--label=cost=100%%')
    expect(command).toContain('"--label=price=$$5"')
  })

  it('without engine options adds no storage driver or extra flags', () => {
    const words = splitExecStart(dockerdCommand(DEBIAN_EXEC_START, engine(), 'generic', 2376))
    expect(words.some((w) => w.startsWith('--storage-driver'))).toBe(false)
    expect(words.filter((w) => w.startsWith('--label='))).toEqual(['--label=provider=generic'])
  })

  it("removes the original's tcp listener and TLS flags (both forms)", () => {
    const original =
      '/usr/bin/dockerd -H tcp://0.0.0.0:2375 --host=tcp://1.2.3.4:2377 -H=tcp://5.6.7.8:9 -H unix:///var/run/docker.sock ' +
      '--tls --tlsverify=false --tlscacert /old/ca.pem --tlscert=/old/cert.pem --tlskey /old/key.pem --debug'
    const command = dockerdCommand(original, engine(), 'generic', 2376)
    const words = splitExecStart(command)
    expect(command).not.toContain('2375')
    expect(command).not.toContain('2377')
    expect(command).not.toContain('5.6.7.8')
    expect(command).not.toContain('/old/')
    expect(words).not.toContain('--tls')
    expect(words).not.toContain('--tlsverify=false')
    expect(words.filter((w) => w === '--tlsverify')).toHaveLength(1)
    expect(words).toContain('--debug')
    // exactly two listeners: the local socket and berth's TLS port
    expect(words.filter((w) => w === '-H')).toHaveLength(2)
  })

  it('without fd:// listens on the unix socket', () => {
    const words = splitExecStart(dockerdCommand('/usr/bin/dockerd', engine(), 'generic', 2376))
    expect(hostIndex(words, 'unix:///var/run/docker.sock')).toBeGreaterThan(0)
    expect(words).not.toContain('fd://')
  })

  it('recognises fd:// in --host=fd:// and -H=fd:// forms', () => {
    for (const original of [
      '/usr/bin/dockerd --host=fd://',
      '/usr/bin/dockerd -H=fd://',
      '/usr/bin/dockerd --host fd://',
    ]) {
      const words = splitExecStart(dockerdCommand(original, engine(), 'generic', 2376))
      expect(hostIndex(words, 'fd://'), original).toBeGreaterThan(0)
      expect(words, original).not.toContain('--host=fd://')
      expect(words, original).not.toContain('-H=fd://')
    }
  })

  it("strips systemd's ExecStart prefixes from the binary", () => {
    expect(splitExecStart(dockerdCommand('-/usr/bin/dockerd -H fd://', engine(), 'generic', 2376))[0]).toBe(
      '/usr/bin/dockerd',
    )
  })

  it('keeps quoted words of the original as one word', () => {
    const words = splitExecStart(
      dockerdCommand('/usr/bin/dockerd "--data-root=/srv/docker data"', engine(), 'generic', 2376),
    )
    expect(words).toContain('--data-root=/srv/docker data')
  })
})

describe('dropInUnit', () => {
  it('clears ExecStart with an empty line before setting the real one', () => {
    const unit = dropInUnit('/usr/bin/dockerd -H fd://', [])
    const lines = unit.split('\n')
    expect(lines).toContain('[Service]')
    const reset = lines.indexOf('ExecStart=')
    expect(reset).toBeGreaterThan(lines.indexOf('[Service]'))
    expect(lines[reset + 1]).toBe('ExecStart=/usr/bin/dockerd -H fd://')
    expect(lines.filter((l) => l.startsWith('ExecStart='))).toHaveLength(2)
    expect(unit.endsWith('\n')).toBe(true)
  })

  it('writes one Environment= line per entry, quoted when needed', () => {
    const lines = dropInUnit('/usr/bin/dockerd', [
      'HTTP_PROXY=http://proxy:3128',
      'GREETING=hello world',
    ]).split('\n')
    expect(lines).toContain('Environment=HTTP_PROXY=http://proxy:3128')
    expect(lines).toContain('Environment="GREETING=hello world"')
    expect(lines.findIndex((l) => l.startsWith('Environment='))).toBeLessThan(lines.indexOf('ExecStart='))
  })

  it('Environment= keeps $ literal (systemd does no variable expansion there) and doubles %', () => {
    // systemd.exec(5), Environment=: "Variable expansion is not performed inside the strings, and $ has no
    // special meaning." Specifiers (%) are expanded, so % must be doubled; $ must not be.
    const lines = dropInUnit('/usr/bin/dockerd', ['PCT=100%', 'PASS=a$b']).split('\n')
    expect(lines).toContain('Environment=PCT=100%%')
    const pass = lines.filter((l) => l.includes('PASS='))
    expect(pass).toHaveLength(1)
    expect(pass[0]).toMatch(/^Environment="?PASS=a\$b"?$/)
  })
})

describe('validateEngineOptions', () => {
  it('accepts empty options and ordinary values', () => {
    expect(() => validateEngineOptions(engine())).not.toThrow()
    expect(() =>
      validateEngineOptions(
        engine({
          ArbitraryFlags: [
            'log-level=debug',
            'experimental',
            'default-ulimit=nofile=1024:2048',
            'log-opt=labels=a b',
          ],
          Env: ['HTTP_PROXY=http://proxy:3128', '_X=', 'A1=x=y'],
          Labels: ['env=prod', 'a.b/c=d e'],
          InsecureRegistry: ['reg:5000'],
          RegistryMirror: ['https://mirror'],
          StorageDriver: 'overlay2',
          InstallURL: 'https://get.docker.com',
        }),
      ),
    ).not.toThrow()
  })

  it('accepts "none" and https URLs as install URL, refuses http (the script runs as root)', () => {
    expect(() => validateEngineOptions(engine({InstallURL: 'none'}))).not.toThrow()
    expect(() => validateEngineOptions(engine({InstallURL: 'https://10.0.0.1/install.sh'}))).not.toThrow()
    expect(() => validateEngineOptions(engine({InstallURL: 'http://10.0.0.1/install.sh'}))).toThrow(
      /^--engine-install-url must be https:\/\/, not http:$/,
    )
    expect(() => validateEngineOptions(engine({InstallURL: 'https://u:pw@10.0.0.1/i.sh'}))).toThrow(
      /^--engine-install-url must not carry credentials$/,
    )
  })

  it('rejects bad option names', () => {
    for (const flag of ['bad name', '-log-level=debug', '--debug', '=x', '', 'log_level=x', 'a b=c']) {
      const err = rejection({ArbitraryFlags: [flag]})
      expect(err.exitCode, flag).toBe(2)
      expect(err.message, flag).toContain('--engine-opt')
    }
  })

  it('rejects overriding the listener and TLS flags berth manages', () => {
    for (const flag of [
      'host=tcp://0.0.0.0:2375',
      'H=unix:///x',
      'host',
      'tls',
      'tlsverify=false',
      'tlscacert=/x',
      'tlscert=/x',
      'tlskey=/x',
    ]) {
      const err = rejection({ArbitraryFlags: [flag]})
      expect(err.exitCode, flag).toBe(2)
      expect(err.message, flag).toMatch(/managed by berth/)
    }
  })

  it('rejects env entries without NAME=', () => {
    for (const env of ['NOVALUE', '=x', '1X=y', 'A B=c', '']) {
      const err = rejection({Env: [env]})
      expect(err.exitCode, env).toBe(2)
      expect(err.message, env).toContain('NAME=VALUE')
    }
  })

  it('rejects labels without KEY=', () => {
    expect(rejection({Labels: ['justakey']}).exitCode).toBe(2)
    expect(rejection({Labels: ['=value']}).exitCode).toBe(2)
  })

  it('rejects control characters in every field', () => {
    const cases: Array<Partial<EngineOptions>> = [
      {ArbitraryFlags: ['log-level=debug\nExecStartPre=/bin/evil']},
      {Env: ['A=b\nc']},
      {Env: ['A=b\rc']},
      {Labels: ['a=b\u0000']},
      {InsecureRegistry: ['reg\t:5000']},
      {RegistryMirror: ['https://m\u001b']},
      {StorageDriver: 'overlay2\n'},
      {Env: ['A=\u007f']},
    ]
    for (const options of cases) {
      const err = rejection(options)
      expect(err.exitCode, JSON.stringify(options)).toBe(2)
      expect(err.message, JSON.stringify(options)).toContain('control character')
      expect(err.message).not.toContain('\n')
    }
  })

  it('rejects install URLs that are not http(s) or contain spaces', () => {
    for (const url of ['ftp://x/y.sh', 'get.docker.com', 'https://x y', 'file:///etc/passwd', 'https://']) {
      const err = rejection({InstallURL: url})
      expect(err.exitCode, url).toBe(2)
      expect(err.message, url).toContain('--engine-install-url')
    }
  })
})
