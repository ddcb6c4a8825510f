/**
 * docker-machine's bytes, derived from its source (github.com/docker/machine at v0.16.2's tree) and the Go
 * library code it runs through; each expectation names the file and function it was read from. The CLI part
 * runs the built bin/docker-machine.js (the test script builds first).
 */
import {execFile, execFileSync} from 'node:child_process'
import {mkdtemp, readdir, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {dockerMachineAppHelp, dockerMachineCommandHelp, goFlagString} from '../../src/cli/dm-help.js'
import {dockerMachineFailure, dockerMachinePowerLines} from '../../src/cli/power.js'
import {lsTable} from '../../src/commands/ls.js'
import {
  dockerMachineNoProxy,
  dockerMachineShell,
  EnvVars,
  renderDockerMachineEnv,
  renderDockerMachineUnset,
} from '../../src/core/env/env.js'
import {BerthError} from '../../src/core/errors.js'
import {refuseSharedIdentity} from '../../src/core/ops/create.js'
import {tabwrite} from '../../src/core/tabwriter.js'
import {descriptor as generic} from '../../drivers/generic/descriptor.js'
import {descriptor as container} from '../../drivers/container/descriptor.js'

const sp = (n: number) => ' '.repeat(n)
const tabs = (n: number) => '\t'.repeat(n)

describe("Go's text/tabwriter (Writer.format, writeLines, writePadding)", () => {
  it('pads each column block to its widest cell plus padding, never the last cell', () => {
    expect(tabwrite('a\tbb\tc\nccc\td\te\n', {minwidth: 0, tabwidth: 8, padding: 1, padchar: ' '})).toBe(
      'a   bb c\nccc d  e\n',
    )
  })
  it('a line without a tab ends a block: the next lines are aligned on their own', () => {
    expect(tabwrite('aaaaaa\tx\n--\nb\ty\n', {minwidth: 0, tabwidth: 8, padding: 1, padchar: ' '})).toBe(
      'aaaaaa x\n--\nb y\n',
    )
  })
  it("with '\\t' as pad character: cell width rounded up to tabwidth, padding in whole tabs", () => {
    // widest cell 13 + padding 1 = 14 -> 16; "  --debug, -D" (13) gets ceil(3/8) = 1 tab, "  -x" (4) gets 2.
    expect(
      tabwrite('  --debug, -D\tA\n  -x\tB\n', {minwidth: 0, tabwidth: 8, padding: 1, padchar: '\t'}),
    ).toBe(`  --debug, -D${tabs(1)}A\n  -x${tabs(2)}B\n`)
  })
  it('empty cells are padded too, so a blank column leaves trailing spaces (minwidth applies)', () => {
    expect(tabwrite('A\t\tB\nx\t\t\n', {minwidth: 5, tabwidth: 1, padding: 3, padchar: ' '})).toBe(
      `A${sp(4)}${sp(5)}B\nx${sp(4)}${sp(5)}\n`,
    )
  })
  it('counts runes, not bytes', () => {
    expect(tabwrite('é\tx\nab\ty\n', {minwidth: 0, tabwidth: 8, padding: 1, padchar: ' '})).toBe(
      'é  x\nab y\n',
    )
  })
})

describe('ls: commands/ls.go lsDefaultFormat through tabwriter.NewWriter(os.Stdout, 5, 1, 3, " ", 0)', () => {
  it('the default table: columns the width of their widest cell plus 3, ERRORS unpadded', () => {
    const rows = [
      ['NAME', 'ACTIVE', 'DRIVER', 'STATE', 'URL', 'SWARM', 'DOCKER', 'ERRORS'],
      ['node-1', '*', 'container', 'Running', 'tcp://172.18.0.2:2376', '', 'v27.5.1', ''],
      ['old', '-', 'generic', 'Stopped', '', '', 'Unknown', ''],
    ]
    expect(lsTable(rows.map((r) => r.join('\t')))).toBe(
      `NAME${sp(5)}ACTIVE${sp(3)}DRIVER${sp(6)}STATE${sp(5)}URL${sp(21)}SWARM${sp(3)}DOCKER${sp(4)}ERRORS\n` +
        `node-1${sp(3)}*${sp(8)}container${sp(3)}Running${sp(3)}tcp://172.18.0.2:2376${sp(3)}${sp(8)}v27.5.1${sp(3)}\n` +
        `old${sp(6)}-${sp(8)}generic${sp(5)}Stopped${sp(3)}${sp(24)}${sp(8)}Unknown${sp(3)}\n`,
    )
  })
})

describe('env: commands/env.go envTmpl, shellCfgSet, shellCfgUnset, GenerateUsageHint', () => {
  const vars: EnvVars = [
    ['DOCKER_TLS_VERIFY', '1'],
    ['DOCKER_HOST', 'tcp://192.168.99.100:2376'],
    ['DOCKER_CERT_PATH', '/home/u/.docker/machine/machines/dev'],
    ['DOCKER_MACHINE_NAME', 'dev'],
  ]
  const set = (
    shell: Parameters<typeof renderDockerMachineEnv>[0],
    typed = ['docker-machine', 'env', 'dev'],
  ) => renderDockerMachineEnv(shell, vars, typed)

  it('bash and other POSIX shells: export NAME="VALUE", eval $(...) unquoted, a space after the colon', () => {
    expect(set('posix')).toBe(
      'export DOCKER_TLS_VERIFY="1"\n' +
        'export DOCKER_HOST="tcp://192.168.99.100:2376"\n' +
        'export DOCKER_CERT_PATH="/home/u/.docker/machine/machines/dev"\n' +
        'export DOCKER_MACHINE_NAME="dev"\n' +
        '# Run this command to configure your shell: \n' +
        '# eval $(docker-machine env dev)\n',
    )
  })
  it('fish: set -gx NAME "VALUE"; with double quotes', () => {
    expect(set('fish', ['docker-machine', 'env', '--shell', 'fish', 'dev'])).toBe(
      'set -gx DOCKER_TLS_VERIFY "1";\n' +
        'set -gx DOCKER_HOST "tcp://192.168.99.100:2376";\n' +
        'set -gx DOCKER_CERT_PATH "/home/u/.docker/machine/machines/dev";\n' +
        'set -gx DOCKER_MACHINE_NAME "dev";\n' +
        '# Run this command to configure your shell: \n' +
        '# eval (docker-machine env --shell fish dev)\n',
    )
  })
  it('powershell: $Env:NAME = "VALUE", & ... | Invoke-Expression', () => {
    expect(set('powershell', ['docker-machine', 'env', '--shell', 'powershell', 'dev'])).toBe(
      '$Env:DOCKER_TLS_VERIFY = "1"\n' +
        '$Env:DOCKER_HOST = "tcp://192.168.99.100:2376"\n' +
        '$Env:DOCKER_CERT_PATH = "/home/u/.docker/machine/machines/dev"\n' +
        '$Env:DOCKER_MACHINE_NAME = "dev"\n' +
        '# Run this command to configure your shell: \n' +
        '# & docker-machine env --shell powershell dev | Invoke-Expression\n',
    )
  })
  it('cmd: SET NAME=VALUE, REM comments and a tab before @FOR', () => {
    expect(set('cmd', ['docker-machine', 'env', '--shell', 'cmd', 'dev'])).toBe(
      'SET DOCKER_TLS_VERIFY=1\n' +
        'SET DOCKER_HOST=tcp://192.168.99.100:2376\n' +
        'SET DOCKER_CERT_PATH=/home/u/.docker/machine/machines/dev\n' +
        'SET DOCKER_MACHINE_NAME=dev\n' +
        'REM Run this command to configure your shell: \n' +
        'REM \t@FOR /f "tokens=*" %i IN (\'docker-machine env --shell cmd dev\') DO @%i\n',
    )
  })
  it('tcsh: setenv NAME "VALUE"; with ":" as the comment', () => {
    expect(set('tcsh', ['docker-machine', 'env', '--shell', 'tcsh', 'dev'])).toBe(
      'setenv DOCKER_TLS_VERIFY "1";\n' +
        'setenv DOCKER_HOST "tcp://192.168.99.100:2376";\n' +
        'setenv DOCKER_CERT_PATH "/home/u/.docker/machine/machines/dev";\n' +
        'setenv DOCKER_MACHINE_NAME "dev";\n' +
        ': Run this command to configure your shell: \n' +
        ': eval `docker-machine env --shell tcsh dev`\n',
    )
  })
  it('emacs: (setenv "NAME" "VALUE") and a ;; comment', () => {
    expect(set('emacs', ['docker-machine', 'env', '--shell', 'emacs', 'dev'])).toBe(
      '(setenv "DOCKER_TLS_VERIFY" "1")\n' +
        '(setenv "DOCKER_HOST" "tcp://192.168.99.100:2376")\n' +
        '(setenv "DOCKER_CERT_PATH" "/home/u/.docker/machine/machines/dev")\n' +
        '(setenv "DOCKER_MACHINE_NAME" "dev")\n' +
        ';; Run this command to configure your shell: \n' +
        ';; (with-temp-buffer (shell-command "docker-machine env --shell emacs dev" (current-buffer)) (eval-buffer))\n',
    )
  })
  it('the program path is quoted in the hint when it holds a space or a backslash', () => {
    expect(set('posix', ['/opt/my tools/docker-machine', 'env', 'dev'])).toContain(
      '# eval $("/opt/my tools/docker-machine" env dev)\n',
    )
  })
  it('unset in every shell, PowerShell with the two backslashes of its Go raw string', () => {
    const names = ['DOCKER_TLS_VERIFY', 'DOCKER_HOST']
    const typed = ['docker-machine', 'env', '-u']
    expect(renderDockerMachineUnset('posix', names, typed)).toBe(
      'unset DOCKER_TLS_VERIFY\nunset DOCKER_HOST\n# Run this command to configure your shell: \n# eval $(docker-machine env -u)\n',
    )
    expect(renderDockerMachineUnset('fish', names, typed)).toMatch(
      /^set -e DOCKER_TLS_VERIFY;\nset -e DOCKER_HOST;\n/,
    )
    expect(renderDockerMachineUnset('powershell', names, typed)).toMatch(
      /^Remove-Item Env:\\\\DOCKER_TLS_VERIFY\nRemove-Item Env:\\\\DOCKER_HOST\n/,
    )
    expect(renderDockerMachineUnset('cmd', names, typed)).toMatch(
      /^SET DOCKER_TLS_VERIFY=\nSET DOCKER_HOST=\n/,
    )
    expect(renderDockerMachineUnset('tcsh', names, typed)).toMatch(
      /^unsetenv DOCKER_TLS_VERIFY;\nunsetenv DOCKER_HOST;\n/,
    )
    expect(renderDockerMachineUnset('emacs', names, typed)).toMatch(
      /^\(setenv "DOCKER_TLS_VERIFY" nil\)\n\(setenv "DOCKER_HOST" nil\)\n/,
    )
  })
  it("shell: the flag, else $SHELL's base name; its five shells by name, any other POSIX; no $SHELL fails", () => {
    expect(dockerMachineShell('fish', {SHELL: '/bin/bash'})).toBe('fish')
    expect(dockerMachineShell(undefined, {SHELL: '/usr/bin/tcsh'})).toBe('tcsh')
    expect(dockerMachineShell(undefined, {SHELL: '/bin/zsh'})).toBe('posix')
    expect(dockerMachineShell('csh', {})).toBe('posix') // shellCfgSet has no csh case
    expect(() => dockerMachineShell(undefined, {})).toThrow('Error: Unknown shell')
  })
  it('NO_PROXY: lower-case no_proxy first; the ip appended once after a comma (findNoProxyFromEnv)', () => {
    expect(dockerMachineNoProxy({}, '10.0.0.5')).toEqual(['NO_PROXY', '10.0.0.5'])
    expect(dockerMachineNoProxy({NO_PROXY: 'a.example'}, '10.0.0.5')).toEqual([
      'NO_PROXY',
      'a.example,10.0.0.5',
    ])
    expect(dockerMachineNoProxy({no_proxy: 'x', NO_PROXY: 'y'}, '10.0.0.5')).toEqual([
      'no_proxy',
      'x,10.0.0.5',
    ])
    expect(dockerMachineNoProxy({NO_PROXY: 'b, 10.0.0.5'}, '10.0.0.5')).toEqual(['NO_PROXY', 'b, 10.0.0.5'])
  })
  it("a hostile value cannot leave docker-machine's quotes: sh evaluates it back byte for byte", () => {
    const hostile = 'tcp://x"; touch /tmp/pwned-$USER; echo "`id`\\:2376'
    const out = renderDockerMachineEnv('posix', [['DOCKER_HOST', hostile]], ['docker-machine', 'env', 'x'])
    const printed = execFileSync('sh', ['-c', `${out}\nprintf %s "$DOCKER_HOST"`], {encoding: 'utf8'})
    expect(printed).toBe(hostile)
  })
  it('tcsh, which cannot escape inside double quotes, refuses such a value rather than print it', () => {
    expect(() => renderDockerMachineEnv('tcsh', [['DOCKER_HOST', 'a$b']], ['docker-machine'])).toThrow(
      /cannot be written safely for tcsh/,
    )
  })
})

describe("help: cmd/docker-machine/machine.go's templates, codegangsta/cli flag.go String, printHelp's tabwriter", () => {
  it('flags render as codegangsta/cli renders them', () => {
    expect(goFlagString({name: 'debug, D', kind: 'bool', usage: 'Enable debug mode'})).toBe(
      '--debug, -D\tEnable debug mode',
    )
    expect(
      goFlagString({name: 'tls-ca-cert', kind: 'string', usage: 'CA', envVar: 'MACHINE_TLS_CA_CERT'}),
    ).toBe('--tls-ca-cert \tCA [$MACHINE_TLS_CA_CERT]')
    expect(
      goFlagString({
        name: 'driver, d',
        kind: 'string',
        value: 'generic',
        usage: 'D',
        envVar: 'MACHINE_DRIVER',
      }),
    ).toBe('--driver, -d "generic"\tD [$MACHINE_DRIVER]')
    expect(goFlagString({name: 'timeout, t', kind: 'int', value: 10, usage: 'T'})).toBe(
      '--timeout, -t "10"\tT',
    )
    expect(goFlagString({name: 'engine-opt', kind: 'stringSlice', usage: 'O'})).toBe(
      '--engine-opt [--engine-opt option --engine-opt option]\tO',
    )
  })
  it('the app help: usage line, version, author, options and commands aligned with tabs', () => {
    const help = dockerMachineAppHelp('0.16.2, build berth-1.0.0', {MACHINE_STORAGE_PATH: '/s'})
    expect(
      help.startsWith(
        'Usage: docker-machine [OPTIONS] COMMAND [arg...]\n\nCreate and manage machines running Docker.\n\nVersion: 0.16.2, build berth-1.0.0\n\nAuthor:\n  Docker Machine Contributors - <https://github.com/docker/machine>\n\nOptions:\n',
      ),
    ).toBe(true)
    // Widest option cell: '  --storage-path, -s "/s"' (25) + 1 -> 32: '  --debug, -D' (13) needs 3 tabs.
    expect(help).toContain(`  --debug, -D${tabs(3)}Enable debug mode\n`)
    expect(help).toContain(
      `  --storage-path, -s "/s"${tabs(1)}Configures storage path [$MACHINE_STORAGE_PATH]\n`,
    )
    expect(help).toContain(
      `  --bugsnag-api-token ${tabs(2)}BugSnag API token for crash reporting [$MACHINE_BUGSNAG_API_TOKEN]\n`,
    )
    expect(help).toContain(`  --version, -v${tabs(3)}print the version\n  \nCommands:\n`)
    // Widest command cell: '  regenerate-certs' (18) + 1 -> 24.
    expect(help).toContain(`\nCommands:\n  active${tabs(2)}Print which machine is active\n  config${tabs(2)}`)
    expect(help).toContain(
      `  env${tabs(3)}Display the commands to set up the environment for the Docker client\n`,
    )
    expect(help).toContain(`  regenerate-certs${tabs(1)}Regenerate TLS Certificates for a machine\n`)
    expect(
      help.endsWith(
        `  help${tabs(3)}Shows a list of commands or help for one command\n  \nRun 'docker-machine COMMAND --help' for more information on a command.\n`,
      ),
    ).toBe(true)
    const commands = [...help.split('\nCommands:\n')[1]!.matchAll(/^ {2}([a-z-]+)\t/gm)].map((m) => m[1])
    expect(commands).toEqual([
      'active',
      'config',
      'create',
      'env',
      'inspect',
      'ip',
      'kill',
      'ls',
      'provision',
      'regenerate-certs',
      'restart',
      'rm',
      'ssh',
      'scp',
      'mount',
      'start',
      'status',
      'stop',
      'upgrade',
      'url',
      'version',
      'help',
    ])
  })
  it('a command help: Usage, usage, Description, then Options after a line of three spaces', () => {
    expect(
      dockerMachineCommandHelp(
        'inspect',
        'Inspect information about a machine',
        'Argument is a machine name.',
        [{name: 'format, f', kind: 'string', usage: 'Format the output using the given go template.'}],
      ),
    ).toBe(
      'Usage: docker-machine inspect [OPTIONS] [arg...]\n\nInspect information about a machine\n\nDescription:\n   Argument is a machine name.\n\nOptions:\n   \n   --format, -f \tFormat the output using the given go template.\n',
    )
    expect(
      dockerMachineCommandHelp(
        'ip',
        'Get the IP address of a machine',
        'Argument(s) are one or more machine names.',
        [],
      ),
    ).toBe(
      'Usage: docker-machine ip [arg...]\n\nGet the IP address of a machine\n\nDescription:\n   Argument(s) are one or more machine names.\n',
    )
  })
})

describe('start, stop, restart, kill: libmachine/host/host.go log lines and commands.go consolidateErrs', () => {
  it('names the machine in double quotes, as %q does', () => {
    expect(dockerMachinePowerLines('start', 'n1')).toEqual({
      before: 'Starting "n1"...',
      after: 'Machine "n1" was started.',
    })
    expect(dockerMachinePowerLines('stop', 'n1')).toEqual({
      before: 'Stopping "n1"...',
      after: 'Machine "n1" was stopped.',
    })
    expect(dockerMachinePowerLines('kill', 'n1')).toEqual({
      before: 'Killing "n1"...',
      after: 'Machine "n1" was killed.',
    })
    expect(dockerMachinePowerLines('restart', 'n1')).toEqual({before: 'Restarting "n1"...', after: undefined})
  })
  it("several machines' errors: one line each, docker-machine's words where it has them", () => {
    const failure = dockerMachineFailure([
      {title: 'a', ok: false, error: new BerthError('x', 1, undefined, 'Machine "a" is already running.')},
      {title: 'b', ok: true, value: 'Running'},
      {title: 'c', ok: false, error: new Error('driver said no\nmore')},
    ])
    expect(failure?.dockerMachineMessage).toBe('Machine "a" is already running.\ndriver said no')
    expect(dockerMachineFailure([{title: 'b', ok: true, value: 'Running'}])).toBeUndefined()
  })
})

describe('create: several names and a flag that names one machine', () => {
  it('generic with one --generic-ip-address refuses several names; the container driver does not', () => {
    expect(() => refuseSharedIdentity(generic, {'generic-ip-address': '10.0.0.5'}, ['a', 'b'])).toThrow(
      '--generic-ip-address names one machine: create a, b one per command, each with its own value',
    )
    expect(() => refuseSharedIdentity(generic, {'generic-ip-address': '10.0.0.5'}, ['a'])).not.toThrow()
    expect(() => refuseSharedIdentity(container, {'container-image': 'x'}, ['a', 'b'])).not.toThrow()
  })
})

// The built CLI under both names.
const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))
let storage: string

