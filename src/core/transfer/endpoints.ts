import {randomBytes} from 'node:crypto'
import {createReadStream, createWriteStream} from 'node:fs'
import {chmod, mkdir, readdir, realpath, rename, rm, stat} from 'node:fs/promises'
import {posix, resolve} from 'node:path'
import type {Readable, Writable} from 'node:stream'
import type {SFTPWrapper} from 'ssh2'

export interface EntryStat {
  isDir: boolean
  isFile: boolean
  mode: number
  size: number
}

/** The file operations a copy needs, on this computer or over SFTP on a machine. */
export interface Endpoint {
  /** "NAME:" for a machine, "" for this computer (for messages). */
  readonly prefix: string
  stat(path: string): Promise<EntryStat | undefined>
  readdir(path: string): Promise<string[]>
  mkdir(path: string, mode: number): Promise<void>
  read(path: string): Readable
  write(path: string, mode: number): Writable
  /** Moves a finished temp file over its target (replacing it). */
  replace(from: string, to: string): Promise<void>
  chmod(path: string, mode: number): Promise<void>
  /** The path with every symlink resolved (it must exist). */
  realpath(path: string): Promise<string>
  remove(path: string): Promise<void>
  close(): void
}

/** A sibling temp name, so a copy appears under its real name only once complete. */
export function tempSibling(path: string): string {
  return posix.join(
    posix.dirname(path),
    `.${posix.basename(path)}.berth-${randomBytes(4).toString('hex')}.tmp`,
  )
}

export class LocalEndpoint implements Endpoint {
  readonly prefix = ''

  async stat(path: string): Promise<EntryStat | undefined> {
    try {
      const s = await stat(resolve(path))
      return {isDir: s.isDirectory(), isFile: s.isFile(), mode: s.mode & 0o7777, size: s.size}
    } catch (err) {
      if (
        (err as NodeJS.ErrnoException).code === 'ENOENT' ||
        (err as NodeJS.ErrnoException).code === 'ENOTDIR'
      )
        return undefined
      throw err
    }
  }

  async readdir(path: string): Promise<string[]> {
    return (await readdir(resolve(path))).sort()
  }

  async mkdir(path: string, mode: number): Promise<void> {
    await mkdir(resolve(path), {mode})
  }

  read(path: string): Readable {
    return createReadStream(resolve(path))
  }

  write(path: string, mode: number): Writable {
    return createWriteStream(resolve(path), {mode, flags: 'wx'})
  }

  async replace(from: string, to: string): Promise<void> {
    await rename(resolve(from), resolve(to))
  }

  async chmod(path: string, mode: number): Promise<void> {
    await chmod(resolve(path), mode)
  }

  realpath(path: string): Promise<string> {
    return realpath(resolve(path))
  }

  async remove(path: string): Promise<void> {
    await rm(resolve(path), {force: true})
  }

  close(): void {}
}

function sftpCall<T>(fn: (cb: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise((resolvePromise, reject) =>
    fn((err, value) => (err ? reject(err) : resolvePromise(value as T))),
  )
}

const NO_SUCH_FILE = 2

export class SftpEndpoint implements Endpoint {
  readonly prefix: string

  constructor(
    private readonly sftp: SFTPWrapper,
    machine: string,
  ) {
    this.prefix = `${machine}:`
  }

  async stat(path: string): Promise<EntryStat | undefined> {
    try {
      const s = await sftpCall<import('ssh2').Stats>((cb) => this.sftp.stat(path, cb))
      return {isDir: s.isDirectory(), isFile: s.isFile(), mode: s.mode & 0o7777, size: s.size}
    } catch (err) {
      if ((err as {code?: number}).code === NO_SUCH_FILE) return undefined
      throw err
    }
  }

  async readdir(path: string): Promise<string[]> {
    const entries = await sftpCall<import('ssh2').FileEntry[]>((cb) => this.sftp.readdir(path, cb))
    return entries
      .map((e) => e.filename)
      .filter((n) => n !== '.' && n !== '..')
      .sort()
  }

  async mkdir(path: string, mode: number): Promise<void> {
    await sftpCall<void>((cb) => this.sftp.mkdir(path, {mode}, cb))
  }

  read(path: string): Readable {
    return this.sftp.createReadStream(path)
  }

  write(path: string, mode: number): Writable {
    return this.sftp.createWriteStream(path, {mode, flags: 'wx'})
  }

  async replace(from: string, to: string): Promise<void> {
    // posix-rename@openssh.com replaces the target atomically; plain SFTP rename refuses an existing one.
    try {
      await sftpCall<void>((cb) => this.sftp.ext_openssh_rename(from, to, cb))
    } catch {
      await this.remove(to)
      await sftpCall<void>((cb) => this.sftp.rename(from, to, cb))
    }
  }

  async chmod(path: string, mode: number): Promise<void> {
    await sftpCall<void>((cb) => this.sftp.chmod(path, mode, cb))
  }

  realpath(path: string): Promise<string> {
    return sftpCall<string>((cb) => this.sftp.realpath(path, cb))
  }

  async remove(path: string): Promise<void> {
    try {
      await sftpCall<void>((cb) => this.sftp.unlink(path, cb))
    } catch (err) {
      if ((err as {code?: number}).code !== NO_SUCH_FILE) throw err
    }
  }

  close(): void {
    this.sftp.end()
  }
}
