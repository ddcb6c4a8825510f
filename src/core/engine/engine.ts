import {X509Certificate} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {Agent} from 'node:https'
import {checkServerIdentity, connect, type PeerCertificate} from 'node:tls'
import type Docker from 'dockerode'
import {BerthError, ExitCode, oneLine, withTimeout} from '../errors.js'
import type {MachineRecord} from '../store/record.js'
import type {SwarmInfo} from '../swarm/model.js'
import {engineUrl} from './url.js'

// Read commands import these from ./url.js, which loads no Docker client.
export {DEFAULT_ENGINE_PORT, engineUrl} from './url.js'

/**
 * dockerode options that ignore DOCKER_HOST, DOCKER_CERT_PATH and friends: berth talks to the
 * engine it names, never to whatever `berth env` last pointed the shell at.
 */
export function isolatedDockerOptions(options: Docker.DockerOptions): Docker.DockerOptions {
  return {
    host: undefined,
    port: undefined,
    socketPath: undefined,
    ca: undefined,
    cert: undefined,
    key: undefined,
    pathPrefix: undefined,
    timeout: undefined,
    protocol: 'http',
    ...options,
  } as Docker.DockerOptions
}

/** A Docker Engine API client for a machine, over mutual TLS with the store's client cert. */
export async function engineClient(record: MachineRecord, timeoutMs = 30_000): Promise<Docker> {
  const auth = record.HostOptions.AuthOptions
  const [ca, cert, key] = await Promise.all([
    readFile(auth.CaCertPath),
    readFile(auth.ClientCertPath),
    readFile(auth.ClientKeyPath),
  ])
  const url = new URL(engineUrl(record).replace(/^tcp:/, 'https:'))
  // Loaded here, not with this module: dockerode brings ssh2 and gRPC, and most commands never call an engine.
  const {default: Docker} = await import('dockerode')
  return new Docker(
    isolatedDockerOptions({
      protocol: 'https',
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port),
      ca,
      cert,
      key,
      timeout: timeoutMs,
      checkServerIdentity: await serverIdentityCheck(record),
      agent: trustAnchorAgent(),
    } as Docker.DockerOptions),
  )
}

/**
 * A machine's ca.pem may hold its pinned server certificate itself (`pinned-certificate`): Go's
 * crypto/x509, and so the docker CLI, takes a certificate in its roots as an anchor, and OpenSSL
 * does with partial chains allowed (Node 20.18+). With a CA in ca.pem this changes nothing.
 */
function trustAnchorAgent(): Agent {
  return new Agent({allowPartialTrustChain: true} as ConstructorParameters<typeof Agent>[0])
}

/** Only records adopted from docker-machine (or written by it) may lack the certificate to pin. */
export function pinIsOptional(record: MachineRecord): boolean {
  return record.Berth === undefined || record.Berth.ServerTrust === 'imported-ca'
}

/**
 * A CA check alone would accept another engine whose certificate that CA signed (for an imported
 * machine, any machine of its docker-machine store; a machine's old IP is handed out again). The
 * engine must present the very certificate berth issued to this machine. For berth's own machines
 * the pin fails closed: a missing or unreadable server.pem refuses the connection.
 */
async function serverIdentityCheck(
  record: MachineRecord,
): Promise<((host: string, cert: PeerCertificate) => Error | undefined) | undefined> {
  let expected: string
  try {
    expected = new X509Certificate(await readFile(record.HostOptions.AuthOptions.ServerCertPath))
      .fingerprint256
  } catch (err) {
    if (pinIsOptional(record)) return undefined // the CA check still applies
    throw new BerthError(
      `machine "${record.Name}" has no usable server certificate to pin (${record.HostOptions.AuthOptions.ServerCertPath}: ${oneLine(err)}); berth will not talk to its engine without it`,
      ExitCode.failure,
      `\`berth regenerate-certs ${record.Name}\` issues a new one`,
    )
  }
  return (host, cert) => {
    const mismatch = checkServerIdentity(host, cert)
    if (mismatch) return mismatch
    if (cert.fingerprint256 !== expected) {
      return new BerthError(
        `the engine at ${host} is not machine "${record.Name}": it presents another certificate (was its IP given to another machine?)`,
      )
    }
    return undefined
  }
}

/** dockerode's info() and version() take {abortSignal}; its type definitions do not say so. */
type Abortable<T> = (this: Docker, options: {abortSignal: AbortSignal}) => Promise<T>

export interface EngineVersion {
  Version: string
  ApiVersion: string
  Os: string
  Arch: string
}

/** One bounded engine call whose failure reads as one line naming the machine and its URL. */
async function engineCall<T>(
  record: MachineRecord,
  timeoutMs: number,
  method: 'info' | 'version',
): Promise<T> {
  const docker = await engineClient(record, timeoutMs)
  try {
    return await withTimeout(
      (abortSignal) => (docker[method] as Abortable<T>).call(docker, {abortSignal}),
      timeoutMs,
      `engine of ${record.Name}`,
    )
  } catch (err) {
    if (err instanceof BerthError) throw err
    const presented = isVerificationError(err) ? await presentedCertificate(record) : undefined
    throw new BerthError(
      `engine of ${record.Name} at ${engineUrl(record)} did not answer over TLS: ${oneLine(err)}${presented ? ` (it presents ${presented})` : ''}`,
    )
  }
}

/** OpenSSL's verification failures: the engine answered, with a certificate the machine's ca.pem does not accept. */
function isVerificationError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? ''
  return /CERT|ISSUER|SIGNATURE/.test(code)
}

/**
 * Whose certificate the engine presented, so a refusal names it (another machine's engine at a reused address
 * reads as such). Read without trusting it and without sending the client certificate; only names go out.
 */
async function presentedCertificate(record: MachineRecord): Promise<string | undefined> {
  const url = new URL(engineUrl(record).replace(/^tcp:/, 'https:'))
  return new Promise((resolve) => {
    const socket = connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port),
      rejectUnauthorized: false,
    })
    const done = (text?: string) => {
      socket.destroy()
      resolve(text)
    }
    socket.setTimeout(3000, () => done())
    socket.once('error', () => done())
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate()
      const name = (entry: unknown) => JSON.stringify(String([entry].flat()[0] ?? '?').slice(0, 80))
      done(
        cert?.subject
          ? `a certificate for ${name(cert.subject.CN)} issued by ${name(cert.issuer?.CN)}, SHA-256 ${cert.fingerprint256}`
          : undefined,
      )
    })
  })
}

/** The engine's version over mutual TLS; the proof that a machine's engine is set up right. */
export function engineVersion(record: MachineRecord, timeoutMs = 10_000): Promise<EngineVersion> {
  return engineCall(record, timeoutMs, 'version')
}

/** The parts of `/info` berth reads: the version and swarm state (`ls` gets both from one call). */
export interface EngineInfo {
  ServerVersion: string
  Name: string
  Swarm: SwarmInfo
}

/** The engine's `/info` over mutual TLS, within `timeoutMs`. */
export function engineInfo(record: MachineRecord, timeoutMs = 10_000): Promise<EngineInfo> {
  return engineCall(record, timeoutMs, 'info')
}

/** The text of a non-TTY log answer: frames of [stream, 0, 0, 0, uint32 size] + payload. */
export function demuxedText(body: Buffer): string {
  const parts: Buffer[] = []
  for (let offset = 0; offset + 8 <= body.length;) {
    const size = body.readUInt32BE(offset + 4)
    parts.push(body.subarray(offset + 8, offset + 8 + size))
    offset += 8 + size
  }
  return Buffer.concat(parts).toString('utf8')
}
