/** Helpers for end-to-end tests on the lab: the local dockerd, berth as a process, the docker CLI. */
import {ChildProcess, spawn} from 'node:child_process'
import {mkdtemp, readdir, readFile, rm, stat} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {createHash, randomBytes} from 'node:crypto'
import http from 'node:http'
import {connect, createServer, Socket, type Server} from 'node:net'
import {expect} from 'vitest'
import {containerDriver} from '../../drivers/container/index.js'
import type {Driver} from '../../src/core/drivers/contract.js'

export const REPO = resolve(import.meta.dirname, '../..')
export const LAB_ENGINE = process.env.BERTH_LAB_ENGINE ?? 'unix:///run/berth-lab/docker.sock'

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/** Environment without anything that could point a client at the wrong engine, or put berth in a test mode. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env = {...process.env}
  for (const key of Object.keys(env))
    if (key.startsWith('DOCKER_') || key.startsWith('BERTH_') || key === 'NODE_ENV') delete env[key]
  for (const [key, value] of Object.entries(extra)) if (value !== undefined) env[key] = value
  return env
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv
  input?: string | Buffer
  timeoutMs?: number
  /** Receives the process as soon as it starts (to signal it). */
  onSpawn?: (child: ChildProcess) => void
}

export function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {env: options.env ?? process.env, cwd: REPO})
    options.onSpawn?.(child)
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolvePromise({
        code: code ?? 137,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      })
    })
    if (options.input !== undefined) child.stdin.end(options.input)
    else child.stdin.end()
  })
}

/** A temporary berth store and a way to run berth against it on the lab engine. */
export class Lab {
  private constructor(readonly storePath: string) {}

  /** `prefix` names the store's folder (a test may want spaces or quotes in its paths). */
  static async create(prefix = 'berth-e2e-'): Promise<Lab> {
    return new Lab(await mkdtemp(join(tmpdir(), prefix)))
  }

  /** A machine name unique to this run, so parallel or leftover runs never collide. */
  name(prefix: string): string {
    return `${prefix}-${randomBytes(3).toString('hex')}`
  }

  env(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    return cleanEnv({BERTH_STORAGE_PATH: this.storePath, BERTH_CONTAINER_ENGINE: LAB_ENGINE, ...extra})
  }

  berth(
    args: string[],
    options: Omit<RunOptions, 'env'> & {env?: Record<string, string | undefined>} = {},
  ): Promise<RunResult> {
    return run(process.execPath, [join(REPO, 'bin/run.js'), ...args], {
      ...options,
      env: this.env(options.env),
    })
  }

  /**
   * The docker CLI configured by `berth env NAME`, exactly as a user's shell would be. `env` is what the machine's
   * driver needs to ask for its state (a simulator on PATH, an API endpoint): `env` refuses a machine not running.
   */
  async dockerEnv(name: string, env?: Record<string, string | undefined>): Promise<NodeJS.ProcessEnv> {
    const result = await this.berth(['env', '--shell', 'bash', name], {env})
    if (result.code !== 0) throw new Error(`berth env ${name}: ${result.stderr}`)
    const shell = await run('bash', ['-c', `${result.stdout}\nenv | grep ^DOCKER_`], {env: cleanEnv()})
    const vars = Object.fromEntries(
      shell.stdout
        .trim()
        .split('\n')
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    )
    return cleanEnv(vars)
  }

  async docker(
    name: string,
    args: string[],
    input?: Buffer,
    env?: Record<string, string | undefined>,
  ): Promise<RunResult> {
    return run('docker', args, {env: await this.dockerEnv(name, env), input})
  }

  async cleanup(): Promise<void> {
    await rm(this.storePath, {recursive: true, force: true})
  }
}

/**
 * A plain Debian host with sshd and no engine, made without berth's store: what `generic` and
 * external drivers adopt. Returned once sshd accepts connections (a booting container's
 * systemd starts it a moment after the container runs).
 */
