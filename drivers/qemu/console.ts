/**
 * SSH host keys from the guest's serial console. cloud-init prints them on first boot between
 * `-----BEGIN SSH HOST KEY KEYS-----` and `-----END SSH HOST KEY KEYS-----`, so berth pins the key
 * the guest made instead of trusting whatever answers first on the forwarded port.
 */
const BEGIN = '-----BEGIN SSH HOST KEY KEYS-----'
const END = '-----END SSH HOST KEY KEYS-----'
const KEY_LINE = /^(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa) ([A-Za-z0-9+/]+={0,2})(?: .*)?$/

/** The keys of the last complete block ("TYPE BASE64" lines, comments dropped), or none. */
export function consoleHostKeys(log: string): string[] {
  const end = log.lastIndexOf(END)
  if (end === -1) return []
  const begin = log.lastIndexOf(BEGIN, end)
  if (begin === -1) return []
  const keys: string[] = []
  for (const raw of log.slice(begin + BEGIN.length, end).split('\n')) {
    // Console lines end in \r and may carry a kernel prefix before the key.
    const line = raw.replace(/\r/g, '').trim()
    const match = KEY_LINE.exec(line)
    if (!match) continue
    const blob = Buffer.from(match[2]!, 'base64')
    // The blob's own type field must name the same type: a line is a key, not text shaped like one.
    if (
      blob.length < 4 ||
      blob.readUInt32BE(0) + 4 > blob.length ||
      blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1') !== match[1]
    )
      continue
    keys.push(`${match[1]} ${match[2]}`)
  }
  return keys
}

/** ssh2's order of host key types: the one it negotiates is the first the server has. */
const PREFERENCE = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
]

/** The key the SSH client will be shown, so the one berth pins. */
export function pickHostKey(keys: string[]): string | undefined {
  for (const type of PREFERENCE) {
    const key = keys.find((k) => k.startsWith(`${type} `))
    if (key) return key
  }
  return undefined
}
