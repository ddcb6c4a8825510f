import {copyClientCertsTo, ensureStoreCerts, issueCert, storeCertPaths} from '../certs/certs.js'
import {ensureContext} from '../context/context.js'
import {engineVersion} from '../engine/engine.js'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import {REMOTE_CERT_DIR} from '../provision/daemon.js'
import {installServerCert, verifyEngine} from '../provision/provision.js'
import type {SshSession} from '../ssh/ssh.js'
import {writeFileAtomic} from '../store/fs.js'
import type {Store} from '../store/store.js'
import {poll} from '../poll.js'
import {Machine, Reporter, withMachine} from '../machine/machine.js'

const DAEMON_JSON = `${REMOTE_CERT_DIR}/daemon.json`

/** How the engine was restarted, for the user and the tests. */
export interface EngineRestart {
  /** Containers were kept running across the restart (live-restore was on for it). */
  containersKept: boolean
  /** Why not, when they were not. */
  reason?: string
}

/** The running engine's view of itself, over the machine's own unix socket (TLS may not verify yet). */
async function localEngineState(session: SshSession): Promise<{liveRestore: boolean; swarm: string}> {
  const out = await session.run(
    'for i in $(seq 60); do docker info --format "{{.LiveRestoreEnabled}} {{.Swarm.LocalNodeState}}" 2>/dev/null && exit 0; sleep 1; done; exit 1',
    'reading the engine state',
  )
  const [liveRestore, swarm] = out.trim().split(/\s+/)
  return {liveRestore: liveRestore === 'true', swarm: swarm ?? ''}
}

/**
 * Merges `live-restore` into daemon.json's content. Returns undefined when the file is not a JSON
 * object (berth then leaves it alone).
 */
export function withLiveRestore(original: string | undefined, value: boolean): string | undefined {
  let config: Record<string, unknown> = {}
  if (original !== undefined && original.trim() !== '') {
    try {
      const parsed = JSON.parse(original) as unknown
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined
      config = parsed as Record<string, unknown>
    } catch {
      return undefined
    }
  }
  return JSON.stringify({...config, 'live-restore': value}, null, 2) + '\n'
}

/**
 * Restarts dockerd so it reads new TLS files. dockerd 20.10 reloads daemon.json on SIGHUP but not
 * its TLS certificate (measured on the lab), so a restart is needed; to keep containers running
 * across it, live-restore is switched on through daemon.json and SIGHUP just for the restart, then
 * switched back off and the file restored. It is not left on: in 20.10 it makes `swarm init/join`
 * fail, and on a swarm member it cannot be used at all (there containers restart with the engine).
 */
export async function restartEngine(session: SshSession, reporter: Reporter): Promise<EngineRestart> {
  const state = await localEngineState(session)
  const inSwarm = state.swarm !== '' && state.swarm !== 'inactive'
  const read = await session.exec(`cat ${DAEMON_JSON}`)
  const original = read.code === 0 ? read.stdout : undefined
  let transient = false
  let restart: EngineRestart = {containersKept: state.liveRestore}
  if (!state.liveRestore && inSwarm) {
    restart = {containersKept: false, reason: 'swarm mode is incompatible with live-restore'}
  } else if (!state.liveRestore) {
    const on = withLiveRestore(original, true)
    if (on === undefined) {
      restart = {containersKept: false, reason: `${DAEMON_JSON} is not a JSON object`}
    } else {
      await session.upload(DAEMON_JSON, on, 0o644)
      transient = true
      await session.run('systemctl reload docker.service', 'reloading dockerd')
      const now = await localEngineState(session)
      restart = now.liveRestore
        ? {containersKept: true}
        : {containersKept: false, reason: 'dockerd did not enable live-restore on reload'}
    }
  }
  reporter.step(
    restart.containersKept
      ? 'Restarting dockerd (live-restore keeps containers running)'
      : `Restarting dockerd; containers restart with it (${restart.reason})`,
  )
  const result = await session.exec('systemctl restart docker.service')
  if (transient) {
    // Back to the configuration as it was: live-restore off in the running engine, the file as found.
    // A reload sent while the restarted dockerd is still starting can be lost (seen once in CI: the
    // engine kept live-restore on), so it waits for the engine and checks that the engine took it.
    await session.upload(DAEMON_JSON, withLiveRestore(original, false)!, 0o644)
    if (result.code === 0)
      await poll(
        async () => {
          await localEngineState(session)
          await session.exec('systemctl reload docker.service')
          return (await localEngineState(session)).liveRestore ? undefined : true
        },
        {timeoutMs: 30_000, retryable: () => false, onTimeout: () => false},
      )
    if (original === undefined)
      await session.run(`rm -f ${DAEMON_JSON}`, 'removing the temporary daemon.json')
    else await session.upload(DAEMON_JSON, original, 0o644)
  }
  if (result.code !== 0) {
    const journal = await session.exec(
      'journalctl -u docker.service -n 20 --no-pager -o cat 2>/dev/null | grep -iE "error|fail" | tail -n 1',
    )
    throw new BerthError(`dockerd did not restart: ${oneLine(journal.stdout || result.stderr)}`)
  }
  return restart
}