export async function startBareHost(lab: Lab): Promise<{driver: Driver; ip: string; key: string}> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-bare-'))
  const context = {machineName: lab.name('bare'), machineDir: dir, storePath: dir, log: () => {}}
  const state = await containerDriver.configure({'container-engine': LAB_ENGINE}, context)
  const driver = containerDriver.load(state, context)
  await driver.create()
  const ip = await driver.getIP()
  await until(`sshd on ${ip}:22`, () => tcpAnswers(ip, 22).then((answers) => (answers ? true : undefined)))
  return {driver, ip, key: state.SSHKeyPath}
}

function tcpAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({host, port, timeout: 3000})
    const finish = (answers: boolean) => {
      socket.destroy()
      done(answers)
    }
    socket.once('connect', () => finish(true))
    socket.once('timeout', () => finish(false))
    socket.once('error', () => finish(false))
  })
}

/** The lab engine itself, through the docker CLI. */
export function labDocker(args: string[]): Promise<RunResult> {
  return run('docker', ['-H', LAB_ENGINE, ...args], {env: cleanEnv()})
}

/** A tiny image (static busybox) for workloads, since no registry is reachable here. */
export async function busyboxTar(): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-bb-'))
  try {
    const script = `mkdir -p ${dir}/bin && cp /bin/busybox ${dir}/bin/busybox && ln -s busybox ${dir}/bin/sh && tar -C ${dir} -c .`
    return await new Promise((resolvePromise, reject) => {
      const child = spawn('sh', ['-c', script])
      const chunks: Buffer[] = []
      child.stdout.on('data', (c: Buffer) => chunks.push(c))
      child.on('error', reject)
      child.on('close', (code) =>
        code === 0 ? resolvePromise(Buffer.concat(chunks)) : reject(new Error(`busybox tar exited ${code}`)),
      )
    })
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}

/** The command's stdout, after asserting it succeeded (its stderr is the failure message). */
export async function ok(result: Promise<RunResult> | RunResult): Promise<string> {
  const r = await result
  expect(r.code, r.stderr).toBe(0)
  return r.stdout
}

/** Polls `probe` until it returns a value; a probe that throws is tried again, and its last error ends up in the timeout's message. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 90_000): Promise<T> {
  const end = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (err) {
      last = err
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`)
    await new Promise((r) => setTimeout(r, 1000))
  }
}

/** The lab's InfluxDB 1.x (test/lab/lab.sh influx-start), as this machine reaches it. */
export const LAB_INFLUX = 'http://127.0.0.1:8086'

export interface InfluxSeries {
  name: string
  tags?: Record<string, string>
  columns: string[]
  values: unknown[][]
}

/** One InfluxQL query against the lab's InfluxDB; `epoch: 'u'` keeps times exact (ns epochs exceed a JSON number). */
export async function influxQuery(db: string, q: string, epoch?: 'u'): Promise<InfluxSeries[]> {
  const response = await fetch(
    `${LAB_INFLUX}/query?${new URLSearchParams({db, q, ...(epoch ? {epoch} : {})})}`,
  )
  const body = (await response.json()) as {results: {series?: InfluxSeries[]; error?: string}[]}
  if (body.results[0]?.error) throw new Error(body.results[0].error)
  return body.results[0]?.series ?? []
}

/** The lab bridge's gateway: the address at which machines reach services on this computer. */
export async function labBridgeGateway(): Promise<string> {
  const bridge = JSON.parse(await ok(labDocker(['network', 'inspect', 'bridge'])))[0].IPAM.Config[0] as {
    Gateway?: string
    Subnet: string
  }
  return bridge.Gateway ?? bridge.Subnet.replace(/\.0\/\d+$/, '.1')
}

/**
 * InfluxDB 1.6 here has no v2 API and no auth: this answers as InfluxDB 2 does (401 without the
 * token `acceptedToken()` returns at the time) and passes accepted writes on to the real /write.
 */
