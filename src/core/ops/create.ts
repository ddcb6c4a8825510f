import {join} from 'node:path'
import {copyFile} from 'node:fs/promises'
import {copyClientCertsTo, ensureStoreCerts, storeCertPaths} from '../certs/certs.js'
import {validateSans} from '../certs/trust.js'
import type {DriverDescriptor, DriverPlugin, OptionValues} from '../drivers/contract.js'
import {driverPlugin} from '../drivers/registry.js'
import {DEFAULT_ENGINE_PORT, EngineVersion, engineVersion} from '../engine/engine.js'
import {engineUrl} from '../engine/url.js'
import {BerthError, ExitCode, oneLine} from '../errors.js'
import {validateMachineName} from '../names.js'
import {validateEngineOptions} from '../provision/daemon.js'
import {provisionMachine} from '../provision/provision.js'
import {
  BERTH_SCHEMA_VERSION,
  CONFIG_VERSION,
  EngineOptions,
  emptySwarmOptions,
  MachineRecord,
} from '../store/record.js'
import type {Store} from '../store/store.js'
import {initSwarm, joinSwarm, SwarmOutcome} from '../swarm/swarm.js'
import type {SwarmRole} from '../swarm/model.js'
import {driverContext, isProvisioned, Machine, Reporter} from '../machine/machine.js'
import {checkContextFree, ensureContext} from '../context/context.js'
import {leaveBeforeRemoval} from './remove.js'

export interface CreateRequest {
  name: string
  driver: string
  driverOptions: OptionValues
  engine: EngineOptions
  tlsSans: string[]
  sshTimeoutMs: number
  /** Join or start a swarm once the machine is provisioned; a failure fails the create. */
  swarm?: SwarmAtCreate
  /** Make a docker context named after the machine once it is provisioned. */
  context?: boolean
}

function newRecord(
  store: Store,
  request: CreateRequest,
  driverState: MachineRecord['Driver'],
): MachineRecord {
  const dir = store.machineDir(request.name)
  return {
    ConfigVersion: CONFIG_VERSION,
    Driver: driverState,
    DriverName: request.driver,
    HostOptions: {
      Driver: '',
      Memory: 0,
      Disk: 0,
      EngineOptions: request.engine,
      SwarmOptions: emptySwarmOptions(),
      AuthOptions: {
        CertDir: store.certsDir,
        // The machine's own CA (made when its first server certificate is issued), not the store's.
        CaCertPath: join(dir, 'ca.pem'),
        CaPrivateKeyPath: join(dir, 'ca-key.pem'),
        CaCertRemotePath: '',
        ServerCertPath: join(dir, 'server.pem'),
        ServerKeyPath: join(dir, 'server-key.pem'),
        ClientKeyPath: join(store.certsDir, 'key.pem'),
        ServerCertRemotePath: '',
        ServerKeyRemotePath: '',
        ClientCertPath: join(store.certsDir, 'cert.pem'),
        ServerCertSANs: request.tlsSans,
        StorePath: dir,
      },
    },
    Name: request.name,
    Berth: {
      SchemaVersion: BERTH_SCHEMA_VERSION,
      CreatedAt: new Date().toISOString(),
      Phase: 'created',
      // A driver that forwards the engine port (a NAT rule) names the port in its state.
      EnginePort: Number(driverState.EnginePort) || DEFAULT_ENGINE_PORT,
      Timings: {},
      ServerTrust: 'machine-ca',
    },
  }
}

/**
 * Several names on one `create` share one set of flags: a driver option that names one host (generic's
 * address, a fixed MAC) would give every machine the same one, and all but one would be unusable.
 */
export function refuseSharedIdentity(plugin: DriverDescriptor, values: OptionValues, names: string[]): void {
  if (names.length < 2) return
  const option = plugin.options.find((o) => o.identifiesOneMachine && values[o.name] !== undefined)
  if (option)
    throw new BerthError(
      `--${option.name} names one machine: create ${names.join(', ')} one per command, each with its own value`,
      ExitCode.usage,
    )
}

export interface ValidatedCreate {
  request: CreateRequest
  plugin: DriverPlugin
  state: MachineRecord['Driver']
}

/**
 * Everything `create` can check without making anything: name, driver and engine options, the
 * swarm to join, and the driver's pre-create check (exit code 3 when it fails, as docker-machine).
 */
export async function validateCreate(store: Store, request: CreateRequest): Promise<ValidatedCreate> {
  validateMachineName(request.name)
  if (await store.exists(request.name)) {
    throw new BerthError(
      `machine "${request.name}" already exists`,
      ExitCode.usage,
      `pick another name or \`berth rm ${request.name}\``,
    )
  }
  const plugin = await driverPlugin(request.driver)
  validateEngineOptions(request.engine)
  validateSans(request.tlsSans)
  if (request.swarm) await validateSwarmAtCreate(store, request.name, request.swarm)
  if (request.context) await checkContextFree(request.name)
  const context = driverContext(store, request.name)
  const state = await plugin.configure(request.driverOptions, context)
  try {
    await plugin.load(state, context).preCreateCheck()
  } catch (err) {
    throw new BerthError(
      `pre-create check of the ${plugin.name} driver failed: ${oneLine(err)}`,
      ExitCode.preCreateCheck,
      err instanceof BerthError ? err.hint : undefined,
    )
  }
  return {request, plugin, state}
}

