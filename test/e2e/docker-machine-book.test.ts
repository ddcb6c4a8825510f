/**
 * berth under the `docker-machine` name as its users' scripts call it: the five-node swarm from
 * "Learn Docker - Fundamentals of Docker 18.x" run as printed (container driver), then the same
 * machines through the commands whose behaviour docker-machine's source defines (commands/*.go).
 */
import {chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {cleanEnv, dockerMachineHostOptions, LAB_ENGINE, REPO, run, RunOptions} from '../lab/lab.js'

let store: string
let bin: string
const P = `bk${Math.random().toString(16).slice(2, 6)}-`
const node = (n: number) => `${P}node-${n}`

function env() {
  return cleanEnv({
    MACHINE_STORAGE_PATH: store,
    BERTH_CONTAINER_ENGINE: LAB_ENGINE,
    PATH: `${bin}:${process.env.PATH}`,
    P,
  })
}

function machine(args: string[], options: Omit<RunOptions, 'env'> = {}) {
  return run(join(bin, 'docker-machine'), args, {...options, env: env()})
}

beforeAll(async () => {
  store = await mkdtemp(join(tmpdir(), 'berth-book-'))
  bin = await mkdtemp(join(tmpdir(), 'berth-book-bin-'))
  // The name on PATH is what makes berth docker-machine (bin/run.js reads it from argv[1]).
  await symlink(join(REPO, 'bin', 'docker-machine.js'), join(bin, 'docker-machine'))
})

afterAll(async () => {
  await machine(['rm', '-f', ...[1, 2, 3, 4, 5].map(node)])
  await rm(store, {recursive: true, force: true})
  await rm(bin, {recursive: true, force: true})
})

describe("the book's swarm script", () => {
  it(
    'gives five Ready nodes, three of them managers',
    async () => {
      const script = await run('bash', [join(REPO, 'test/fixtures/book-swarm.sh')], {env: env()})
      expect(script.code, script.stderr).toBe(0)
      // As with docker-machine, the words are joined and the remote shell splits them again: quote for it.
      const ls = await machine([
        'ssh',
        node(1),
        'docker',
        'node',
        'ls',
        '--format',
        "'{{.Hostname}} {{.Status}} {{.ManagerStatus}}'",
      ])
      expect(ls.code, ls.stderr).toBe(0)
      const lines = ls.stdout.trim().split('\n').sort()
      expect(lines).toHaveLength(5)
      expect(lines.every((line) => line.split(' ')[1] === 'Ready')).toBe(true)
      expect(lines.filter((line) => /(Leader|Reachable)$/.test(line))).toHaveLength(3)
      expect(lines.map((line) => line.split(' ')[0])).toEqual([1, 2, 3, 4, 5].map(node))
    },
    20 * 60_000,
  ) // five full creates in parallel: ~3 min on an idle 2-core host, far more on a shared one
})

describe('ssh NAME COMMAND...', () => {
  it('passes flags after the name to the remote command; `--` is accepted; -h after the name is not help', async () => {
    const df = await machine(['ssh', node(5), 'df', '-h', '/'])
    expect(df.code, df.stderr).toBe(0)
    expect(df.stdout).toMatch(/^Filesystem\s+Size\s+Used/)
    const fenced = await machine(['ssh', node(5), '--', 'echo', '--advertise-addr', '-q'])
    expect(fenced.stdout).toBe('--advertise-addr -q\n')
    const exit = await machine(['ssh', node(5), 'sh', '-c', '"exit 7"'])
    expect(exit.code).toBe(7)
  })
})

describe('a stopped machine (test/integration/core/core-commands.bats, libmachine/drivers/drivers.go: ErrHostIsNotRunning)', () => {
  it('env and url exit 1 with "Host is not running"; ls leaves its URL empty; ssh refuses', async () => {
    const stopped = await machine(['stop', node(5)])
    expect(stopped.code, stopped.stderr).toBe(0)
    for (const command of ['env', 'url']) {
      const result = await machine([command, node(5)])
      expect(result.code, command).toBe(1)
      expect(result.stdout, command).toBe('')
      expect(result.stderr, command).toBe('Host is not running\n')
    }
    const ls = await machine(['ls', '--format', '{{.Name}}|{{.State}}|{{.URL}}'])
    expect(ls.stdout).toContain(`${node(5)}|Stopped|\n`)
    expect(ls.stdout).toMatch(new RegExp(`${node(4)}\\|Running\\|tcp://[0-9.]+:2376\n`))
    // commands/ssh.go: errStateInvalidForSSH.
    const ssh = await machine(['ssh', node(5), 'true'])
    expect([ssh.code, ssh.stderr]).toEqual([
      1,
      `Error: Cannot run SSH command: Host "${node(5)}" is not running\n`,
    ])
  })

  it('start of a running machine and stop of a stopped one exit 1 (libmachine/mcnerror/errors.go: ErrHostAlreadyInState)', async () => {
    const start = await machine(['start', node(4)])
    expect([start.code, start.stderr]).toEqual([1, `Machine "${node(4)}" is already running.\n`])
    const stop = await machine(['stop', node(5)])
    expect([stop.code, stop.stderr]).toEqual([1, `Machine "${node(5)}" is already stopped.\n`])
  })
})

describe('rm without -y (commands/rm.go, confirmInput in commands/commands.go)', () => {
  it('asks on stdout and reads the answer from a pipe: n and end of input keep the machine, y removes it', async () => {
    const config = join(store, 'machines', node(5), 'config.json')
    const no = await machine(['rm', node(5)], {input: 'n\n'})
    expect(no.code, no.stderr).toBe(0)
    expect(no.stdout).toBe(
      `About to remove ${node(5)}\nWARNING: This action will delete both local reference and remote instance.\nAre you sure? (y/n): `,
    )
    await stat(config)
    const eof = await machine(['rm', node(5)], {input: ''})
    expect(eof.code, eof.stderr).toBe(0)
    await stat(config)
    const yes = await machine(['rm', node(5)], {input: 'y\n'})
    expect(yes.code, yes.stderr).toBe(0)
    expect(yes.stdout).toMatch(new RegExp(`Are you sure\\? \\(y/n\\): Successfully removed ${node(5)}\n$`))
    await expect(stat(config)).rejects.toThrow()
    const again = await machine(['rm', '-y', node(5)])
    expect([again.code, again.stderr]).toEqual([
      1,
      `Error removing host "${node(5)}": Docker machine "${node(5)}" does not exist. Use "docker-machine ls" to list machines. Use "docker-machine create" to add a new one.\n`,
    ])
  })
})

describe("a machine docker-machine made, in docker-machine's store (no berth fields)", () => {
  let dm: string
  const made = `${P}dm`
  const inDm = (args: string[], options: Omit<RunOptions, 'env'> = {}) =>
    run(join(bin, 'docker-machine'), args, {
      ...options,
      env: cleanEnv({MACHINE_STORAGE_PATH: dm, PATH: `${bin}:${process.env.PATH}`}),
    })

  /** node-4 as `docker-machine create -d generic` leaves it: its store's certs, a 4-space record, docker-machine's drop-in on the host. */
  beforeAll(async () => {
    dm = await mkdtemp(join(tmpdir(), 'berth-book-dm-'))
    const src = JSON.parse(await readFile(join(store, 'machines', node(4), 'config.json'), 'utf8'))
    const certs = join(dm, 'certs')
    const mdir = join(dm, 'machines', made)
    await mkdir(certs, {recursive: true, mode: 0o700})
    await mkdir(mdir, {recursive: true, mode: 0o700})
    for (const f of ['ca.pem', 'ca-key.pem', 'cert.pem', 'key.pem'])
      await copyFile(join(store, 'certs', f), join(certs, f))
    const from = join(store, 'machines', node(4))
    for (const f of ['ca.pem', 'cert.pem', 'key.pem', 'server.pem', 'server-key.pem'])
      await copyFile(join(from, f), join(mdir, f))
    await copyFile(join(from, 'id_ed25519'), join(mdir, 'id_rsa'))
    for (const f of [
      join(certs, 'ca-key.pem'),
      join(certs, 'key.pem'),
      join(mdir, 'id_rsa'),
      join(mdir, 'key.pem'),
    ])
      await chmod(f, 0o600)
    const record = {
      ConfigVersion: 3,
      Driver: {
        IPAddress: src.Driver.IPAddress,
        MachineName: made,
        SSHUser: 'root',
        SSHPort: 22,
        SSHKeyPath: join(mdir, 'id_rsa'),
        StorePath: dm,
        SwarmMaster: false,
        SwarmHost: '',
        SwarmDiscovery: '',
        EnginePort: 2376,
        SSHKey: '',
      },
      DriverName: 'generic',
      HostOptions: dockerMachineHostOptions(certs, mdir),
      Name: made,
    }
    await writeFile(join(mdir, 'config.json'), JSON.stringify(record, null, '    '))
    // libmachine/provision/systemd.go's DaemonOptionsFile: an ExecStart that would fail dockerd if it stayed in effect.
    const plant = await machine([
      'ssh',
      node(4),
      'printf',
      "'[Service]\\nExecStart=\\nExecStart=/usr/bin/dockerd --from-docker-machine\\n'",
      '>',
      '/etc/systemd/system/docker.service.d/10-machine.conf',
    ])
    expect(plant.code, plant.stderr).toBe(0)
  })
  afterAll(async () => {
    await rm(dm, {recursive: true, force: true})
  })

  it('ssh pins the host key on first use; scp copies; no TypeError', async () => {
    const ssh = await inDm(['ssh', made, 'cat', '/etc/hostname'])
    expect([ssh.code, ssh.stdout, ssh.stderr]).toEqual([0, `${node(4)}\n`, ''])
    const pinned = JSON.parse(await readFile(join(dm, 'machines', made, 'config.json'), 'utf8'))
    expect(pinned.Berth.SSHHostKey).toMatch(/^ssh-ed25519 /)
    const local = join(dm, 'hello.txt')
    await writeFile(local, 'from docker-machine\n')
    const scp = await inDm(['scp', local, `${made}:/tmp/hello.txt`])
    expect(scp.code, scp.stderr).toBe(0)
    expect((await inDm(['ssh', made, 'cat', '/tmp/hello.txt'])).stdout).toBe('from docker-machine\n')
  })

  it("regenerate-certs issues a certificate the machine folder's CA verifies; provision takes docker-machine's drop-in out; the docker CLI works", async () => {
    const before = await readFile(join(dm, 'machines', made, 'server.pem'), 'utf8')
    const regen = await inDm(['regenerate-certs', '-f', made])
    expect(regen.code, regen.stderr).toBe(0)
    const after = await readFile(join(dm, 'machines', made, 'server.pem'), 'utf8')
    expect(after).not.toBe(before)
    // Since issue 15 a machine's own CA (its folder's ca.pem, what DOCKER_CERT_PATH points at) signs its server certificate.
    const verify = await run('openssl', [
      'verify',
      '-CAfile',
      join(dm, 'machines', made, 'ca.pem'),
      join(dm, 'machines', made, 'server.pem'),
    ])
    expect(verify.stdout.trim()).toBe(`${join(dm, 'machines', made, 'server.pem')}: OK`)

    const provision = await inDm(['provision', made])
    expect(provision.code, provision.stderr).toBe(0)
    const dropIns = await inDm(['ssh', made, 'ls', '/etc/systemd/system/docker.service.d/'])
    expect(dropIns.stdout.split('\n')).not.toContain('10-machine.conf')
    const env = await inDm(['env', '--shell', 'bash', made])
    const docker = await run('bash', ['-c', `${env.stdout}\ndocker info --format '{{.Name}}'`], {
      env: cleanEnv(),
    })
    // Provisioning names the host after the machine, as docker-machine's provisioners do (SetHostname).
    expect(docker.stdout.trim(), docker.stderr).toBe(made)
  })
})
