/** The VM image cache against a local HTTP server: verified downloads, reuse, locking, faults. */
import {createHash} from 'node:crypto'
import {createServer, Server} from 'node:http'
import {mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import {
  ensureImage,
  findInSums,
  imageCacheDir,
  parseDigest,
  validateImageRequest,
} from '../../src/core/vm/image-cache.js'

const image = Buffer.alloc(3 * 1024 * 1024 + 17)
for (let i = 0; i < image.length; i++) image[i] = (i * 31) % 251
const sha256 = createHash('sha256').update(image).digest('hex')
const sha512 = createHash('sha512').update(image).digest('hex')

/** What the server answers under each path; counts requests per path. */
const routes: Record<string, (res: import('node:http').ServerResponse) => void> = {}
const hits: Record<string, number> = {}
let server: Server
let base: string
let work: string

function sendSlowly(body: Buffer, chunks: number, delayMs: number, cutAfter?: number) {
  return (res: import('node:http').ServerResponse) => {
    res.writeHead(200, {'content-length': String(body.length)})
    const size = Math.ceil(body.length / chunks)
    let i = 0
    const next = () => {
      if (cutAfter !== undefined && i >= cutAfter) return res.destroy()
      if (i * size >= body.length) return res.end()
      res.write(body.subarray(i * size, ++i * size))
      setTimeout(next, delayMs)
    }
    next()
  }
}

function serve(path: string, body: Buffer | string) {
  routes[path] = (res) => res.end(body)
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '/'
    hits[path] = (hits[path] ?? 0) + 1
    const route = routes[path]
    if (route) route(res)
    else res.writeHead(404).end('not found')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as {port: number}).port}`
  work = await mkdtemp(join(tmpdir(), 'berth-cache-'))
})

afterAll(async () => {
  server.close()
  await rm(work, {recursive: true, force: true})
})

let cacheDir: string
beforeEach(async () => {
  for (const key of Object.keys(routes)) delete routes[key]
  for (const key of Object.keys(hits)) delete hits[key]
  cacheDir = await mkdtemp(join(work, 'cache-'))
  serve('/rel/disk.img', image)
  serve('/rel/SHA256SUMS', `${'0'.repeat(64)} *other.img\n${sha256} *disk.img\n`)
})

/** Every file left in the URL's cache folder (lock and temp files included). */
async function cacheFiles(url: string): Promise<string[]> {
  return (await readdir(imageCacheDir(cacheDir, url)).catch(() => [])).sort()
}

describe('image cache', () => {
  it('downloads an image verified against the SHA256SUMS beside it, with progress, then reuses it', async () => {
    const url = `${base}/rel/disk.img`
    const progress: Array<[number, number | undefined]> = []
    const cached = await ensureImage(
      {url},
      {cacheDir, onProgress: (received, total) => progress.push([received, total])},
    )
    expect(cached.path).toBe(join(imageCacheDir(cacheDir, url), 'disk.img'))
    expect(cached.digest).toEqual({algorithm: 'sha256', hex: sha256, source: `${base}/rel/SHA256SUMS`})
    expect((await readFile(cached.path)).equals(image)).toBe(true)
    expect(progress.at(-1)).toEqual([image.length, image.length])
    expect(await cacheFiles(url)).toEqual(['.disk.img.sha256', 'disk.img'])

    const again = await ensureImage({url}, {cacheDir})
    expect(again.path).toBe(cached.path)
    expect(hits['/rel/disk.img']).toBe(1)
    expect(hits['/rel/SHA256SUMS']).toBe(2) // the sum is checked every time: a new release replaces the file
  })

  it('downloads once when two creates ask at the same time', async () => {
    routes['/rel/disk.img'] = sendSlowly(image, 20, 15)
    const url = `${base}/rel/disk.img`
    const [first, second] = await Promise.all([
      ensureImage({url}, {cacheDir}),
      ensureImage({url}, {cacheDir}),
    ])
    expect(first.path).toBe(second.path)
    expect(hits['/rel/disk.img']).toBe(1)
    expect((await readFile(first.path)).equals(image)).toBe(true)
  })

  it('accepts an inline sha512 digest and a SHA512SUMS URL', async () => {
    const url = `${base}/rel/disk.img`
    expect(
      (await ensureImage({url, checksum: `sha512:${sha512.toUpperCase()}`}, {cacheDir})).digest.algorithm,
    ).toBe('sha512')
    serve('/sums/SHA512SUMS', `${sha512}  disk.img\n`)
    const cached = await ensureImage({url, checksum: `${base}/sums/SHA512SUMS`}, {cacheDir})
    expect(cached.digest).toMatchObject({algorithm: 'sha512', hex: sha512})
    expect(hits['/rel/disk.img']).toBe(1)
  })

  it('reads file:// images and sums', async () => {
    const dir = await mkdtemp(join(work, 'local-'))
    await writeFile(join(dir, 'disk.img'), image)
    await writeFile(join(dir, 'SHA256SUMS'), `SHA256 (disk.img) = ${sha256}\n`)
    const cached = await ensureImage({url: pathToFileURL(join(dir, 'disk.img')).toString()}, {cacheDir})
    expect((await readFile(cached.path)).equals(image)).toBe(true)
  })

  it('refuses a download whose checksum does not match and leaves nothing in the cache', async () => {
    const url = `${base}/rel/disk.img`
    const wrong = 'a'.repeat(64)
    await expect(ensureImage({url, checksum: wrong}, {cacheDir})).rejects.toThrow(
      `checksum mismatch for ${url}: the given checksum says sha256 ${wrong}, the download has ${sha256}`,
    )
    expect(await cacheFiles(url)).toEqual([])
  })

  it('replaces a cached image when the published sum changes', async () => {
    const url = `${base}/rel/disk.img`
    await ensureImage({url}, {cacheDir})
    const newer = Buffer.concat([image, Buffer.from('v2')])
    serve('/rel/disk.img', newer)
    serve('/rel/SHA256SUMS', `${createHash('sha256').update(newer).digest('hex')}  disk.img\n`)
    const cached = await ensureImage({url}, {cacheDir})
    expect((await readFile(cached.path)).equals(newer)).toBe(true)
    expect(hits['/rel/disk.img']).toBe(2)
  })

  it('re-verifies a cached file without its record, and rejects a corrupted one', async () => {
    const url = `${base}/rel/disk.img`
    const {path} = await ensureImage({url}, {cacheDir})
    await rm(join(imageCacheDir(cacheDir, url), '.disk.img.sha256'))
    await ensureImage({url}, {cacheDir})
    expect(hits['/rel/disk.img']).toBe(1)
    await rm(join(imageCacheDir(cacheDir, url), '.disk.img.sha256'))
    await writeFile(path, 'corrupted')
    await ensureImage({url}, {cacheDir})
    expect(hits['/rel/disk.img']).toBe(2)
    expect((await readFile(path)).equals(image)).toBe(true)
  })

  it('fails cleanly on HTTP errors, cut connections, stalls and missing sums', async () => {
    const url = `${base}/rel/disk.img`
    await expect(ensureImage({url: `${base}/rel/missing.img`, checksum: sha256}, {cacheDir})).rejects.toThrow(
      /HTTP 404/,
    )
    await expect(ensureImage({url: `${base}/nosums/disk.img`}, {cacheDir})).rejects.toThrow(
      `downloading checksums ${base}/nosums/SHA256SUMS failed: HTTP 404`,
    )
    serve('/rel/SHA256SUMS', `${sha256}  another.img\n`)
    await expect(ensureImage({url}, {cacheDir})).rejects.toThrow(
      `${base}/rel/SHA256SUMS lists no checksum for disk.img`,
    )

    routes['/rel/disk.img'] = sendSlowly(image, 10, 1, 4)
    await expect(ensureImage({url, checksum: sha256}, {cacheDir})).rejects.toThrow(/failed|ended early/)
    expect(await cacheFiles(url)).toEqual([])

    routes['/rel/disk.img'] = sendSlowly(image, 10, 5_000)
    await expect(ensureImage({url, checksum: sha256}, {cacheDir, stallTimeoutMs: 300})).rejects.toThrow(
      `downloading image ${url} stalled: nothing received for 0.3s`,
    )
    expect(await cacheFiles(url)).toEqual([])
  })

  it('removes temp files a killed download left behind', async () => {
    const url = `${base}/rel/disk.img`
    const {mkdir} = await import('node:fs/promises')
    await mkdir(imageCacheDir(cacheDir, url), {recursive: true})
    await writeFile(join(imageCacheDir(cacheDir, url), '.disk.img.dead.part'), 'half')
    await ensureImage({url}, {cacheDir})
    expect(await cacheFiles(url)).toEqual(['.disk.img.sha256', 'disk.img'])
  })

  it('validates requests without network access', () => {
    expect(() => validateImageRequest({url: 'ftp://x/disk.img'})).toThrow(/http\(s\):\/\/ or file:\/\//)
    expect(() => validateImageRequest({url: 'not a url'})).toThrow(/is not a URL/)
    expect(() => validateImageRequest({url: 'https://example.org/'})).toThrow(/does not name a file/)
    expect(() => validateImageRequest({url: 'https://example.org/a.img', checksum: 'abc123'})).toThrow(
      /neither a SHA-256/,
    )
    expect(() =>
      validateImageRequest({url: 'https://example.org/a.img', checksum: `sha512:${sha256}`}),
    ).toThrow(/neither a SHA-256/)
    expect(parseDigest(sha256)).toEqual({algorithm: 'sha256', hex: sha256, source: 'the given checksum'})
    expect(findInSums(`${sha256} *./a.img\n`, 'a.img', undefined, 's').hex).toBe(sha256)
  })
})
