/**
 * berth under the `docker-machine` name as its users' scripts call it: the five-node swarm from
 * "Learn Docker - Fundamentals of Docker 18.x" run as printed (container driver), then the same
 * machines through the commands whose behaviour docker-machine's source defines (commands/*.go).
 */
import {mkdtemp, rm, stat, symlink} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {cleanEnv, LAB_ENGINE, REPO, run, RunOptions} from '../lab/lab.js'

let store: string
let bin: string
const P = `bk${Math.random().toString(16).slice(2, 6)}-`
const node = (n: number) => `${P}node-${n}`

function env() {
  return cleanEnv({MACHINE_STORAGE_PATH: store, BERTH_CONTAINER_ENGINE: LAB_ENGINE, PATH: `${bin}:${process.env.PATH}`, P})
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
  it('gives five Ready nodes, three of them managers', async () => {
    const script = await run('bash', [join(REPO, 'test/fixtures/book-swarm.sh')], {env: env()})
    expect(script.code, script.stderr).toBe(0)
    // As with docker-machine, the words are joined and the remote shell splits them again: quote for it.
    const ls = await machine(['ssh', node(1), 'docker', 'node', 'ls', '--format', "'{{.Hostname}} {{.Status}} {{.ManagerStatus}}'"])
    expect(ls.code, ls.stderr).toBe(0)
    const lines = ls.stdout.trim().split('\n').sort()
    expect(lines).toHaveLength(5)
    expect(lines.every((line) => line.split(' ')[1] === 'Ready')).toBe(true)
    expect(lines.filter((line) => /(Leader|Reachable)$/.test(line))).toHaveLength(3)
    expect(lines.map((line) => line.split(' ')[0])).toEqual([1, 2, 3, 4, 5].map(node))
  })
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
