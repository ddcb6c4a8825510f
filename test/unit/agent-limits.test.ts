/**
 * The agent's memory, pids and log-line limits as `agent install` takes them: parsed and checked
 * before anything is touched (one line, exit 2), carried into the container, the swarm service and
 * the agent's environment, and shown by `agent status`.
 */
import {execFile} from 'node:child_process'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {loadConfig} from '../../agent/src/config.js'
import {describePrivileges} from '../../src/cli/agent.js'
import {agentEnv, type AgentPrivileges} from '../../src/core/agent/agent.js'
import {globalServiceSpec} from '../../src/core/agent/global.js'
import {agentLimits, DEFAULT_AGENT_LIMITS, parseSize} from '../../src/core/agent/limits.js'
import {BerthError, ExitCode} from '../../src/core/errors.js'

const MIB = 1024 * 1024

describe('agent limits', () => {
  it('reads sizes as Docker writes them (binary units, optional b/ib)', () => {
    expect(parseSize('256m')).toBe(256 * MIB)
    expect(parseSize('1g')).toBe(1024 * MIB)
    expect(parseSize('1.5G')).toBe(1536 * MIB)
    expect(parseSize('64k')).toBe(65_536)
    expect(parseSize('64KiB')).toBe(65_536)
    expect(parseSize('512MB')).toBe(512 * MIB)
    expect(parseSize('4096')).toBe(4096)
    for (const bad of ['', 'm', '-1m', '1t', '1 0m', '0x10', '1e3', '12mm'])
      expect(parseSize(bad), bad).toBe(undefined)
  })

  it('defaults to 256 MiB, 128 pids and 64 KiB lines; takes values within bounds', () => {
    expect(agentLimits({})).toEqual({memoryBytes: 256 * MIB, pids: 128, maxLineBytes: 65_536})
    expect(agentLimits({memory: '1g', pidsLimit: 64, maxLineBytes: '1m'})).toEqual({
      memoryBytes: 1024 * MIB,
      pids: 64,
      maxLineBytes: MIB,
    })
  })

  it.each([
    [{memory: 'lots'}, '--memory takes a size such as 256m or 1g, not "lots"'],
    [{memory: '64m'}, '--memory must be between 96m and 65536m, not 64m'],
    [{memory: '100000000000'}, /^--memory must be between 96m and 65536m, not /],
    [{pidsLimit: 0}, '--pids-limit must be between 32 and 65536, not 0'],
    [{pidsLimit: -5}, '--pids-limit must be between 32 and 65536, not -5'],
    [{maxLineBytes: '100'}, '--max-line-bytes must be between 1k and 16m, not 100'],
    [{maxLineBytes: '1g'}, '--max-line-bytes must be between 1k and 16m, not 1024m'],
    [{maxLineBytes: '64 kilo'}, '--max-line-bytes takes a size such as 256m or 1g, not "64 kilo"'],
  ])('refuses %o with a one-line usage error', (flags, message) => {
    let error: unknown
    try {
      agentLimits(flags)
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(BerthError)
    expect((error as BerthError).exitCode).toBe(ExitCode.usage)
    expect((error as Error).message).toMatch(message)
    expect((error as Error).message).not.toContain('\n')
  })

  it('the cap reaches the agent through its environment, which its config reads back', () => {
    const options = {
      influx: {url: 'http://influx:8086', database: 'db'},
      limits: agentLimits({maxLineBytes: '32k'}),
    }
    const env = agentEnv('m1', options, {})
    expect(env).toContain('BERTH_AGENT_MAX_LINE_BYTES=32768')
    const config = loadConfig(Object.fromEntries(env.map((e) => e.split(/=(.*)/s).slice(0, 2))))
    expect(config.maxLineBytes).toBe(32_768)
    // Without the flag: the documented default, written out so status can show it.
    expect(agentEnv('m1', {influx: options.influx}, {})).toContain(
      `BERTH_AGENT_MAX_LINE_BYTES=${DEFAULT_AGENT_LIMITS.maxLineBytes}`,
    )
  })

  it("bounds V8's heap at half the memory limit, so it collects before the kernel kills", () => {
    const influx = {url: 'http://influx:8086', database: 'db'}
    expect(agentEnv('m1', {influx}, {})).toContain('NODE_OPTIONS=--max-old-space-size=128')
    expect(agentEnv('m1', {influx, limits: agentLimits({memory: '1g'})}, {})).toContain(
      'NODE_OPTIONS=--max-old-space-size=512',
    )
  })

  it('the global service takes the same limits', () => {
    const spec = globalServiceSpec(
      {
        influx: {url: 'http://influx:8086', database: 'db'},
        limits: agentLimits({memory: '512m', pidsLimit: 200}),
      },
      {},
      [],
      'sha256:abc',
      '0.1.0',
    )
    expect(spec.TaskTemplate.Resources.Limits).toEqual({MemoryBytes: 512 * MIB, Pids: 200})
  })

  it('status shows them', () => {
    const privileges: AgentPrivileges = {
      user: '65532:65532',
      capDrop: ['ALL'],
      capAdd: [],
      noNewPrivileges: true,
      readOnlyRootfs: true,
      privileged: false,
      pidMode: 'private',
      networkMode: 'host',
      memoryBytes: 224 * MIB,
      pidsLimit: 100,
      maxLineBytes: 32_768,
      dockerSocket: false,
      apiFilter: 'running',
    }
    expect(describePrivileges(privileges)).toContain('memory 224 MiB, pids 100, log lines cut at 32k,')
  })
})

describe('agent install refuses bad limits before touching anything', () => {
  const BIN = resolve(import.meta.dirname, '../../bin/run.js')
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-limits-'))
  })
  afterAll(() => rm(dir, {recursive: true, force: true}))
  const install = (extra: string[]) =>
    new Promise<{code: number; stderr: string}>((done) =>
      execFile(
        process.execPath,
        [
          BIN,
          'agent',
          'install',
          'no-such-machine',
          '--influx-url',
          'http://i:8086',
          '--database',
          'd',
          ...extra,
        ],
        {env: {...process.env, BERTH_STORAGE_PATH: join(dir, 'store'), NO_COLOR: '1'}, timeout: 30_000},
        (err, _stdout, stderr) => done({code: err ? Number(err.code) : 0, stderr}),
      ),
    )

  it.each([
    [['--memory', '8m'], 'Error: --memory must be between 96m and 65536m, not 8m'],
    [['--pids-limit', '3'], 'Error: --pids-limit must be between 32 and 65536, not 3'],
    [['--max-line-bytes', 'huge'], 'Error: --max-line-bytes takes a size such as 256m or 1g, not "huge"'],
    [
      ['--env', 'BERTH_AGENT_MAX_LINE_BYTES=5'],
      'Error: BERTH_AGENT_MAX_LINE_BYTES cannot be set with --env: use --max-line-bytes',
    ],
  ])('%o', async (extra, message) => {
    const {code, stderr} = await install(extra)
    expect(code).toBe(2)
    expect(stderr.trim().split('\n')[0]).toBe(message)
    expect(stderr).not.toMatch(/\n\s+at /)
  })
})
