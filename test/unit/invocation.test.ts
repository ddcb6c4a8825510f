import {describe, expect, it} from 'vitest'
import {prepareInvocation, rawCommandLine} from '../../src/cli/invocation.js'

describe('rawCommandLine: ssh takes everything after the machine name (docker-machine: SkipFlagParsing, c.Args().Tail())', () => {
  it("fences the remote command off with `--` so its flags are not berth's", () => {
    expect(
      rawCommandLine(['ssh', 'node-1', 'docker', 'swarm', 'init', '--advertise-addr', '10.0.0.2']),
    ).toEqual(['ssh', 'node-1', '--', 'docker', 'swarm', 'init', '--advertise-addr', '10.0.0.2'])
    expect(rawCommandLine(['ssh', 'n1', 'df', '-h'])).toEqual(['ssh', 'n1', '--', 'df', '-h'])
  })
  it('keeps a `--` the user wrote, a bare name, and help before the name', () => {
    expect(rawCommandLine(['ssh', 'n1', '--', 'df', '-h'])).toEqual(['ssh', 'n1', '--', 'df', '-h'])
    expect(rawCommandLine(['ssh', 'n1'])).toEqual(['ssh', 'n1'])
    expect(rawCommandLine(['ssh', '-h'])).toEqual(['ssh', '-h'])
    expect(rawCommandLine(['ssh', '--help'])).toEqual(['ssh', '--help'])
  })
  it("reads berth's own flags before the name", () => {
    expect(rawCommandLine(['ssh', '-s', '/tmp/x', 'n1', 'ls', '-l'])).toEqual([
      'ssh',
      '-s',
      '/tmp/x',
      'n1',
      '--',
      'ls',
      '-l',
    ])
    expect(rawCommandLine(['ssh', '-D', 'n1', 'ls', '-l'])).toEqual(['ssh', '-D', 'n1', '--', 'ls', '-l'])
  })
  it('leaves other commands alone', () => {
    expect(rawCommandLine(['ls', '-q'])).toEqual(['ls', '-q'])
  })
  it("applies after docker-machine's global flags", () => {
    const invocation = prepareInvocation(
      ['--bugsnag-api-token=x', '-s', '/st', 'ssh', 'n1', 'uname', '-a'],
      '/usr/bin/docker-machine',
      {},
    )
    expect(invocation.argv).toEqual(['ssh', 'n1', '--', 'uname', '-a'])
    expect(invocation.env.BERTH_STORAGE_PATH).toBe('/st')
  })
  it('-v and --version are the version command under the docker-machine name', () => {
    expect(prepareInvocation(['-v'], '/usr/bin/docker-machine', {}).argv).toEqual(['version'])
    expect(prepareInvocation(['--version'], '/x/docker-machine.js', {}).argv).toEqual(['version'])
    expect(prepareInvocation(['--version'], '/x/run.js', {}).argv).toEqual(['--version'])
  })
})
