/**
 * The arrows between berth's layers, read from the source: the model and the low layers never
 * import the operations; src/core never imports a driver (drivers are composed at the edge);
 * drivers reach berth only through the driver kit. And, from a real run of the built CLI, a
 * command on a machine of another driver does not load the AWS SDK.
 */
import {execFile} from 'node:child_process'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), {withFileTypes: true, recursive: true})
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)))
}

/** The repository-relative files a source file imports (static, re-exports and dynamic), without packages. */
function localImports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const specifiers = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"`;]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g),
  ].map((m) => m[1] ?? m[2]!)
  return specifiers
    .filter((s) => s.startsWith('.'))
    .map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)).replace(/\.js$/, '.ts'))
}

function violations(files: string[], forbidden: (target: string) => boolean): string[] {
  return files.flatMap((file) =>
    localImports(file)
      .filter(forbidden)
      .map((target) => `${file} -> ${target}`),
  )
}

describe('layers', () => {
  it('reads imports (the reader itself finds what is there)', () => {
    expect(localImports('src/core/ops/power.ts')).toContain('src/core/machine/machine.ts')
    expect(localImports('drivers/builtin.ts')).toEqual(
      expect.arrayContaining(['src/core/drivers/registry.ts', 'drivers/amazonec2/index.ts']),
    )
  })

  it('nothing in src/core/{provision,swarm,engine,machine} imports the operations', () => {
    const low = ['provision', 'swarm', 'engine', 'machine'].flatMap((dir) => sourceFiles(`src/core/${dir}`))
    expect(low.length).toBeGreaterThan(5)
    expect(violations(low, (target) => target.startsWith('src/core/ops/'))).toEqual([])
  })

  it('nothing in src/core imports a driver: built-in drivers are registered at the edge', () => {
    const core = sourceFiles('src/core')
    expect(violations(core, (target) => target.startsWith('drivers/'))).toEqual([])
  })

  it('drivers reach berth only through the driver kit', () => {
    const drivers = sourceFiles('drivers').filter((file) => file !== 'drivers/builtin.ts')
    const kit = ['src/core/drivers/kit.ts', 'src/core/drivers/kit-docker.ts']
    expect(violations(drivers, (target) => target.startsWith('src/') && !kit.includes(target))).toEqual([])
  })
})

describe('lazy drivers in the built CLI', () => {
  const BIN = join(ROOT, 'bin', 'run.js')
  const HOOK = join(ROOT, 'test', 'fixtures', 'module-log', 'register.mjs')

  /** The module URLs one `berth` run loads. */
  async function modulesLoaded(storage: string, args: string[]): Promise<{code: number; modules: string[]}> {
    const log = join(storage, `modules-${args[0]}.log`)
    const env: NodeJS.ProcessEnv = {...process.env, BERTH_STORAGE_PATH: storage, MODULE_LOG: log}
    for (const name of ['MACHINE_DRIVER', 'DOCKER_HOST', 'NODE_OPTIONS']) delete env[name]
    const code = await new Promise<number>((done) => {
      execFile(process.execPath, ['--import', HOOK, BIN, ...args], {env, timeout: 120_000}, (err) =>
        done(err ? Number(err.code ?? -1) : 0),
      )
    })
    return {code, modules: existsSync(log) ? (await readFile(log, 'utf8')).trim().split('\n') : []}
  }

  it('ip of a generic machine loads its driver, not the AWS SDK nor the other drivers', async () => {
    if (!existsSync(join(ROOT, 'dist', 'src', 'commands')))
      throw new Error('dist/ is missing: run `npm run build` first')
    const storage = await mkdtemp(join(tmpdir(), 'berth-layers-'))
    try {
      await mkdir(join(storage, 'machines', 'box'), {recursive: true})
      const record = {
        ConfigVersion: 3,
        Name: 'box',
        DriverName: 'generic',
        Driver: {
          IPAddress: '192.0.2.7',
          MachineName: 'box',
          SSHUser: 'root',
          SSHPort: 22,
          SSHKeyPath: '/nonexistent',
          StorePath: storage,
          SourceSSHKeyPath: '/nonexistent',
        },
        HostOptions: {},
      }
      await writeFile(join(storage, 'machines', 'box', 'config.json'), JSON.stringify(record))
      // `ip` binds the machine to its driver (Machine.open) and asks it for the address.
      const {code, modules} = await modulesLoaded(storage, ['ip', 'box'])
      expect(code).toBe(0)
      expect(modules.some((url) => url.includes('/drivers/generic/index.js'))).toBe(true)
      expect(modules.filter((url) => url.includes('@aws-sdk'))).toEqual([])
      expect(
        modules.filter((url) =>
          /\/drivers\/(amazonec2|virtualbox|hyperv|container|qemu)\/index\.js$/.test(url),
        ),
      ).toEqual([])
    } finally {
      await rm(storage, {recursive: true, force: true})
    }
  }, 150_000)
})
