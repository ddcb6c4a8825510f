/**
 * The VM image cache, shared by the VM drivers: `<store>/cache/images/<hash of URL>/<file>`.
 * An image enters the cache only whole and verified: it is downloaded to a temp file beside its
 * final name, hashed while it streams, and renamed into place when the digest matches. A lock
 * per URL makes concurrent creates download once; the second one waits and reuses the file.
 */
import {createHash, randomBytes} from 'node:crypto'
import {createReadStream, createWriteStream, rmSync} from 'node:fs'
import {readdir, readFile, rename, rm, stat} from 'node:fs/promises'
import {basename, join} from 'node:path'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {fileURLToPath} from 'node:url'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import {ensurePrivateDir, writeFileAtomic} from '../store/fs.js'
import {acquireLock} from '../store/lock.js'

export type DigestAlgorithm = 'sha256' | 'sha512'

export interface ExpectedDigest {
  algorithm: DigestAlgorithm
  hex: string
  /** Where the sum came from, for error messages. */
  source: string
}

export interface ImageRequest {
  /** http(s):// or file:// URL of the disk image. */
  url: string
  /**
   * `sha256:HEX`, `sha512:HEX`, a bare hex digest (its length picks the algorithm), or the URL of
   * a SHA256SUMS/SHA512SUMS file. Default: the SHA256SUMS file beside the image.
   */
  checksum?: string
}

export interface ImageCacheOptions {
  /** The store's cache folder (Store.cacheDir). */
  cacheDir: string
  /**
   * Called as bytes arrive; total is absent when the server sends no length. Default: a
   * percentage line through `log` every 2 s.
   */
  onProgress?: (received: number, total: number | undefined) => void
  log?: (message: string) => void
  /** How long to wait for another process downloading the same image (default 60 min). */
  lockWaitMs?: number
  /** A download that receives nothing for this long fails (default 60 s). */
  stallTimeoutMs?: number
}

export interface CachedImage {
  path: string
  digest: ExpectedDigest
}

const HEX_LENGTH: Record<number, DigestAlgorithm> = {64: 'sha256', 128: 'sha512'}

function checkUrl(url: string, what: string): URL {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new BerthError(`${what} ${JSON.stringify(url)} is not a URL`, ExitCode.usage)
  }
  if (!['http:', 'https:', 'file:'].includes(parsed.protocol))
    throw new BerthError(`${what} ${JSON.stringify(url)} must be http(s):// or file://`, ExitCode.usage)
  return parsed
}

/** The image's file name, as SHA256SUMS files list it. */
export function imageFileName(url: string): string {
  const name = decodeURIComponent(basename(checkUrl(url, 'image URL').pathname))
  if (!name || name === '/' || name.startsWith('.'))
    throw new BerthError(`image URL ${JSON.stringify(url)} does not name a file`, ExitCode.usage)
  return name
}

/** Checks a request without any network access (for `configure`). */
export function validateImageRequest(request: ImageRequest): void {
  imageFileName(request.url)
  if (request.checksum && !parseDigest(request.checksum) && !/^(https?|file):\/\/./.test(request.checksum)) {
    throw new BerthError(
      `image checksum ${JSON.stringify(request.checksum)} is neither a sha256 or sha512 digest nor the URL of a checksum file`,
      ExitCode.usage,
      'give sha256:HEX, sha512:HEX or the http(s):// or file:// URL of a SHA256SUMS file',
    )
  }
}

/** A digest given inline, or undefined when the text is not one (then it is a SUMS URL). */
export function parseDigest(text: string): ExpectedDigest | undefined {
  const match = /^(?:(sha256|sha512):)?([0-9a-fA-F]+)$/.exec(text.trim())
  if (!match) return undefined
  const hex = match[2]!.toLowerCase()
  const algorithm = (match[1] as DigestAlgorithm | undefined) ?? HEX_LENGTH[hex.length]
  if (!algorithm || HEX_LENGTH[hex.length] !== algorithm) {
    throw new BerthError(
      `image checksum ${JSON.stringify(text)} is neither a SHA-256 (64 hex digits) nor a SHA-512 (128) digest`,
      ExitCode.usage,
    )
  }
  return {algorithm, hex, source: 'the given checksum'}
}

