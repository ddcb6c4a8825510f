import {issueCert} from '../certs/certs.js'
import {adoptMachineCa, clientCaFor, serverSigner, validateSans} from '../certs/trust.js'
import {engineUrl, engineVersion, EngineVersion} from '../engine/engine.js'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import type {Machine, Reporter} from '../machine/machine.js'
import type {SshSession} from '../ssh/ssh.js'
import {shellQuote} from '../ssh/ssh.js'
import {writeFileAtomic} from '../store/fs.js'
import {poll} from '../poll.js'
import {DOCKER_MACHINE_DROP_IN, dockerdCommand, DROP_IN_PATH, dropInUnit, REMOTE_CERT_DIR} from './daemon.js'
import {parseOsRelease, recipeFor} from './os.js'

export interface ProvisionOptions {
  sshTimeoutMs: number
  /** How long the engine may take to answer over TLS after its restart. */
  engineTimeoutMs?: number
}

async function timed<T>(machine: Machine, phase: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now()
  const result = await work()
  machine.record.Berth.Timings[phase] = Math.round(performance.now() - started) / 1000
  return result
}

/** The unit's own ExecStart, read from its fragment file so berth's drop-in never feeds back into itself. */
async function originalExecStart(session: SshSession): Promise<string> {
  const out = await session.run(
    'f=$(systemctl show -p FragmentPath --value docker.service) && sed -n "s/^ExecStart=//p" "$f" | tail -n 1',
    'reading docker.service',
  )
  return out.trim() || '/usr/bin/dockerd -H fd://'
}

async function installEngine(machine: Machine, session: SshSession, reporter: Reporter): Promise<void> {
  const os = parseOsRelease(await session.run('cat /etc/os-release', 'reading /etc/os-release'))
  const recipe = recipeFor(os)
  const installUrl = machine.record.HostOptions.EngineOptions.InstallURL
  // rancher/machine's lesson: cloud-init may still be configuring the host.
  await session.exec(
    'command -v cloud-init >/dev/null 2>&1 && cloud-init status --wait >/dev/null 2>&1; true',
  )
  const name = machine.name
  await session.run(
    `[ "$(hostname)" = ${shellQuote(name)} ] || { hostname ${shellQuote(name)} && echo ${shellQuote(name)} > /etc/hostname; }; ` +
      `grep -q ${shellQuote(`127.0.1.1 ${name}`)} /etc/hosts || echo ${shellQuote(`127.0.1.1 ${name}`)} >> /etc/hosts`,
    'setting the hostname',
  )
  const present = (await session.exec('command -v dockerd >/dev/null 2>&1')).code === 0
  if (present || installUrl === 'none') return
  reporter.step(`Installing the Docker engine (${installUrl ? installUrl : `${recipe.name} packages`})`)
  const script = installUrl
    ? `{ command -v curl >/dev/null || { ${recipe.install(['curl'])}; }; } && ` +
      `curl -fsSL ${shellQuote(installUrl)} -o /tmp/berth-install-engine.sh && sh /tmp/berth-install-engine.sh`
    : recipe.install(recipe.enginePackages)
  await session.run(script, 'installing the Docker engine')
}

/**
 * Issues a server certificate from the machine's own CA and installs it on the machine and in its
 * folder (the machine's copy first: berth pins the certificate it holds). Its names come only from
 * the driver's address, the machine's name and --tls-san, never from what the machine says about
 * itself. The engine verifies clients against the CA of the client certificate (the store's).
 * dockerd reads these files only when it starts.
 */