export interface RenewOutcome extends EngineRestart {
  name: string
  ip: string
  clientCert: boolean
  dockerVersion: string
}

/**
 * Issues a new server certificate for the machine's current address, installs it, restarts the
 * engine (keeping containers where it can) and proves mutual TLS. Updates the machine's docker
 * context when berth made one. The caller holds the machine's lock.
 */
export async function renewServerCert(
  machine: Machine,
  reporter: Reporter,
  sshTimeoutMs = 60_000,
): Promise<EngineRestart> {
  machine.record.Driver.IPAddress = await machine.driver.getIP()
  await machine.save()
  reporter.step(`Issuing a server certificate for ${machine.record.Driver.IPAddress}`)
  const session = await machine.ssh(sshTimeoutMs)
  let restart: EngineRestart
  try {
    await installServerCert(machine, session)
    restart = await restartEngine(session, reporter)
  } finally {
    session.close()
  }
  reporter.step('Checking the engine over mutual TLS')
  await verifyEngine(machine, 60_000)
  if (machine.record.Berth.DockerContext) await ensureContext(machine.record)
  return restart
}

/** Reissues the store's client certificate, signed by the same CA (the CA stays). */
export async function renewClientCert(store: Store): Promise<void> {
  const {ca} = await ensureStoreCerts(store)
  const release = await store.lockStore('certs', 'reissuing the client certificate')
  try {
    const client = await issueCert(ca, {kind: 'client', commonName: 'berth client'})
    const paths = storeCertPaths(store)
    await writeFileAtomic(paths.clientKey, client.keyPem, 0o600)
    await writeFileAtomic(paths.clientCert, client.certPem, 0o644)
  } finally {
    await release()
  }
}

/** Refuses a machine berth did not finish or that is not running. */
export async function requireRunning(machine: Machine, command: string): Promise<void> {
  if (machine.record.Berth.Phase !== 'provisioned') {
    throw new BerthError(
      `machine "${machine.name}" is not provisioned`,
      ExitCode.failure,
      `run \`berth provision ${machine.name}\``,
    )
  }
  const state = await machine.driver.getState()
  if (state !== 'Running') {
    throw new BerthError(
      `machine "${machine.name}" is ${state}, not Running`,
      ExitCode.failure,
      `\`berth start ${machine.name}\` first (${command} needs its engine)`,
    )
  }
}

/** `regenerate-certs` for one machine; with `clientCerts` the store's new client cert is copied to its folder. */
export function regenerateCerts(
  store: Store,
  name: string,
  clientCerts: boolean,
  reporter: Reporter,
): Promise<RenewOutcome> {
  return withMachine(
    store,
    name,
    'berth regenerate-certs',
    async (machine) => {
      await requireRunning(machine, 'regenerate-certs')
      if (clientCerts) await copyClientCertsTo(store, machine.record.HostOptions.AuthOptions.StorePath)
      const restart = await renewServerCert(machine, reporter)
      const version = await engineVersion(machine.record)
      return {
        name,
        ip: machine.record.Driver.IPAddress,
        clientCert: clientCerts,
        dockerVersion: version.Version,
        ...restart,
      }
    },
    reporter,
  )
}
