/**
 * The built CLI's error surface: one "Error:" line on stderr, nothing on stdout, a meaningful exit code.
 * Needs dist/ (the test script builds first).
 */
import {execFile} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readdir, rm, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const BIN = join(ROOT, 'bin', 'run.js')

interface Run {
  code: number
  stdout: string
  stderr: string
}

let storage: string

function berth(args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = {...process.env, BERTH_STORAGE_PATH: storage, NO_COLOR: '1'}
  for (const name of ['MACHINE_DRIVER', 'DOCKER_HOST', 'NODE_OPTIONS', 'DEBUG']) delete env[name]
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {cwd: storage, env, timeout: 30_000},
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
        resolvePromise({code, stdout, stderr})
      },
    )
  })
}

const LONG = 'a'.repeat(300)

/**
 * [title, argv, exit code, pattern the one stderr line must match]. Commands that load the drivers cost about a
 * second of CPU each to start, so this list sticks to the error paths that matter; the messages themselves are
 * unit-tested with their modules.
 */
const CASES: Array<[string, string[], number, RegExp]> = [
  ['create ../x', ['create', '../x'], 2, /^Error: invalid machine name "\.\.\/x"/],
  ['create with an empty name', ['create', ''], 2, /^Error: machine name must not be empty/],
  ['create with a 300-character name', ['create', LONG], 2, /^Error: machine name is 300 characters long/],
  ['create -- -x', ['create', '--', '-x'], 2, /^Error: invalid machine name "-x"/],
  ['create with an unknown driver', ['create', '-d', 'nope', 'box'], 2, /^Error: unknown driver "nope"/],
  ['an unknown flag', ['inspect', '--bogus', 'ok'], 2, /^Error: .*--bogus/],
  ['-x where a name is expected (read as a flag)', ['inspect', '-x'], 2, /^Error: .*-x/],
  ['rm of a missing machine', ['rm', '-y', 'ghost'], 4, /^Error: machine "ghost" does not exist/],
  ['inspect of a missing machine', ['inspect', 'ghost'], 4, /^Error: machine "ghost" does not exist/],
  ['inspect ../x', ['inspect', '../x'], 2, /^Error: invalid machine name "\.\.\/x"/],
  ['inspect of a corrupt record', ['inspect', 'broken'], 1, /^Error: record of machine "broken" is corrupt/],
  [
    'inspect with a missing template field',
    ['inspect', 'ok', '-f', '{{.Nope}}'],
    2,
    /^Error: template: no field "Nope"/,
  ],
  // A record that is a symlink (here to a file of secrets) is refused by its path, its target never quoted.
  [
    'inspect of a record that is a symlink',
    ['inspect', 'linked'],
    1,
    /^Error: record of machine "linked" is unreadable \(.*config\.json: is a symlink\) \(`berth rm -f linked` removes it\)$/,
  ],
  // Durations and counts below 1 are refused in one line naming the flag.
  [
    'ls --timeout -5',
    ['ls', '--timeout', '-5'],
    2,
    /^Error: --timeout: Expected an integer greater than or equal to 1 but received: -5 \(see `berth ls --help`\)$/,
  ],
  [
    'config -t 0',
    ['config', '-t', '0', 'ok'],
    2,
    /^Error: --timeout: Expected an integer greater than or equal to 1 but received: 0/,
  ],
  [
    'provision --ssh-timeout -1',
    ['provision', '--ssh-timeout=-1', 'ok'],
    2,
    /^Error: --ssh-timeout: Expected an integer greater than or equal to 1 but received: -1/,
  ],
  [
    'create --ssh-timeout -1',
    ['create', '-d', 'generic', '--ssh-timeout', '-1', 'new'],
    2,
    /^Error: --ssh-timeout: Expected an integer greater than or equal to 1 but received: -1 \(see `berth create --help`\)$/,
  ],
  [
    'agent install --env BERTH_AGENT_INSECURE=1',
    [
      'agent',
      'install',
      'ok',
      '--influx-url',
      'https://influx:8086',
      '--database',
      'd',
      '--env',
      'BERTH_AGENT_INSECURE=1',
    ],
    2,
    /^Error: BERTH_AGENT_INSECURE is not supported: trust a private CA with --influx-ca-file$/,
  ],
]

const SHADOW = 'root:$6$SECRETSALT$HASH:19000:0:99999:7:::\n'

