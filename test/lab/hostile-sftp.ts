/**
 * A hostile machine for transfer tests: an SSH server (ssh2's Server) whose SFTP subsystem serves
 * a made-up tree whose folder listings may name entries `../../x`, `a/b` or with NUL bytes, as a
 * compromised host's sftp-server could, and that serves a file for any other path asked for.
 * Exec requests are refused. Every path a client opens for
 * writing is recorded, so a test can prove nothing was uploaded to it either.
 */
import {AddressInfo} from 'node:net'
import ssh2 from 'ssh2'
import type {Attributes, Connection, SFTPWrapper} from 'ssh2'

const {Server, utils} = ssh2
const {OPEN_MODE, STATUS_CODE} = utils.sftp

/** A folder lists names (any bytes the attacker likes); a file is its content. */
export type HostileTree = {[name: string]: HostileTree | string}

export interface HostileSftpServer {
  host: string
  port: number
  /** "ssh-ed25519 AAAA...", for pinning. */
  hostKey: string
  /** Paths the client asked to open for writing. */
  writes: string[]
  close(): Promise<void>
}

const FOLDER = 0o040755
const FILE = 0o100644

function attrs(node: HostileTree | string): Attributes {
  const now = Math.floor(Date.now() / 1000)
  return typeof node === 'string'
    ? {mode: FILE, size: Buffer.byteLength(node), uid: 0, gid: 0, atime: now, mtime: now}
    : {mode: FOLDER, size: 4096, uid: 0, gid: 0, atime: now, mtime: now}
}

/** What the server answers for a path it has no entry for: a hostile server serves whatever a client asks for. */
export const ANY_OTHER_PATH = 'owned'

/** Looks a path up segment by segment; a listed name may contain `/`, so each folder is tried with the whole remainder first. */
function find(tree: HostileTree, path: string): HostileTree | string | undefined {
  const rest = path.replace(/^\/+/, '')
  if (rest === '' || rest === '.') return tree
  if (Object.hasOwn(tree, rest)) return tree[rest]
  for (const name of Object.keys(tree)) {
    const child = tree[name]!
    if (typeof child !== 'string' && rest.startsWith(`${name}/`)) {
      const found = find(child, rest.slice(name.length + 1))
      if (found !== undefined) return found
    }
  }
  return undefined
}

function lookup(tree: HostileTree, path: string): HostileTree | string {
  return find(tree, path) ?? ANY_OTHER_PATH
}

function serveSftp(sftp: SFTPWrapper, tree: HostileTree, writes: string[]): void {
  const handles = new Map<number, {path: string; node: HostileTree | string; listed?: boolean}>()
  let next = 0
  const open = (path: string, node: HostileTree | string) => {
    const id = next++
    handles.set(id, {path, node})
    const handle = Buffer.alloc(4)
    handle.writeUInt32BE(id)
    return handle
  }
  const byHandle = (handle: Buffer) => handles.get(handle.readUInt32BE(0))
  const stat = (reqid: number, path: string) => {
    sftp.attrs(reqid, attrs(lookup(tree, path)))
  }
  sftp.on('REALPATH', (reqid, path) => {
    const absolute = path.startsWith('/') ? path : `/${path === '.' ? '' : path}`
    sftp.name(reqid, [{filename: absolute, longname: absolute, attrs: attrs(tree)}])
  })
  sftp.on('STAT', stat)
  sftp.on('LSTAT', stat)
  sftp.on('OPENDIR', (reqid, path) => {
    const node = lookup(tree, path)
    if (typeof node === 'string') return sftp.status(reqid, STATUS_CODE.NO_SUCH_FILE)
    sftp.handle(reqid, open(path, node))
  })
  sftp.on('READDIR', (reqid, handle) => {
    const entry = byHandle(handle)
    if (!entry || typeof entry.node === 'string') return sftp.status(reqid, STATUS_CODE.FAILURE)
    if (entry.listed) return sftp.status(reqid, STATUS_CODE.EOF)
    entry.listed = true
    const node = entry.node
    sftp.name(
      reqid,
      Object.keys(node).map((name) => ({filename: name, longname: name, attrs: attrs(node[name]!)})),
    )
  })
  sftp.on('OPEN', (reqid, path, flags) => {
    if (flags & (OPEN_MODE.WRITE | OPEN_MODE.CREAT)) {
      writes.push(path)
      return sftp.status(reqid, STATUS_CODE.PERMISSION_DENIED)
    }
    const node = lookup(tree, path)
    if (typeof node !== 'string') return sftp.status(reqid, STATUS_CODE.NO_SUCH_FILE)
    sftp.handle(reqid, open(path, node))
  })
  sftp.on('READ', (reqid, handle, offset, length) => {
    const entry = byHandle(handle)
    if (!entry || typeof entry.node !== 'string') return sftp.status(reqid, STATUS_CODE.FAILURE)
    const data = Buffer.from(entry.node)
    if (offset >= data.length) return sftp.status(reqid, STATUS_CODE.EOF)
    sftp.data(reqid, data.subarray(offset, offset + length))
  })
  sftp.on('FSTAT', (reqid, handle) => {
    const entry = byHandle(handle)
    return entry ? sftp.attrs(reqid, attrs(entry.node)) : sftp.status(reqid, STATUS_CODE.FAILURE)
  })
  sftp.on('CLOSE', (reqid, handle) => {
    handles.delete(handle.readUInt32BE(0))
    sftp.status(reqid, STATUS_CODE.OK)
  })
  for (const request of [
    'MKDIR',
    'SETSTAT',
    'FSETSTAT',
    'REMOVE',
    'RMDIR',
    'RENAME',
    'WRITE',
    'SYMLINK',
  ] as const) {
    sftp.on(request, (reqid: number, path: string | Buffer) => {
      if (typeof path === 'string') writes.push(path)
      sftp.status(reqid, STATUS_CODE.PERMISSION_DENIED)
    })
  }
}

/** Starts the hostile machine on 127.0.0.1; any client key is accepted. */
export async function startHostileSftp(tree: HostileTree): Promise<HostileSftpServer> {
  // ssh2's generator now and then emits an ed25519 key its own parser refuses (src/core/ssh/keys.ts): keep one that parses.
  let key = utils.generateKeyPairSync('ed25519')
  while (utils.parseKey(key.private) instanceof Error) key = utils.generateKeyPairSync('ed25519')
  const writes: string[] = []
  const clients = new Set<Connection>()
  const server = new Server({hostKeys: [key.private]}, (client) => {
    clients.add(client)
    client.on('close', () => clients.delete(client))
    client.on('error', () => {})
    client.on('authentication', (ctx) => ctx.accept())
    client.on('session', (accept) => {
      const session = accept()
      session.on('sftp', (acceptSftp) => serveSftp(acceptSftp(), tree, writes))
      session.on('exec', (acceptExec) => {
        const channel = acceptExec()
        channel.stderr.write('exec refused by the hostile test server\n')
        channel.exit(126)
        channel.end()
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const pub = utils.parseKey(key.public)
  if (pub instanceof Error) throw pub
  return {
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    hostKey: `${pub.type} ${pub.getPublicSSH().toString('base64')}`,
    writes,
    close: () =>
      new Promise((resolve) => {
        for (const client of clients) client.end()
        server.close(() => resolve())
      }),
  }
}
