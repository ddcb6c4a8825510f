import {X509Certificate} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import type {MachineRecord} from '../store/record.js'

/** How far ahead `ls` warns, and `regenerate-certs` renews a machine CA. */
export const EXPIRY_WARNING_DAYS = 30
const DAY_MS = 24 * 60 * 60 * 1000

export interface ExpiringCert {
  /** The machine's engine certificate, the client certificate, or the CA the docker CLI checks the engine against. */
  cert: 'server' | 'client' | 'CA'
  path: string
  notAfter: string
  expired: boolean
}

/** When the certificate in `pem` stops being valid, or undefined when it is not one. */
export function certNotAfter(pem: string | Buffer): Date | undefined {
  try {
    return new Date(new X509Certificate(pem).validTo)
  } catch {
    return undefined
  }
}

/** Whether the certificate ends within the warning window of `now` (or has ended). */
export function expiresSoon(notAfter: Date, now = Date.now()): boolean {
  return notAfter.getTime() - now < EXPIRY_WARNING_DAYS * DAY_MS
}

/**
 * A machine's certificates that have expired or expire within 30 days. Files that are missing or are not
 * certificates are left to the checks that use them (the pin, the TLS handshake), which say so.
 */
export async function expiringCerts(record: MachineRecord, now = Date.now()): Promise<ExpiringCert[]> {
  const auth = record.HostOptions?.AuthOptions
  if (!auth) return []
  const found: ExpiringCert[] = []
  for (const [cert, path] of [
    ['server', auth.ServerCertPath],
    ['client', auth.ClientCertPath],
    ['CA', auth.CaCertPath],
  ] as const) {
    if (!path) continue
    const notAfter = certNotAfter(await readFile(path).catch(() => ''))
    if (notAfter && expiresSoon(notAfter, now))
      found.push({cert, path, notAfter: notAfter.toISOString(), expired: notAfter.getTime() <= now})
  }
  return found
}

/** One line for a person: what expires when, and what renews it. */
export function expiryWarning(
  name: string,
  certs: ExpiringCert[],
  program: string,
  now = Date.now(),
): string {
  const parts = certs.map((c) => {
    const day = c.notAfter.slice(0, 10)
    if (c.expired) return `its ${c.cert} certificate expired on ${day}`
    const days = Math.max(0, Math.ceil((Date.parse(c.notAfter) - now) / DAY_MS))
    return `its ${c.cert} certificate expires in ${days} day${days === 1 ? '' : 's'} (${day})`
  })
  const flag = certs.some((c) => c.cert === 'client') ? ' --client-certs' : ''
  return `Warning: machine "${name}": ${parts.join(', ')}; \`${program} regenerate-certs${flag} ${name}\` renews ${certs.length === 1 ? 'it' : 'them'}`
}