const DEBUG_RUN = ['inspect', 'ghost', '--debug']

let results: Map<string, Run>
let debugRun: Run

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'src', 'commands')))
    throw new Error('dist/ is missing: run `npm run build` first')
  storage = await mkdtemp(join(tmpdir(), 'berth-cli-'))
  await mkdir(join(storage, 'machines', 'broken'), {recursive: true})
  await writeFile(join(storage, 'machines', 'broken', 'config.json'), '{"Name": "broken", "Driver": {\n')
  await writeFile(join(storage, 'shadow'), SHADOW, {mode: 0o600})
  await mkdir(join(storage, 'machines', 'linked'), {recursive: true})
  await symlink(join(storage, 'shadow'), join(storage, 'machines', 'linked', 'config.json'))
  await mkdir(join(storage, 'machines', 'ok'), {recursive: true})
  await writeFile(
    join(storage, 'machines', 'ok', 'config.json'),
    JSON.stringify({Name: 'ok', DriverName: 'generic', Driver: {}}),
  )
  // Run them all at once: each is a separate node process, so this keeps the file fast.
  const runs = await Promise.all([...CASES.map(([, args]) => berth(args)), berth(DEBUG_RUN)])
  results = new Map(CASES.map(([title], i) => [title, runs[i]!]))
  debugRun = runs.at(-1)!
}, 60_000)

afterAll(async () => {
  if (storage) await rm(storage, {recursive: true, force: true})
})

describe('berth CLI errors', () => {
  for (const [title, , code, pattern] of CASES) {
    it(`${title}: one "Error:" line, empty stdout, exit ${code}`, () => {
      const run = results.get(title)!
      expect(run.stdout).toBe('')
      const lines = run.stderr.split('\n')
      expect(lines.at(-1), run.stderr).toBe('')
      expect(lines, run.stderr).toHaveLength(2)
      expect(lines[0]).toMatch(pattern)
      expect(run.code, run.stderr).toBe(code)
      expect(run.stderr).not.toMatch(/SECRET|HASH|root:/)
    })
  }

  it('invalid names touch nothing outside the store, nor inside it', async () => {
    expect(existsSync(join(storage, 'x'))).toBe(false)
    expect(existsSync(join(storage, 'machines', 'x'))).toBe(false)
    expect((await readdir(join(storage, 'machines'))).sort()).toEqual(['broken', 'linked', 'ok'])
  })

  it('--debug adds the stack after the one error line', () => {
    const run = debugRun
    expect(run.code).toBe(4)
    expect(run.stdout).toBe('')
    const lines = run.stderr.trim().split('\n')
    expect(lines[0]).toMatch(/^Error: machine "ghost" does not exist/)
    expect(lines.length).toBeGreaterThan(1)
    expect(lines.slice(1).some((l) => /^\s+at /.test(l))).toBe(true)
  })
})

describe('berth --help', () => {
  it("create -d DRIVER --help lists that driver's flags and the common ones only; plain create --help lists every driver", async () => {
    const all = await berth(['create', '--help'])
    for (const flag of [
      '--virtualbox-memory',
      '--amazonec2-region',
      '--hyperv-virtual-switch',
      '--generic-ip-address',
    ])
      expect(all.stdout).toContain(flag)
    for (const argv of [['-d', 'virtualbox'], ['--driver', 'virtualbox'], ['--driver=virtualbox']]) {
      const one = await berth(['create', ...argv, '--help'])
      expect(one.code).toBe(0)
      expect(one.stdout).toContain('--virtualbox-memory')
      expect(one.stdout).toContain('--engine-label')
      expect(one.stdout.split('EXAMPLES')[0]).not.toMatch(/--amazonec2-|--hyperv-|--generic-|--container-/) // the examples may name others
    }
  })
  it('lists as topics only the names that have subcommands (rm is a command, not a topic)', async () => {
    const run = await berth(['--help'])
    expect(run.code).toBe(0)
    const topics = /TOPICS\n([\s\S]*?)\n\n/.exec(run.stdout)?.[1] ?? ''
    const names = topics
      .split('\n')
      .map((line) => /^ {2}(\S+)/.exec(line)?.[1])
      .filter(Boolean)
    expect(names).toContain('swarm')
    expect(names).not.toContain('rm')
    expect(/COMMANDS\n[\s\S]*\n {2}rm {2,}Remove machines/.test(run.stdout)).toBe(true)
  })
})
