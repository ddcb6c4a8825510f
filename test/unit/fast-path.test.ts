/**
 * The read commands' fast path (src/cli/fast.ts) against the full CLI: the same bytes and exit codes, and none of
 * the heavy modules loaded. The container machines' engine is a stand-in on a unix socket answering
 * `GET /containers/NAME/json` as dockerd does (the e2e suites use the real one). Needs dist/.
 */
import {execFile} from 'node:child_process'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {createServer, type Server} from 'node:http'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseReadCommand} from '../../src/cli/fast.js'
import {
  BERTH_SCHEMA_VERSION,
  CONFIG_VERSION,
  emptyEngineOptions,
  emptySwarmOptions,
} from '../../src/core/store/record.js'
import type {MachineRecord} from '../../src/core/store/record.js'

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))

interface Run {
  code: number
  stdout: string
  stderr: string
}

let dir: string
let storage: string
let engine: Server

function run(
  bin: 'run.js' | 'docker-machine.js',
  args: string[],
  extra: NodeJS.ProcessEnv = {},
  node: string[] = [],
): Promise<Run> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BERTH_STORAGE_PATH: storage,
    MACHINE_STORAGE_PATH: storage,
    NO_COLOR: '1',
    ...extra,
  }
  for (const name of ['DOCKER_HOST', 'NODE_OPTIONS', 'DEBUG', 'BERTH_NO_FAST_PATH'])
    if (!(name in extra)) delete env[name]
  return new Promise((done) => {
    execFile(
      process.execPath,
      [...node, join(ROOT, 'bin', bin), ...args],
      {cwd: dir, env, timeout: 60_000},
      (err, stdout, stderr) => {
        done({code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr})
      },
    )
  })
}

function containerRecord(name: string, socket: string): MachineRecord {
  const mdir = join(storage, 'machines', name)
  return {
    ConfigVersion: CONFIG_VERSION,
    Driver: {
      IPAddress: '172.17.0.9',
      MachineName: name,
      SSHUser: 'root',
      SSHPort: 22,
      SSHKeyPath: join(mdir, 'id_ed25519'),
      StorePath: storage,
      Engine: `unix://${socket}`,
      Image: 'berth/host',
      Network: 'bridge',
      ContainerName: `berth-${name}`,
    },
    DriverName: 'container',
    HostOptions: {
      Driver: '',
      Memory: 0,
      Disk: 0,
      EngineOptions: emptyEngineOptions(),
      SwarmOptions: emptySwarmOptions(),
      AuthOptions: {
        CertDir: join(storage, 'certs'),
        CaCertPath: join(mdir, 'ca.pem'),
        CaPrivateKeyPath: '',
        CaCertRemotePath: '',
        ServerCertPath: join(mdir, 'server.pem'),
        ServerKeyPath: join(mdir, 'server-key.pem'),
        ClientKeyPath: join(mdir, 'key.pem'),
        ServerCertRemotePath: '',
        ServerKeyRemotePath: '',
        ClientCertPath: join(mdir, 'cert.pem'),
        ServerCertSANs: [],
        StorePath: mdir,
      },
    },
    Name: name,
    Berth: {
      SchemaVersion: BERTH_SCHEMA_VERSION,
      CreatedAt: new Date(0).toISOString(),
      Phase: 'provisioned',
      EnginePort: 2376,
      Timings: {},
      ServerTrust: 'machine-ca',
    },
  } as MachineRecord
}

/** A running container for berth-up, a stopped one for berth-down, none for anything else. */
function inspectAnswer(name: string): object | undefined {
  if (name === 'berth-up')
    return {
      Name: '/berth-up',
      State: {Status: 'running', Running: true},
      Config: {Labels: {}},
      NetworkSettings: {Networks: {bridge: {IPAddress: '172.17.0.9'}}},
    }
  if (name === 'berth-down')
    return {
      Name: '/berth-down',
      State: {Status: 'exited', Running: false, ExitCode: 0},
      Config: {Labels: {}},
      NetworkSettings: {Networks: {}},
    }
  return undefined
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-fast-'))
  storage = join(dir, 'store')
  const socket = join(dir, 'engine.sock')
  engine = createServer((req, res) => {
    const match = /^\/containers\/([^/]+)\/json$/.exec(req.url ?? '')
    const answer = match ? inspectAnswer(decodeURIComponent(match[1]!)) : undefined
    res.writeHead(answer ? 200 : 404, {'Content-Type': 'application/json'})
    res.end(JSON.stringify(answer ?? {message: `No such container: ${match?.[1]}`}))
  })
  await new Promise<void>((done) => engine.listen(socket, done))
  for (const name of ['up', 'down', 'gone']) {
    await mkdir(join(storage, 'machines', name), {recursive: true})
    await writeFile(
      join(storage, 'machines', name, 'config.json'),
      JSON.stringify(containerRecord(name, socket), null, 2),
    )
  }
  await writeFile(
    join(dir, 'trace-esm.mjs'),
    `import {appendFileSync} from 'node:fs'
export async function load(url, context, next) { appendFileSync(process.env.TRACE_FILE, url + '\\n'); return next(url, context) }\n`,
  )
  await writeFile(
    join(dir, 'trace.mjs'),
    `import * as nodeModule from 'node:module'
import {appendFileSync} from 'node:fs'
const {createRequire} = nodeModule
// Node 22.15+ has in-thread hooks and deprecates register() with a warning on stderr (DEP0205).
if (nodeModule.registerHooks) {
  nodeModule.registerHooks({load(url, context, next) { appendFileSync(process.env.TRACE_FILE, url + '\\n'); return next(url, context) }})
} else {
  nodeModule.register('./trace-esm.mjs', import.meta.url)
}
const Module = createRequire(import.meta.url)('node:module')
const load = Module._load
Module._load = function (request, parent, isMain) {
  try { appendFileSync(process.env.TRACE_FILE, Module._resolveFilename(request, parent, isMain) + '\\n') } catch {}
  return load.apply(this, arguments)
}\n`,
  )
}, 60_000)

