/**
 * The driver kit: everything a driver may use of berth, built-in or installed as a plugin (see
 * README, "External drivers"). A driver imports berth only through this module; the rest of
 * src/core is berth's own and may change. Nothing here knows about any one driver.
 */

// The contract a driver implements, and the state every driver's record section starts from.
export type {
  AdoptedDriver,
  Driver,
  DriverContext,
  DriverDescriptor,
  DriverOption,
  DriverPlugin,
  MachineState,
  OptionValues,
  SshAddress,
} from './contract.js'
export {baseState, MachineStates} from './contract.js'
export type {BaseDriverState} from '../store/record.js'

// Errors: a BerthError carries its exit code and a one-line hint to the user.
export {BerthError, ExitCode, oneLine} from '../errors.js'

// SSH: the machine's key pair, and a pinned-host-key connection for drivers that talk to the guest themselves.
export {ensureSshKey} from '../ssh/keys.js'
export {connectSsh, HostKeyMismatchError, SshKeyError} from '../ssh/ssh.js'

// Cloud images, checksummed and cached once per store; the cloud-init NoCloud seed ISO.
export {ensureImage, validateImageRequest} from '../vm/image-cache.js'
export {formatMac, randomMac, writeSeedIso} from '../vm/seed-iso.js'
export type {NoCloudSeed} from '../vm/seed-iso.js'

// The one deadline loop (poll until a value or the time is up) and a plain sleep.
export {poll, sleep} from '../poll.js'
export type {PollOutcome} from '../poll.js'

// A file lock across berth processes (for state shared between machines, such as a host-only network).
export {acquireLock} from '../store/lock.js'

// Reading option values with the flag's name in the error; free loopback ports for port forwards.
export {oneOf, positiveInteger} from './options.js'
export {freePort} from '../vm/ports.js'

// For drivers that run machines on a local Docker engine: Engine API answers, and tar for uploads.
// The Docker client itself (dockerode) is in kit-docker.ts, so that loading the kit never loads it.
export {hasImage, isNotFound} from '../engine/helpers.js'
export {tarArchive} from '../archive/tar.js'
