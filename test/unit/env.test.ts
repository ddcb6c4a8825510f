import {execFileSync} from 'node:child_process'
import {describe, expect, it} from 'vitest'
import {detectShell, renderEnv, renderUnset, SHELLS, withNoProxy} from '../../src/core/env/env.js'
import type {EnvVars, Shell} from '../../src/core/env/env.js'
import {BerthError} from '../../src/core/errors.js'

const COMMAND = 'berth env dev'
const VARS: EnvVars = [
  ['DOCKER_TLS_VERIFY', '1'],
  ['DOCKER_HOST', 'tcp://10.0.0.5:2376'],
  ['DOCKER_CERT_PATH', '/home/u/.berth/machines/dev'],
  ['DOCKER_MACHINE_NAME', 'dev'],
]

function lines(text: string): string[] {
  expect(text.endsWith('\n')).toBe(true)
  return text.slice(0, -1).split('\n')
}

/** Runs a script in a real shell with only the given environment (stdin closed, so bash reads no rc file). */
function runShell(shell: 'bash' | 'sh', script: string, env: NodeJS.ProcessEnv): string {
  return execFileSync(shell, ['-c', script], {
    env: {PATH: process.env.PATH, ...env},
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

/** Evaluates rendered output in a real POSIX shell and prints the named variables, NUL-separated. */
function evalIn(shell: 'bash' | 'sh', output: string, names: string[]): string[] {
  const script = `eval "$OUT"; printf '%s\\0' ${names.map((n) => `"$${n}"`).join(' ')}`
  const printed = runShell(shell, script, {HOME: '/home/someone', OUT: output})
  return printed.split('\0').slice(0, names.length)
}

const TRICKY = [
  'tcp://10.0.0.5:2376',
  '/path with spaces/certs',
  '$HOME',
  '${HOME}',
  '$(echo pwned)',
  '`echo pwned`',
  'say "hi"',
  "it's",
  'back\\slash',
  'trailing\\',
  'C:\\Users\\me\\.berth',
  'multi\nline',
  '!bang !! *glob* ~tilde',
  '',
]

describe('renderEnv', () => {
  for (const shell of ['bash', 'zsh', 'sh'] as const) {
    it(`${shell}: export with double quotes, eval hint last`, () => {
      const out = lines(renderEnv(shell, VARS, COMMAND))
      expect(out.slice(0, 4)).toEqual([
        'export DOCKER_TLS_VERIFY="1"',
        'export DOCKER_HOST="tcp://10.0.0.5:2376"',
        'export DOCKER_CERT_PATH="/home/u/.berth/machines/dev"',
        'export DOCKER_MACHINE_NAME="dev"',
      ])
      expect(out.at(-1)).toBe(`# eval "$(${COMMAND})"`)
      expect(out.at(-2)).toMatch(/^# Run this command/)
    })
  }

  it('bash escapes $ ` " and \\ inside double quotes', () => {
    const out = renderEnv('bash', [['X', 'a$b`c"d\\e']], COMMAND)
    expect(lines(out)[0]).toBe('export X="a\\$b\\`c\\"d\\\\e"')
  })

  it('fish uses set -gx with single quotes', () => {
    const out = lines(
      renderEnv(
        'fish',
        [
          ['DOCKER_HOST', 'tcp://1.2.3.4:2376'],
          ['X', "it's a\\b"],
        ],
        COMMAND,
      ),
    )
    expect(out[0]).toBe("set -gx DOCKER_HOST 'tcp://1.2.3.4:2376';")
    expect(out[1]).toBe("set -gx X 'it\\'s a\\\\b';")
    expect(out.at(-1)).toBe(`# eval (${COMMAND})`)
  })

  for (const shell of ['powershell', 'pwsh'] as const) {
    it(`${shell} uses $Env:X = "..." with backtick escapes`, () => {
      const out = lines(
        renderEnv(
          shell,
          [
            ['DOCKER_HOST', 'tcp://1.2.3.4:2376'],
            ['X', 'a$b"c`d'],
          ],
          COMMAND,
        ),
      )
      expect(out[0]).toBe('$Env:DOCKER_HOST = "tcp://1.2.3.4:2376"')
      expect(out[1]).toBe('$Env:X = "a`$b`"c``d"')
      expect(out.at(-1)).toBe(`# & ${COMMAND} | Invoke-Expression`)
    })
  }

  it('cmd uses SET X=Y without quotes and REM comments', () => {
    const out = lines(
      renderEnv(
        'cmd',
        [
          ['DOCKER_HOST', 'tcp://1.2.3.4:2376'],
          ['DOCKER_CERT_PATH', 'C:\\Users\\me'],
        ],
        COMMAND,
      ),
    )
    expect(out[0]).toBe('SET DOCKER_HOST=tcp://1.2.3.4:2376')
    expect(out[1]).toBe('SET DOCKER_CERT_PATH=C:\\Users\\me')
    expect(out.at(-1)).toMatch(/^REM /)
    expect(out.at(-1)).toContain(`'${COMMAND}'`)
  })

  for (const shell of ['tcsh', 'csh'] as const) {
    it(`${shell} uses setenv`, () => {
      const out = lines(renderEnv(shell, [['DOCKER_HOST', 'tcp://1.2.3.4:2376']], COMMAND))
      expect(out[0]).toBe('setenv DOCKER_HOST "tcp://1.2.3.4:2376";')
      expect(out.at(-1)).toBe(`# eval \`${COMMAND}\``)
    })
  }

  it('emacs uses (setenv "X" "Y") with escaped quotes and backslashes', () => {
    const out = lines(
      renderEnv(
        'emacs',
        [
          ['DOCKER_HOST', 'tcp://1.2.3.4:2376'],
          ['X', 'a"b\\c'],
        ],
        COMMAND,
      ),
    )
    expect(out[0]).toBe('(setenv "DOCKER_HOST" "tcp://1.2.3.4:2376")')
    expect(out[1]).toBe('(setenv "X" "a\\"b\\\\c")')
    expect(out.at(-1)).toMatch(/^;; /)
    expect(out.at(-1)).toContain(`(shell-command "${COMMAND}"`)
  })

  it('every shell: one line per variable, then a two-line hint whose last line names the command', () => {
    for (const shell of SHELLS) {
      const out = lines(renderEnv(shell, VARS, COMMAND))
      expect(out, shell).toHaveLength(VARS.length + 2)
      expect(out.at(-1), shell).toContain(COMMAND)
      for (let i = 0; i < VARS.length; i++) expect(out[i], shell).toContain(VARS[i]![0])
    }
  })
})

describe('renderUnset', () => {
  const expected: Record<Shell, string> = {
    bash: 'unset DOCKER_HOST',
    zsh: 'unset DOCKER_HOST',
    sh: 'unset DOCKER_HOST',
    fish: 'set -e DOCKER_HOST;',
    powershell: 'Remove-Item Env:\\DOCKER_HOST',
    pwsh: 'Remove-Item Env:\\DOCKER_HOST',
    cmd: 'SET DOCKER_HOST=',
    tcsh: 'unsetenv DOCKER_HOST;',
    csh: 'unsetenv DOCKER_HOST;',
    emacs: '(setenv "DOCKER_HOST" nil)',
  }
  for (const shell of SHELLS) {
    it(`${shell}`, () => {
      const out = lines(renderUnset(shell, ['DOCKER_HOST', 'DOCKER_TLS_VERIFY'], 'berth env -u'))
      expect(out[0]).toBe(expected[shell])
      expect(out[1]).toBe(expected[shell].replace('DOCKER_HOST', 'DOCKER_TLS_VERIFY'))
      expect(out.at(-1)).toContain('berth env -u')
      expect(out).toHaveLength(4)
    })
  }

  it('bash output really unsets the variables', () => {
    const out = renderUnset('bash', ['DOCKER_HOST'], 'berth env -u')
    const printed = runShell('bash', 'DOCKER_HOST=x; eval "$OUT"; printf %s "${DOCKER_HOST-unset}"', {
      OUT: out,
    })
    expect(printed).toBe('unset')
  })
})

describe('POSIX output round-trips through a real shell', () => {
  for (const shell of ['bash', 'sh'] as const) {
    it(`${shell}: tricky values come back byte for byte`, () => {
      const vars: EnvVars = TRICKY.map((value, i) => [`V${i}`, value])
      const out = renderEnv(shell, vars, COMMAND)
      expect(
        evalIn(
          shell,
          out,
          vars.map(([n]) => n),
        ),
      ).toEqual(TRICKY)
    })

    it(`${shell}: DOCKER_HOST with spaces, $HOME, quotes and backslashes`, () => {
      const value = 'tcp://h:1 "$HOME" \'x\' \\n \\'
      const out = renderEnv(shell, [['DOCKER_HOST', value]], COMMAND)
      const printed = runShell(shell, 'eval "$OUT"; printf %s "$DOCKER_HOST"', {
        HOME: '/home/someone',
        OUT: out,
      })
      expect(printed).toBe(value)
    })
  }

  it('the eval hint is a comment, so evaluating the whole output runs nothing else', () => {
    const out = renderEnv('bash', [['A', '1']], 'false && exit 3')
    const printed = runShell('bash', 'eval "$OUT"; printf %s "$A"', {OUT: out})
    expect(printed).toBe('1')
  })
})

describe('withNoProxy', () => {
  it('adds the ip to an empty or missing list', () => {
    expect(withNoProxy(undefined, '10.0.0.5')).toBe('10.0.0.5')
    expect(withNoProxy('', '10.0.0.5')).toBe('10.0.0.5')
  })

  it('appends once and keeps existing entries in order', () => {
    expect(withNoProxy('localhost,.corp', '10.0.0.5')).toBe('localhost,.corp,10.0.0.5')
  })

  it('does not duplicate an ip already present (even with spaces around it)', () => {
    expect(withNoProxy('localhost, 10.0.0.5 ,.corp', '10.0.0.5')).toBe('localhost,10.0.0.5,.corp')
    const once = withNoProxy('localhost', '10.0.0.5')
    expect(withNoProxy(once, '10.0.0.5')).toBe(once)
  })

  it('drops empty entries', () => {
    expect(withNoProxy(',localhost,,', '10.0.0.5')).toBe('localhost,10.0.0.5')
  })

  it('does not treat a prefix as a match', () => {
    expect(withNoProxy('10.0.0.50', '10.0.0.5')).toBe('10.0.0.50,10.0.0.5')
  })
})

describe('detectShell', () => {
  it('the flag wins over $SHELL', () => {
    expect(detectShell('fish', {SHELL: '/bin/bash'}, 'linux')).toBe('fish')
    expect(detectShell('powershell', {SHELL: '/bin/bash'}, 'linux')).toBe('powershell')
  })

  it('uses the basename of $SHELL', () => {
    expect(detectShell(undefined, {SHELL: '/usr/bin/zsh'}, 'linux')).toBe('zsh')
    expect(detectShell(undefined, {SHELL: '/opt/homebrew/bin/fish'}, 'darwin')).toBe('fish')
    expect(detectShell(undefined, {SHELL: '/bin/tcsh'}, 'linux')).toBe('tcsh')
  })

  it('falls back to sh for an unknown login shell', () => {
    expect(detectShell(undefined, {SHELL: '/usr/bin/nushell'}, 'linux')).toBe('sh')
  })

  it('without $SHELL: sh on unix, powershell on windows', () => {
    expect(detectShell(undefined, {}, 'linux')).toBe('sh')
    expect(detectShell(undefined, {}, 'win32')).toBe('powershell')
  })

  it('an unknown --shell flag is a usage error naming it and the choices', () => {
    let caught: unknown
    try {
      detectShell('nushell', {SHELL: '/bin/bash'}, 'linux')
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(BerthError)
    const err = caught as BerthError
    expect(err.exitCode).toBe(2)
    expect(err.message).toContain('"nushell"')
    expect(err.message).toContain('bash')
    expect(err.message).not.toContain('\n')
  })
})

describe('csh quoting', () => {
  it('single-quotes values csh would expand inside double quotes', () => {
    const out = renderEnv('tcsh', [['DOCKER_CERT_PATH', "/home/$USER/it's"]], 'berth env x')
    expect(out.split('\n')[0]).toBe(`setenv DOCKER_CERT_PATH '/home/$USER/it'\\''s';`)
  })
})
