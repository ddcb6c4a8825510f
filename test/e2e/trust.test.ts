/**
 * Per-machine server trust on the lab, played by an attacker who holds machine A: A lies about its
 * addresses, and A's server key and certificate (valid for B's address) are presented on B's
 * address to the real docker CLI configured by B's `env` and B's docker context.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {X509Certificate} from 'node:crypto'
import {mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {cleanEnv, Lab, labDocker, ok, run, until} from '../lab/lab.js'

let lab: Lab
let dockerConfig: string
const a = {name: '', dir: '', ip: ''}
const b = {name: '', dir: '', ip: ''}
const LIES = ['203.0.113.50', '10.0.0.99']
/** An HTTPS "engine" on :2376 answering /_ping and /version, with the pair in $CERT and $KEY. */
const IMPOSTOR = `require('node:https').createServer({cert: process.env.CERT, key: process.env.KEY}, (req, res) => {
  res.setHeader('Content-Type', 'application/json'); res.setHeader('Api-Version', '1.41')
  res.end(req.url.includes('/version') ? JSON.stringify({Version: '99.0.0-impostor', ApiVersion: '1.41', MinAPIVersion: '1.12', Os: 'linux', Arch: 'amd64'}) : 'OK')
}).listen(2376, () => console.log('listening'))`

async function record(name: string) {
  return JSON.parse(await readFile(join(lab.storePath, 'machines', name, 'config.json'), 'utf8'))
}

const san = async (dir: string) =>
  new X509Certificate(await readFile(join(dir, 'server.pem'))).subjectAltName ?? ''

beforeAll(async () => {
  lab = await Lab.create()
  dockerConfig = await mkdtemp(join(tmpdir(), 'berth-trust-docker-'))
  a.name = lab.name('trust-a')
  b.name = lab.name('trust-b')
  const created = await lab.berth(['create', '-d', 'container', '--context', a.name, b.name], {
    env: {DOCKER_CONFIG: dockerConfig},
  })
  expect(created.code, created.stderr).toBe(0)
  for (const m of [a, b]) {
    m.dir = join(lab.storePath, 'machines', m.name)
    m.ip = (await record(m.name)).Driver.IPAddress
  }
})

afterAll(async () => {
  if (!lab) return
  await lab.berth(['rm', '-f', a.name, b.name], {env: {DOCKER_CONFIG: dockerConfig}})
  await lab.cleanup()
  await rm(dockerConfig, {recursive: true, force: true})
})