/**
 * Creates a machine: record first (so an interrupted create can be removed or finished), then
 * the driver's work, then provisioning. A failure removes what was made, driver resources included.
 */
export async function createMachine(
  store: Store,
  validated: ValidatedCreate,
  reporter: Reporter,
): Promise<{record: MachineRecord; version: EngineVersion}> {
  const {request, state} = validated
  await ensureStoreCerts(store)
  const dir = await store.reserve(request.name)
  return store.withLock(request.name, 'berth create', async () => {
    let machine: Machine | undefined
    try {
      const record = newRecord(store, request, state)
      await store.save(record)
      await copyClientCertsTo(store, dir)
      machine = new Machine(
        store,
        record,
        validated.plugin.load(state, driverContext(store, request.name, reporter)),
      )
      const started = performance.now()
      await machine.driver.create()
      if (request.driver === 'none') return {record, version: await registerEngine(store, machine)}
      record.Berth.Timings.driver = Math.round(performance.now() - started) / 1000
      record.Berth.Phase = 'driver'
      await machine.save()
      const version = await provisionMachine(machine, reporter, {sshTimeoutMs: request.sshTimeoutMs})
      if (request.swarm) await swarmAtCreate(store, machine, request.swarm, reporter)
      if (request.context) {
        reporter.step(`Creating docker context ${request.name}`)
        await ensureContext(record)
        record.Berth.DockerContext = request.name
        await machine.save()
      }
      return {record, version}
    } catch (err) {
      reporter.step(`Creation failed (${oneLine(err)}); removing what was made`)
      try {
        if (machine && request.swarm) await leaveBeforeRemoval(store, machine, reporter)
        await machine?.driver.remove()
        await store.removeMachineDir(request.name)
      } catch (cleanupError) {
        reporter.step(
          `Cleanup incomplete: ${oneLine(cleanupError)}; \`berth rm -f ${request.name}\` retries it`,
        )
      }
      throw err
    }
  })
}

/**
 * The none driver's machine: an engine that already runs, at the URL given (docker-machine: drivers/none, and
 * libmachine.go performCreate, which provisions nothing for it). Its server is trusted through a CA berth
 * already holds: the CA and certificate of the store's machine at that URL when there is one (a second name
 * for it), else the store's CA, which signs the engines docker-machine made with this store. Registered means
 * usable: one mutual-TLS call must answer, or nothing is kept.
 */
async function registerEngine(store: Store, machine: Machine): Promise<EngineVersion> {
  const {record} = machine
  const url = engineUrl(record)
  const auth = record.HostOptions.AuthOptions
  const same = await machineAt(store, url, record.Name)
  await copyFile(same?.HostOptions.AuthOptions.CaCertPath ?? storeCertPaths(store).caCert, auth.CaCertPath)
  if (same) await copyFile(same.HostOptions.AuthOptions.ServerCertPath, auth.ServerCertPath)
  auth.CaPrivateKeyPath = ''
  record.Berth.ServerTrust = 'imported-ca'
  const version = await engineVersion(record).catch((err: unknown) => {
    throw new BerthError(`the engine at ${url} does not answer over mutual TLS: ${oneLine(err)}`)
  })
  record.Berth.Phase = 'provisioned'
  await machine.save()
  return version
}

/** The store's provisioned machine (other than `except`) whose engine is at `url`. */
async function machineAt(store: Store, url: string, except: string): Promise<MachineRecord | undefined> {
  for (const name of await store.names()) {
    if (name === except) continue
    const record = await store.load(name).catch(() => undefined)
    if (!record || record.DriverName === 'none' || !isProvisioned(record) || !record.Driver.IPAddress)
      continue
    if (engineUrl(record) === url) return record
  }
  return undefined
}

export interface SwarmAtCreate {
  /** Start a new swarm with this machine as its manager. */
  init?: boolean
  /** Join the swarm this machine manages. */
  join?: string
  role: SwarmRole
}

/** Checks before anything is made: the manager to join through exists and is not the new machine. */
async function validateSwarmAtCreate(store: Store, name: string, spec: SwarmAtCreate): Promise<void> {
  if (spec.init && spec.join)
    throw new BerthError('--swarm-init and --swarm-join exclude each other', ExitCode.usage)
  if (!spec.init && !spec.join)
    throw new BerthError('--swarm-manager and --swarm-worker need --swarm-join MANAGER', ExitCode.usage)
  if (spec.join === name) throw new BerthError(`${name} cannot join a swarm through itself`, ExitCode.usage)
  if (spec.join) await store.load(spec.join)
}

/** The swarm step of `create`, run after provisioning while the new machine is locked. */
async function swarmAtCreate(
  store: Store,
  machine: Machine,
  spec: SwarmAtCreate,
  reporter: Reporter,
): Promise<SwarmOutcome> {
  if (spec.init) return initSwarm(machine, {}, reporter)
  const manager = await Machine.open(store, spec.join!)
  return joinSwarm(machine, manager, {role: spec.role}, reporter)
}
