/** One entry of a small in-memory tar: a file (the default), a folder or a symlink. */
export interface TarEntry {
  name: string
  content?: string | Buffer
  /** Default 0644 for files, 0755 for folders. */
  mode?: number
  type?: 'file' | 'directory' | 'symlink'
  linkname?: string
  uid?: number
  gid?: number
  mtime?: Date
}

/**
 * A tar archive of a few small entries, built in memory: what the engine's archive upload
 * (PUT /containers/{id}/archive) and machine bundles take.
 */
export async function tarArchive(entries: TarEntry[]): Promise<Buffer> {
  // Loaded on use: the driver kit exports this, and every command loads the kit with the drivers' descriptors.
  const {default: tar} = await import('tar-stream')
  const pack = tar.pack()
  for (const {content, mode, type = 'file', uid = 0, gid = 0, ...rest} of entries) {
    const header = {...rest, type, uid, gid, mode: mode ?? (type === 'directory' ? 0o755 : 0o644)}
    if (type === 'file') pack.entry(header, content ?? '')
    else pack.entry(header)
  }
  pack.finalize()
  const chunks: Buffer[] = []
  for await (const chunk of pack) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}
