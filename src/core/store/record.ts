/**
 * The machine record, stored as machines/NAME/config.json. Its top level mirrors docker-machine's
 * config.json (ConfigVersion 3) so tools that read docker-machine's store read berth's;
 * berth's own state lives under `Berth`.
 */

export const CONFIG_VERSION = 3
export const BERTH_SCHEMA_VERSION = 1

/** Fields every driver's state carries, as docker-machine's drivers.BaseDriver did. */
export interface BaseDriverState {
  IPAddress: string
  MachineName: string
  SSHUser: string
  SSHPort: number
  SSHKeyPath: string
  StorePath: string
  /**
   * The guest's SSH host key as the driver learnt it out of band (the qemu driver reads it from
   * the serial console); berth pins it instead of trusting the first connection.
   */
  SSHHostKey?: string
  /** A driver that forwards the engine port (a NAT rule) names the port here. */
  EnginePort?: number
  /**
   * Where the fleet's other machines reach this one, when that is not IPAddress (a QEMU machine on
   * its private network: IPAddress is the host's loopback). Swarm advertises it.
   */
  PrivateIPAddress?: string
}

export interface EngineOptions {
  ArbitraryFlags: string[]
  Env: string[]
  InsecureRegistry: string[]
  Labels: string[]
  RegistryMirror: string[]
  StorageDriver: string
  InstallURL: string
  TlsVerify: boolean
}

export interface AuthOptions {
  CertDir: string
  CaCertPath: string
  CaPrivateKeyPath: string
  CaCertRemotePath: string
  ServerCertPath: string
  ServerKeyPath: string
  ClientKeyPath: string
  ServerCertRemotePath: string
  ServerKeyRemotePath: string
  ClientCertPath: string
  ServerCertSANs: string[]
  StorePath: string
}

export interface SwarmOptions {
  IsSwarm: boolean
  Address: string
  Discovery: string
  Master: boolean
  Host: string
  Image: string
  Strategy: string
  ArbitraryFlags: string[]
  Env: string[] | null
}

/** Steps of create, in order; `phase` says how far a machine got so `provision` and `rm` know what to do. */
export const PHASES = ['created', 'driver', 'provisioned'] as const
export type Phase = (typeof PHASES)[number]

export interface BerthState {
  SchemaVersion: number
  CreatedAt: string
  Phase: Phase
  /** The machine's SSH host key ("ssh-ed25519 AAAA..."), pinned on first connect. */
  SSHHostKey?: string
  EnginePort: number
  /** User labels (`update-labels`), mirrored to the provider's tags. */
  Labels?: Record<string, string>
  /** Seconds spent in each create phase, for `inspect` and the benchmarks. */
  Timings: Record<string, number>
  /** Swarm-mode membership as berth last set it (the engine is the truth; join tokens are never kept). */
  Swarm?: SwarmMembership
  /** The docker context berth made for this machine (`berth context`, `create --context`); `rm` removes it. */
  DockerContext?: string
  /** What the machine folder's ca.pem is, the trust its engine is verified against (README "Security model"). */
  ServerTrust?: ServerTrust
}

/**
 * - `machine-ca`: a CA of this machine alone (its key is ca-key.pem beside it, never uploaded), which
 *   signs only this machine's server certificates;
 * - `pinned-certificate`: the engine's current server certificate itself, for a machine migrated from
 *   the store-wide CA of earlier berth versions until its next certificate renewal;
 * - `imported-ca`: the CA a machine adopted from docker-machine came with (shared with the machines
 *   of that docker-machine store).
 * Absent on records of earlier berth versions, which the store migrates on first use.
 */
export type ServerTrust = 'machine-ca' | 'pinned-certificate' | 'imported-ca'

export interface SwarmMembership {
  ClusterID: string
  NodeID: string
  Role: 'manager' | 'worker'
  AdvertiseAddr: string
  /** The machine berth joined it through, if any. */
  JoinedVia?: string
}

export interface MachineRecord {
  ConfigVersion: number
  Driver: BaseDriverState
  DriverName: string
  HostOptions: {
    Driver: string
    Memory: number
    Disk: number
    EngineOptions: EngineOptions
    SwarmOptions: SwarmOptions
    AuthOptions: AuthOptions
  }
  Name: string
  Berth: BerthState
}

export function emptyEngineOptions(): EngineOptions {
  return {
    ArbitraryFlags: [],
    Env: [],
    InsecureRegistry: [],
    Labels: [],
    RegistryMirror: [],
    StorageDriver: '',
    InstallURL: '',
    TlsVerify: true,
  }
}

export function emptySwarmOptions(): SwarmOptions {
  return {
    IsSwarm: false,
    Address: '',
    Discovery: '',
    Master: false,
    Host: 'tcp://0.0.0.0:3376',
    Image: '',
    Strategy: 'spread',
    ArbitraryFlags: [],
    Env: null,
  }
}