describe('per-machine server trust', () => {
  it('gives each machine its own CA, kept on the workstation (0600 in 0700); the engine trusts the store CA for clients', async () => {
    const caA = await readFile(join(a.dir, 'ca.pem'), 'utf8')
    const caB = await readFile(join(b.dir, 'ca.pem'), 'utf8')
    const storeCa = await readFile(join(lab.storePath, 'certs', 'ca.pem'), 'utf8')
    expect(new Set([caA, caB, storeCa]).size).toBe(3)
    expect(
      new X509Certificate(await readFile(join(a.dir, 'server.pem'))).verify(
        new X509Certificate(caA).publicKey,
      ),
    ).toBe(true)
    expect(
      new X509Certificate(await readFile(join(a.dir, 'server.pem'))).verify(
        new X509Certificate(caB).publicKey,
      ),
    ).toBe(false)
    expect((await stat(join(a.dir, 'ca-key.pem'))).mode & 0o777).toBe(0o600)
    expect((await stat(a.dir)).mode & 0o777).toBe(0o700)
    expect((await record(a.name)).Berth.ServerTrust).toBe('machine-ca')
    // On the machine: the store's client CA, its server pair, and no CA key.
    expect((await lab.berth(['ssh', a.name, 'ls /etc/docker | grep pem'])).stdout.trim().split('\n')).toEqual(
      ['ca.pem', 'server-key.pem', 'server.pem'],
    )
    expect((await lab.berth(['ssh', a.name, 'cat /etc/docker/ca.pem'])).stdout.trim()).toBe(storeCa.trim())
  })

  it('a machine that lies in `hostname -I` gets no certificate for those names; regenerate-certs keeps working', async () => {
    await ok(
      lab.berth([
        'ssh',
        a.name,
        `printf '#!/bin/sh\\n[ "$1" = -I ] && { echo "${LIES.join(' ')}"; exit 0; }\\nexec /bin/hostname "$@"\\n' > /usr/local/bin/hostname && chmod 755 /usr/local/bin/hostname`,
      ]),
    )
    expect((await lab.berth(['ssh', a.name, 'hostname -I'])).stdout.trim()).toBe(LIES.join(' '))
    // A's certificate is to name B's address too (as with --tls-san), the strongest position for the attacker below.
    const path = join(a.dir, 'config.json')
    const rec = await record(a.name)
    rec.HostOptions.AuthOptions.ServerCertSANs = [b.ip]
    await writeFile(path, JSON.stringify(rec, null, 2))
    const before = await readFile(join(a.dir, 'server.pem'), 'utf8')
    await ok(lab.berth(['regenerate-certs', '-f', a.name], {env: {DOCKER_CONFIG: dockerConfig}}))
    expect(await readFile(join(a.dir, 'server.pem'), 'utf8')).not.toBe(before)
    const names = await san(a.dir)
    expect(names).toContain(`IP Address:${a.ip}`)
    expect(names).toContain(`IP Address:${b.ip}`)
    for (const lie of LIES) expect(names).not.toContain(lie)
    expect((await lab.docker(a.name, ['version', '--format', '{{.Server.Version}}'])).code).toBe(0)
  })

  it("refuses A's server key and certificate presented on B's address, through B's env and B's docker context", async () => {
    // B's engine stops; a TLS listener in B's network namespace takes its address and port, presenting
    // A's pair, then B's own (the control, answering as an engine would).
    await ok(lab.berth(['ssh', b.name, 'systemctl stop docker.socket docker.service']))
    const pid = (await ok(labDocker(['inspect', '-f', '{{.State.Pid}}', `berth-${b.name}`]))).trim()
    let listener: ChildProcess | undefined
    const serve = async (dir: string) => {
      await stopListener()
      const env = {
        ...process.env,
        CERT: await readFile(join(dir, 'server.pem'), 'utf8'),
        KEY: await readFile(join(dir, 'server-key.pem'), 'utf8'),
      }
      const child = spawn('nsenter', ['-t', pid, '-n', process.execPath, '-e', IMPOSTOR], {
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      listener = child
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once('data', () => resolve())
        child.once('exit', (code) => reject(new Error(`the listener exited with ${code}`)))
      })
    }
    const stopListener = async () => {
      const child = listener
      listener = undefined
      if (!child || child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill()
      await exited
    }
    const viaEnv = () => lab.docker(b.name, ['version', '--format', '{{.Server.Version}}'])
    const viaContext = () =>
      run('docker', ['--context', b.name, 'version', '--format', '{{.Server.Version}}'], {
        env: cleanEnv({DOCKER_CONFIG: dockerConfig}),
      })
    try {
      await serve(a.dir)
      for (const attempt of [viaEnv, viaContext]) {
        const refused = await attempt()
        expect(refused.code).not.toBe(0)
        expect(refused.stderr).toMatch(/x509: certificate signed by unknown authority/)
        expect(refused.stdout).not.toContain('impostor')
      }
      // berth itself refuses it too, with one line.
      const version = await lab.berth(['version', b.name])
      expect(version.code).not.toBe(0)
      expect(version.stderr.trim().split('\n')).toHaveLength(1)
      // The control: with B's own certificate the same listener is taken for B's engine.
      await serve(b.dir)
      for (const attempt of [viaEnv, viaContext])
        expect((await attempt()).stdout.trim()).toBe('99.0.0-impostor')
    } finally {
      await stopListener()
      await lab.berth(['ssh', b.name, 'systemctl start docker.service'])
    }
    await until("B's engine again", async () => ((await viaEnv()).code === 0 ? true : undefined), 60_000)
  })

  it('refuses a --tls-san that is neither an IP nor a DNS name, with one line and nothing made', async () => {
    for (const bad of ['a b', '*', 'x\ny', '-lead.example']) {
      const result = await lab.berth(['create', '-d', 'container', '--tls-san', bad, lab.name('never')])
      expect(result.code).not.toBe(0)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
      expect(result.stderr).toMatch(/neither an IP address nor a DNS name/)
    }
    expect((await lab.berth(['ls', '-q'])).stdout.trim().split('\n').sort()).toEqual([a.name, b.name].sort())
  })
})
