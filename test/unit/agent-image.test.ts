import {createHash} from 'node:crypto'
import {copyFile, mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import tar from 'tar-stream'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {AGENT_ENTRYPOINT, AGENT_MEMORY_ENV, buildAgentImage} from '../../src/core/agent/image.js'

async function untar(archive: Buffer): Promise<Map<string, {mode: number; type: string; body: Buffer}>> {
  const entries = new Map<string, {mode: number; type: string; body: Buffer}>()
  const extract = tar.extract()
  extract.end(archive)
  for await (const entry of extract) {
    const chunks: Buffer[] = []
    for await (const chunk of entry) chunks.push(chunk as Buffer)
    entries.set(entry.header.name, {
      mode: entry.header.mode ?? 0,
      type: entry.header.type ?? 'file',
      body: Buffer.concat(chunks),
    })
  }
  return entries
}

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-image-'))
})
afterEach(async () => {
  await rm(dir, {recursive: true, force: true})
})

/** A cache holding a stand-in "node" (a real dynamic binary, so ldd has something to resolve). */
async function cacheWithNode(name: string): Promise<string> {
  const cache = join(dir, name)
  await mkdir(join(cache, 'agent/node'), {recursive: true})
  await copyFile('/bin/true', join(cache, 'agent/node/node-v22.0.0'))
  return cache
}

describe('the agent image archive', () => {
  it('runs the agent as the published agent/Dockerfile does (same flags, same malloc setting)', async () => {
    const dockerfile = await readFile(join(import.meta.dirname, '../../agent/Dockerfile'), 'utf8')
    expect(JSON.parse(/^ENTRYPOINT (.*)$/m.exec(dockerfile)![1]!)).toEqual(AGENT_ENTRYPOINT)
    expect([...dockerfile.matchAll(/^ENV (.*)$/gm)].map((m) => m[1])).toEqual(AGENT_MEMORY_ENV)
  })

  it("is a docker-load archive: manifest, config with the layer's diff id, node + its libraries + the bundle", async () => {
    const bundle = join(dir, 'agent.mjs')
    await writeFile(bundle, 'console.log("agent")\n')
    const image = await buildAgentImage(await cacheWithNode('c1'), '9.9.9', {step: () => {}}, bundle)
    expect(image.tag).toBe('berth/agent:9.9.9')
    const outer = await untar(gunzipSync(await readFile(image.archive)))
    const manifest = JSON.parse(outer.get('manifest.json')!.body.toString())
    expect(manifest).toHaveLength(1)
    expect(manifest[0].RepoTags).toEqual(['berth/agent:9.9.9'])
    const config = outer.get(manifest[0].Config)!.body
    expect(`sha256:${createHash('sha256').update(config).digest('hex')}`).toBe(image.id)
    const parsed = JSON.parse(config.toString())
    expect(parsed.config.Entrypoint).toEqual([
      '/usr/local/bin/node',
      '--max-semi-space-size=1',
      '--max-opt=2',
      '/agent/agent.mjs',
    ])
    expect(parsed.config.Env).toContain('MALLOC_ARENA_MAX=2')
    const layer = outer.get(manifest[0].Layers[0])!.body
    expect(parsed.rootfs.diff_ids).toEqual([`sha256:${createHash('sha256').update(layer).digest('hex')}`])
    const files = await untar(layer)
    expect(files.get('agent/agent.mjs')?.body.toString()).toBe('console.log("agent")\n')
    expect(files.get('usr/local/bin/node')?.mode).toBe(0o755)
    expect(files.get('tmp/')?.mode).toBe(0o1777)
    expect(
      [...files.keys()].some((f) =>
        /^lib\/x86_64-linux-gnu\/libc\.so\.6$|^lib64\/ld-linux-x86-64\.so\.2$/.test(f),
      ),
    ).toBe(true)
  })

  it('is deterministic: the same content gives the same image ID in another cache, other content another', async () => {
    const bundle = join(dir, 'agent.mjs')
    await writeFile(bundle, 'one\n')
    const first = await buildAgentImage(await cacheWithNode('a'), '1.0.0', {step: () => {}}, bundle)
    const again = await buildAgentImage(await cacheWithNode('b'), '1.0.0', {step: () => {}}, bundle)
    expect(again.id).toBe(first.id)
    await writeFile(bundle, 'two\n')
    expect((await buildAgentImage(await cacheWithNode('c'), '1.0.0', {step: () => {}}, bundle)).id).not.toBe(
      first.id,
    )
  })
})