export async function installServerCert(machine: Machine, session: SshSession): Promise<void> {
  const {record} = machine
  const auth = record.HostOptions.AuthOptions
  validateSans(auth.ServerCertSANs)
  const signer = await serverSigner(record)
  const clientCa = await clientCaFor(machine.store, record)
  const sans = [
    record.Driver.IPAddress,
    record.Name,
    'localhost',
    '127.0.0.1',
    ...auth.ServerCertSANs,
  ].filter(Boolean)
  const server = await issueCert(signer.ca, {kind: 'server', commonName: record.Name, sans})
  await session.run(`mkdir -p ${REMOTE_CERT_DIR} && chmod 0755 ${REMOTE_CERT_DIR}`, 'creating /etc/docker')
  if (clientCa) await session.upload(`${REMOTE_CERT_DIR}/ca.pem`, clientCa, 0o644)
  await session.upload(`${REMOTE_CERT_DIR}/server.pem`, server.certPem, 0o644)
  await session.upload(`${REMOTE_CERT_DIR}/server-key.pem`, server.keyPem, 0o600)
  await writeFileAtomic(auth.ServerKeyPath, server.keyPem, 0o600)
  await writeFileAtomic(auth.ServerCertPath, server.certPem, 0o644)
  if (signer.fresh) {
    await adoptMachineCa(record, signer.ca)
    await machine.save()
  }
}

async function configureTls(machine: Machine, session: SshSession): Promise<void> {
  const {record} = machine
  await installServerCert(machine, session)

  const options = record.HostOptions.EngineOptions
  const execStart = dockerdCommand(
    await originalExecStart(session),
    options,
    record.DriverName,
    record.Berth.EnginePort,
  )
  await session.upload(DROP_IN_PATH, dropInUnit(execStart, options.Env), 0o644)
  // docker-machine's drop-in sorts after berth's, so its ExecStart (and -H flags beside daemon.json) would win: it goes.
  await session.run(`rm -f ${DOCKER_MACHINE_DROP_IN}`, `removing docker-machine's ${DOCKER_MACHINE_DROP_IN}`)
  const restart = await session.exec(
    'systemctl daemon-reload && { systemctl is-enabled -q docker.service || systemctl enable docker.service >/dev/null 2>&1; }; systemctl restart docker.service',
  )
  if (restart.code !== 0) {
    const journal = await session.exec(
      'journalctl -u docker.service -n 20 --no-pager -o cat 2>/dev/null | grep -iE "error|fail" | tail -n 1',
    )
    throw new BerthError(
      `dockerd on ${record.Name} did not restart with berth's configuration: ${oneLine(journal.stdout || restart.stderr)}`,
    )
  }
}

/** Polls the engine over mutual TLS until it answers; this is what proves the setup. */
export async function verifyEngine(machine: Machine, timeoutMs: number): Promise<EngineVersion> {
  return poll((remainingMs) => engineVersion(machine.record, Math.min(5000, Math.max(1000, remainingMs))), {
    timeoutMs,
    intervalMs: 500,
    onTimeout: ({lastError}) => {
      throw new BerthError(
        `engine of ${machine.name} at ${engineUrl(machine.record)} did not answer over mutual TLS within ${timeoutMs / 1000}s: ${oneLine(lastError)}`,
        ExitCode.timeout,
      )
    },
  })
}

/**
 * Brings a machine whose driver is done to a Docker host with a mutual-TLS engine:
 * SSH (pinning its host key), OS detection, engine install, certificates, dockerd config, proof.
 * Safe to run again on a machine that is already provisioned.
 */
export async function provisionMachine(
  machine: Machine,
  reporter: Reporter,
  options: ProvisionOptions,
): Promise<EngineVersion> {
  machine.record.Driver.IPAddress = await machine.driver.getIP()
  reporter.step(`Waiting for SSH on ${machine.record.Driver.IPAddress}`)
  const session = await timed(machine, 'ssh', () => machine.ssh(options.sshTimeoutMs))
  try {
    await timed(machine, 'engineInstall', () => installEngine(machine, session, reporter))
    reporter.step('Configuring the engine for mutual TLS')
    await timed(machine, 'tls', () => configureTls(machine, session))
  } finally {
    session.close()
  }
  reporter.step('Checking the engine over mutual TLS')
  const version = await timed(machine, 'verify', () =>
    verifyEngine(machine, options.engineTimeoutMs ?? 90_000),
  )
  machine.record.Berth.Phase = 'provisioned'
  await machine.save()
  return version
}