/**
 * Finds `fileName` in a checksum list: GNU lines (`HEX  name`, `HEX *name`) or BSD lines
 * (`SHA256 (name) = HEX`).
 */
export function findInSums(
  sums: string,
  fileName: string,
  defaultAlgorithm: DigestAlgorithm | undefined,
  source: string,
): ExpectedDigest {
  for (const line of sums.split('\n')) {
    const gnu = /^([0-9a-fA-F]{64}|[0-9a-fA-F]{128})\s+\*?(.+?)\s*$/.exec(line)
    const bsd = /^(SHA256|SHA512) \((.+)\) = ([0-9a-fA-F]+)\s*$/.exec(line)
    const [hex, name] = gnu ? [gnu[1]!, gnu[2]!] : bsd ? [bsd[3]!, bsd[2]!] : []
    if (!hex || name?.replace(/^\.\//, '') !== fileName) continue
    const algorithm = bsd
      ? (bsd[1]!.toLowerCase() as DigestAlgorithm)
      : (HEX_LENGTH[hex.length] ?? defaultAlgorithm)!
    return {algorithm, hex: hex.toLowerCase(), source}
  }
  throw new BerthError(
    `${source} lists no checksum for ${fileName}`,
    ExitCode.failure,
    "pass --*-image-checksum with the image's SHA-256",
  )
}

async function fetchOk(url: string, what: string, signal: AbortSignal): Promise<Response> {
  let response: Response
  try {
    response = await fetch(url, {signal, redirect: 'follow'})
  } catch (err) {
    throw new BerthError(
      `downloading ${what} ${url} failed: ${oneLine((err as {cause?: unknown}).cause ?? err)}`,
    )
  }
  if (!response.ok)
    throw new BerthError(
      `downloading ${what} ${url} failed: HTTP ${response.status} ${response.statusText}`.trim(),
    )
  return response
}

/** The digest the image must have: given inline, or read from a SUMS file. */
export async function expectedDigest(
  request: ImageRequest,
  signal: AbortSignal = AbortSignal.timeout(60_000),
): Promise<ExpectedDigest> {
  const inline = request.checksum ? parseDigest(request.checksum) : undefined
  if (inline) return inline
  const sumsUrl = request.checksum ?? new URL('SHA256SUMS', request.url).toString()
  const text = sumsUrl.startsWith('file:')
    ? await readFile(fileURLToPath(sumsUrl), 'utf8').catch((err) => {
        throw new BerthError(`reading ${sumsUrl} failed: ${oneLine(err)}`)
      })
    : await (await fetchOk(sumsUrl, 'checksums', signal)).text()
  const byName: DigestAlgorithm | undefined = /SHA512/i.test(basename(sumsUrl))
    ? 'sha512'
    : /SHA256/i.test(basename(sumsUrl))
      ? 'sha256'
      : undefined
  return findInSums(text, imageFileName(request.url), byName, sumsUrl)
}

/** The folder of one URL's image: a URL hash keeps names safe and distinct. */
export function imageCacheDir(cacheDir: string, url: string): string {
  return join(cacheDir, 'images', createHash('sha256').update(url).digest('hex').slice(0, 16))
}

async function hashFile(path: string, algorithm: DigestAlgorithm): Promise<string> {
  const hash = createHash(algorithm)
  await pipeline(createReadStream(path), hash)
  return hash.digest('hex')
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

/** Streams the image to `target`, returning its digest; fails when the stream stalls. */
async function download(
  url: string,
  target: string,
  algorithm: DigestAlgorithm,
  options: ImageCacheOptions,
): Promise<string> {
  const controller = new AbortController()
  const stallMs = options.stallTimeoutMs ?? 60_000
  let timer = setTimeout(() => controller.abort(), stallMs)
  try {
    let body: Readable
    let total: number | undefined
    if (url.startsWith('file:')) {
      const path = fileURLToPath(url)
      total = (
        await stat(path).catch((err) => {
          throw new BerthError(`reading image ${url} failed: ${oneLine(err)}`)
        })
      ).size
      body = createReadStream(path)
    } else {
      const response = await fetchOk(url, 'image', controller.signal)
      total = Number(response.headers.get('content-length')) || undefined
      if (!response.body) throw new BerthError(`downloading image ${url} failed: empty response`)
      body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream)
    }
    const hash = createHash(algorithm)
    let received = 0
    body.on('data', (chunk: Buffer) => {
      clearTimeout(timer)
      timer = setTimeout(() => controller.abort(), stallMs)
      hash.update(chunk)
      received += chunk.length
      options.onProgress?.(received, total)
    })
    try {
      await pipeline(body, createWriteStream(target, {flags: 'wx', mode: 0o600}))
    } catch (err) {
      if (controller.signal.aborted)
        throw new BerthError(
          `downloading image ${url} stalled: nothing received for ${stallMs / 1000}s`,
          ExitCode.timeout,
        )
      throw new BerthError(`downloading image ${url} failed: ${oneLine(err)}`)
    }
    if (total !== undefined && received !== total)
      throw new BerthError(`downloading image ${url} ended early: ${received} of ${total} bytes`)
    return hash.digest('hex')
  } finally {
    clearTimeout(timer)
  }
}

function progressLog(log: ((message: string) => void) | undefined): ImageCacheOptions['onProgress'] {
  if (!log) return undefined
  let lastShown = 0
  return (received, total) => {
    if (!total || Date.now() - lastShown < 2000) return
    lastShown = Date.now()
    log(
      `Downloading the image: ${Math.floor((received / total) * 100)}% of ${Math.round(total / 1048576)} MB`,
    )
  }
}

/**
 * Returns the cached, verified image for `request`, downloading it when missing or when the
 * expected digest changed (a new release under the same URL).
 */
export async function ensureImage(
  request: ImageRequest,
  givenOptions: ImageCacheOptions,
): Promise<CachedImage> {
  const options = {...givenOptions, onProgress: givenOptions.onProgress ?? progressLog(givenOptions.log)}
  const name = imageFileName(request.url)
  const digest = await expectedDigest(request)
  const dir = imageCacheDir(options.cacheDir, request.url)
  await ensurePrivateDir(options.cacheDir)
  await ensurePrivateDir(join(options.cacheDir, 'images'))
  await ensurePrivateDir(dir)
  const path = join(dir, name)
  // The digest the file was verified against, so a reuse needs no re-read of the whole image.
  const verified = join(dir, `.${name}.${digest.algorithm}`)
  const release = await acquireLock(
    join(dir, '.lock'),
    `downloading ${request.url}`,
    options.lockWaitMs ?? 60 * 60_000,
  )
  let partial: string | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    if (partial) rmSync(partial, {force: true})
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    // Under the lock every temp file is a leftover of a killed download.
    for (const entry of await readdir(dir))
      if (entry.endsWith('.part')) await rm(join(dir, entry), {force: true})
    if (await exists(path)) {
      const recorded = (await readFile(verified, 'utf8').catch(() => '')).trim()
      if (recorded === digest.hex) return {path, digest}
      if ((await hashFile(path, digest.algorithm)) === digest.hex) {
        await writeFileAtomic(verified, digest.hex + '\n', 0o600)
        return {path, digest}
      }
      options.log?.(`Cached ${name} does not match ${digest.source}; downloading it again`)
    }
    options.log?.(`Downloading ${request.url}`)
    partial = join(dir, `.${name}.${randomBytes(4).toString('hex')}.part`)
    const actual = await download(request.url, partial, digest.algorithm, options)
    if (actual !== digest.hex) {
      throw new BerthError(
        `checksum mismatch for ${request.url}: ${digest.source} says ${digest.algorithm} ${digest.hex}, the download has ${actual}`,
        ExitCode.failure,
        'the image or its checksum changed upstream, or the download was tampered with',
      )
    }
    await rm(verified, {force: true})
    await rename(partial, path)
    partial = undefined
    await writeFileAtomic(verified, digest.hex + '\n', 0o600)
    return {path, digest}
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (partial) await rm(partial, {force: true})
    await release()
  }
}
