import {access} from 'node:fs/promises'
import {writeFileAtomic} from '../store/fs.js'

/** Creates an ed25519 key pair (OpenSSH format) at `path` and `path.pub`, unless one is there. */
export async function ensureSshKey(path: string, comment: string): Promise<string> {
  try {
    await access(path)
    return path
  } catch {
    // no key yet
  }
  const {default: ssh2} = await import('ssh2')
  // ssh2's generator now and then (about 1 in 400) emits an ed25519 key its own parser rejects
  // ("Malformed OpenSSH private key"): keep only a key that parses.
  let pair = ssh2.utils.generateKeyPairSync('ed25519', {comment})
  for (let tries = 1; ssh2.utils.parseKey(pair.private) instanceof Error; tries++) {
    if (tries >= 10) throw new Error('could not generate a usable ed25519 SSH key')
    pair = ssh2.utils.generateKeyPairSync('ed25519', {comment})
  }
  await writeFileAtomic(path, pair.private, 0o600)
  await writeFileAtomic(`${path}.pub`, pair.public + '\n', 0o644)
  return path
}