export async function startInfluxV2StandIn(
  host: string,
  acceptedToken: () => string,
): Promise<{url: string; close(): Promise<void>}> {
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== `Token ${acceptedToken()}`) {
      res
        .writeHead(401, {'Content-Type': 'application/json'})
        .end('{"code":"unauthorized","message":"unauthorized access"}')
      return
    }
    const url = new URL(req.url!, 'http://x')
    const upstream = http.request(
      `${LAB_INFLUX}/write?db=${url.searchParams.get('bucket')}&precision=ns`,
      {method: 'POST', headers: {'Content-Encoding': 'gzip'}},
      (answer) => {
        res.writeHead(answer.statusCode!, answer.headers)
        answer.pipe(res)
      },
    )
    req.pipe(upstream)
  })
  await new Promise<void>((resolveListen) => server.listen(0, host, resolveListen))
  return {
    url: `http://${host}:${(server.address() as {port: number}).port}`,
    close: () => new Promise((resolveClose) => server.close(() => resolveClose())),
  }
}

/** sha256 and mode of every file under a folder, by relative path (to prove originals untouched). */
export async function treeHashes(dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const entry of await readdir(dir, {withFileTypes: true})) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) Object.assign(out, await treeHashes(path, `${prefix}${entry.name}/`))
    else
      out[prefix + entry.name] =
        createHash('sha256')
          .update(await readFile(path))
          .digest('hex') + ` ${(await stat(path)).mode.toString(8)}`
  }
  return out
}

/** docker-machine's HostOptions as its `create` writes them (ConfigVersion 3), for store fixtures. */
export function dockerMachineHostOptions(certs: string, mdir: string) {
  return {
    Driver: '',
    Memory: 0,
    Disk: 0,
    EngineOptions: {
      ArbitraryFlags: [],
      Dns: null,
      GraphDir: '',
      Env: [],
      Ipv6: false,
      InsecureRegistry: [],
      Labels: [],
      LogLevel: '',
      StorageDriver: '',
      SelinuxEnabled: false,
      TlsVerify: true,
      RegistryMirror: [],
      InstallURL: 'https://get.docker.com',
    },
    SwarmOptions: {
      IsSwarm: false,
      Address: '',
      Discovery: '',
      Agent: false,
      Master: false,
      Host: 'tcp://0.0.0.0:3376',
      Image: 'swarm:latest',
      Strategy: 'spread',
      Heartbeat: 0,
      Overcommit: 0,
      ArbitraryFlags: [],
      ArbitraryJoinFlags: [],
      Env: null,
      IsExperimental: false,
    },
    AuthOptions: {
      CertDir: certs,
      CaCertPath: join(certs, 'ca.pem'),
      CaPrivateKeyPath: join(certs, 'ca-key.pem'),
      CaCertRemotePath: '',
      ServerCertPath: join(mdir, 'server.pem'),
      ServerKeyPath: join(mdir, 'server-key.pem'),
      ClientKeyPath: join(certs, 'key.pem'),
      ServerCertRemotePath: '',
      ServerKeyRemotePath: '',
      ClientCertPath: join(certs, 'cert.pem'),
      ServerCertSANs: [],
      StorePath: mdir,
    },
  }
}

/** A TCP proxy to InfluxDB on the lab bridge that the test can take down and bring back. */
export class InfluxProxy {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  port = 0

  constructor(readonly host: string) {}

  async up(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = new Socket()
      upstream.connect(8086, '127.0.0.1')
      for (const s of [client, upstream]) {
        this.sockets.add(s)
        s.on('close', () => this.sockets.delete(s))
        s.on('error', () => s.destroy())
      }
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((resolve) => this.server!.listen(this.port, this.host, resolve))
    this.port = (this.server.address() as {port: number}).port
  }

  /** Connections refused (nothing listens) and open ones cut. */
  async down(): Promise<void> {
    const closed = new Promise((r) => this.server?.close(r))
    for (const s of this.sockets) s.destroy()
    await closed
  }
}