afterAll(async () => {
  engine?.close()
  if (dir) await rm(dir, {recursive: true, force: true})
})

const READS: string[][] = [
  ['status', 'up'],
  ['status', 'up', '--json'],
  ['status', 'down'],
  ['status', 'gone'],
  ['ip', 'up'],
  ['ip', '--json', 'up'],
  ['url', 'up'],
  ['url', 'up', '--json'],
  ['inspect', 'up'],
  ['inspect', 'up', '-f', '{{.Driver.IPAddress}}'],
  ['inspect', '--format={{json .Driver}}', 'up'],
  ['inspect', 'up', '--format', '{{.DriverName}}'],
  ['ls', '-q'],
  ['ls', '--quiet'],
  // failures, where the fast path hands over to the full CLI for the one error line
  ['ip', 'down'],
  ['url', 'down'],
  ['status', 'ghost'],
  ['inspect', 'ghost'],
  ['inspect', 'up', '-f', '{{.Nope}}'],
  ['url', '../x'],
]

describe('read commands: fast path and full CLI agree', () => {
  it.each(READS.map((args) => [args.join(' '), args]))('%s', async (_title, args) => {
    const [fast, full] = await Promise.all([
      run('run.js', args as string[]),
      run('run.js', args as string[], {BERTH_NO_FAST_PATH: '1'}),
    ])
    expect(fast).toEqual(full)
  })

  it('under the docker-machine name too', async () => {
    for (const args of [
      ['status', 'up'],
      ['url', 'up'],
      ['url', 'down'],
      ['inspect', 'up'],
      ['inspect', 'up', '-f', '{{.Name}}'],
      ['inspect', 'up', '-f', '{{.Nope}}'],
      ['status', 'ghost'],
    ]) {
      const [fast, full] = await Promise.all([
        run('docker-machine.js', args),
        run('docker-machine.js', args, {BERTH_NO_FAST_PATH: '1'}),
      ])
      expect(fast).toEqual(full)
    }
  })
})

describe('read commands load neither oclif nor the Docker, SSH, AWS or progress libraries', () => {
  it.each([
    ['status', 'up'],
    ['ip', 'up'],
    ['url', 'up'],
    ['inspect', 'up', '-f', '{{.Name}}'],
    ['ls', '-q'],
  ])('%s %s', async (...args) => {
    const trace = join(dir, `trace-${args.join('-').replace(/\W/g, '_')}.txt`)
    const result = await run('run.js', args, {TRACE_FILE: trace}, ['--import', join(dir, 'trace.mjs')])
    expect(result.code, result.stderr).toBe(0)
    const loaded = await readFile(trace, 'utf8')
    expect(loaded).toContain('dist/src/cli/fast.js') // the trace works
    for (const heavy of [
      '@oclif/core',
      'dockerode',
      'docker-modem',
      '@aws-sdk',
      'listr2',
      'ssh2',
      'node-forge',
    ])
      expect(loaded).not.toContain(`node_modules/${heavy}/`)
  })
})

describe('a store of an earlier berth', () => {
  it('goes to the full CLI, which migrates it with its one line, then the fast path takes it', async () => {
    const earlier = join(dir, 'earlier')
    const record = containerRecord('up', join(dir, 'engine.sock'))
    delete record.Berth.ServerTrust
    record.HostOptions.AuthOptions.CaCertPath = join(earlier, 'certs', 'ca.pem') // one CA for every engine, as berth 0.1 had it
    await mkdir(join(earlier, 'machines', 'up'), {recursive: true})
    await writeFile(join(earlier, 'machines', 'up', 'config.json'), JSON.stringify(record, null, 2))
    const trace = join(dir, 'trace-earlier.txt')
    const first = await run('run.js', ['ls', '-q'], {BERTH_STORAGE_PATH: earlier, TRACE_FILE: trace}, [
      '--import',
      join(dir, 'trace.mjs'),
    ])
    expect(first).toMatchObject({code: 0, stdout: 'up\n'})
    expect(first.stderr).toMatch(/^berth: migrated .* to per-machine server trust/)
    expect(await readFile(trace, 'utf8')).toContain('node_modules/@oclif/core/')
    expect(await run('run.js', ['ls', '-q'], {BERTH_STORAGE_PATH: earlier})).toEqual({
      code: 0,
      stdout: 'up\n',
      stderr: '',
    })
  })
})

describe('parseReadCommand takes only the plain forms', () => {
  it('names, --json and -f', () => {
    expect(parseReadCommand(['status'])).toEqual({
      command: 'status',
      name: 'default',
      json: false,
      format: undefined,
    })
    expect(parseReadCommand(['inspect', 'a', '-f', '{{.Name}}'])).toMatchObject({
      name: 'a',
      format: '{{.Name}}',
    })
    expect(parseReadCommand(['ls', '-q'])).toMatchObject({command: 'ls'})
  })
  it.each([
    [['status', 'a', 'b']],
    [['status', '--help']],
    [['status', '-h']],
    [['ip', '-s', '/x', 'a']],
    [['ls']],
    [['ls', '-q', '--filter', 'x']],
    [['inspect', 'a', '-f']],
    [['inspect', 'a', '-f', '']],
    [['url', 'a', '-f', 'x']],
    [['status', 'a', '--debug']],
    [['rm', 'a']],
    [[]],
  ])('leaves %j to the full CLI', (argv) => {
    expect(parseReadCommand(argv)).toBeUndefined()
  })
})