function run(
  bin: 'run.js' | 'docker-machine.js',
  args: string[],
): Promise<{code: number; stdout: string; stderr: string}> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MACHINE_STORAGE_PATH: storage,
    BERTH_STORAGE_PATH: storage,
    NO_COLOR: '1',
  }
  for (const name of ['MACHINE_DRIVER', 'DOCKER_HOST', 'NODE_OPTIONS', 'DEBUG', 'GENERIC_IP_ADDRESS'])
    delete env[name]
  return new Promise((done) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin', bin), ...args],
      {cwd: storage, env, timeout: 60_000},
      (err, stdout, stderr) =>
        done({code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr}),
    )
  })
}

beforeAll(async () => {
  storage = await mkdtemp(join(tmpdir(), 'berth-dm-bytes-'))
})
afterAll(async () => {
  await rm(storage, {recursive: true, force: true})
})

describe('the built CLI under the docker-machine name', () => {
  it('no arguments, -h and help print the app help (exit 0); an unknown command is its one line, exit 1', async () => {
    const [bare, dashH, help, unknown, helpUnknown] = await Promise.all(
      [[], ['-h'], ['help'], ['frobnicate'], ['help', 'frobnicate']].map((args) =>
        run('docker-machine.js', args),
      ),
    )
    for (const r of [bare!, dashH!, help!]) {
      expect(r.code).toBe(0)
      expect(r.stdout.startsWith('Usage: docker-machine [OPTIONS] COMMAND [arg...]\n')).toBe(true)
      expect(r.stdout).toBe(bare!.stdout)
      expect(r.stdout).not.toMatch(/berth(?!-)/i)
    }
    // cmd/docker-machine/machine.go: cmdNotFound.
    for (const r of [unknown, helpUnknown])
      expect(r).toEqual({
        code: 1,
        stdout: '',
        stderr:
          "docker-machine: 'frobnicate' is not a docker-machine command. See 'docker-machine --help'.\n",
      })
  })
  it('-h on a command and help COMMAND print its help page; -v the version line', async () => {
    const [dashH, helpLs, v] = await Promise.all([
      run('docker-machine.js', ['ls', '-h']),
      run('docker-machine.js', ['help', 'ls']),
      run('docker-machine.js', ['-v']),
    ])
    expect(dashH.code).toBe(0)
    expect(
      dashH.stdout.startsWith(
        'Usage: docker-machine ls [OPTIONS] [arg...]\n\nList machines\n\nOptions:\n   \n',
      ),
    ).toBe(true)
    expect(helpLs.stdout).toBe(dashH.stdout)
    expect(v.stdout).toMatch(/^docker-machine version 0\.16\.2, build berth-\S+\n$/)
  })
  it("create -d DRIVER without a name: create's help with that driver's flags, then its error, exit 1", async () => {
    const r = await run('docker-machine.js', ['create', '-d', 'generic'])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe('Error: No machine name specified\n')
    expect(
      r.stdout.startsWith(
        "Usage: docker-machine create [OPTIONS] [arg...]\n\nCreate a machine\n\nDescription:\n   Run 'docker-machine create --driver name --help' to include the create flags for that driver in the help text.\n\nOptions:\n   \n",
      ),
    ).toBe(true)
    expect(r.stdout).toContain('--generic-ip-address \t')
    expect(r.stdout).toContain('--driver, -d "container"\t') // flag.go String shows the default, not the value
    expect(r.stdout).not.toContain('--container-image')
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('   --'))
    expect(lines.map((l) => l.split('\t')[0])).toEqual(lines.map((l) => l.split('\t')[0]).sort()) // flag_sort.go
  })
})

describe('the built CLI under the berth name', () => {
  it('several names on one --generic-ip-address: one line, exit 2, nothing created', async () => {
    const r = await run('run.js', [
      'create',
      '-d',
      'generic',
      '--generic-ip-address',
      '10.0.0.5',
      'a',
      'b',
      'c',
      'd',
    ])
    expect(r).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'Error: --generic-ip-address names one machine: create a, b, c, d one per command, each with its own value\n',
    })
    expect(await readdir(storage)).toEqual([])
  })
})

describe('the none driver (drivers/none/driver.go): an engine registered by its URL', () => {
  const context = {machineName: 'ext', machineDir: '/s/machines/ext', storePath: '/s', log: () => {}}
  it("keeps docker-machine's fields: URL, and IPAddress as the URL's host:port", async () => {
    const {noneDriver} = await import('../../drivers/none/index.js')
    const state = await noneDriver.configure({url: 'tcp://10.0.0.5:2376'}, context)
    expect(state).toMatchObject({URL: 'tcp://10.0.0.5:2376', IPAddress: '10.0.0.5:2376', MachineName: 'ext'})
    const driver = noneDriver.load(state, context)
    expect(await driver.getState()).toBe('Running')
    expect(await driver.getIP()).toBe('10.0.0.5:2376')
    for (const [action, word] of [
      ['start', 'started'],
      ['stop', 'stopped'],
      ['restart', 'restarted'],
      ['kill', 'killed'],
    ] as const)
      await expect(driver[action]()).rejects.toThrow(`hosts without a driver cannot be ${word}`)
    await expect(driver.getSSHAddress()).rejects.toThrow(/no SSH access/)
  })
  it('refuses a missing --url with its words, and anything but tcp://HOST:PORT', async () => {
    const {noneDriver} = await import('../../drivers/none/index.js')
    await expect(noneDriver.configure({}, context)).rejects.toThrow(
      '--url option is required when no driver is selected',
    )
    for (const url of [
      'unix:///var/run/docker.sock',
      'tcp://10.0.0.5',
      'tcp://user:pw@10.0.0.5:2376',
      'tcp://10.0.0.5:2376/x";touch /tmp/p',
      'tcp://10.0.0.5:2376?x=1',
      'not a url',
    ])
      await expect(noneDriver.configure({url}, context), url).rejects.toThrow(/--url/)
  })
})
