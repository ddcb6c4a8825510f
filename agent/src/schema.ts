/**
 * The metrics schema: every measurement, tag and field name the agent writes and the dashboards
 * query, in one place (agent/SCHEMA.md describes them, and a unit test holds the two together).
 * It imports nothing, so the agent's bundle and the dashboards' code both take it as it is.
 *
 * Names are Telegraf's (inputs.docker, docker_log, cpu, mem, system, disk) wherever Telegraf has them,
 * so dashboards built for Telegraf keep working; berth's own measurements start with `berth_`.
 *
 * Each measurement lists its names once; `tags` and `fields` map every name to itself, typed as
 * that name. So a name renamed here stops compiling wherever the old one is written (the agent's
 * point literals are checked against `Fields`/`Tags`) or queried (`m.fields.old` no longer exists):
 * neither side can keep the old name alone.
 */

export interface Measurement<Tag extends string = string, Field extends string = string> {
  name: string
  /** Every fixed tag key (container labels come on top, as tags of their own). */
  tags: {readonly [K in Tag]: K}
  fields: {readonly [K in Field]: K}
}

const names = <N extends string>(list: readonly N[]): {readonly [K in N]: K} =>
  Object.fromEntries(list.map((n) => [n, n])) as {[K in N]: K}

function measurement<const Tag extends string, const Field extends string>(
  name: string,
  tags: readonly Tag[],
  fields: readonly Field[],
): Measurement<Tag, Field> {
  return {name, tags: names(tags), fields: names(fields)}
}

/** On every point: the machine's name. */
export const HOST_TAG = 'host'
const ENGINE_TAGS = [HOST_TAG, 'engine_host', 'server_version'] as const
/** On every `docker_container_*` point, besides the container's labels. */
export const CONTAINER_TAGS = [
  ...ENGINE_TAGS,
  'container_name',
  'container_image',
  'container_version',
  'container_status',
] as const
const CONTAINER_ID = 'container_id'

export const DOCKER = measurement('docker', ENGINE_TAGS, [
  'n_containers',
  'n_containers_running',
  'n_containers_stopped',
  'n_containers_paused',
  'n_images',
  'n_cpus',
  'n_used_file_descriptors',
  'memory_total',
])

/** Tag `cpu`: `cpu-total`, or `cpuN` for the per-CPU points (cgroup v1), which carry only usage_total. */
export const CONTAINER_CPU = measurement(
  'docker_container_cpu',
  [...CONTAINER_TAGS, 'cpu'],
  [
    'usage_total',
    'usage_in_usermode',
    'usage_in_kernelmode',
    'usage_system',
    'throttling_periods',
    'throttling_throttled_periods',
    'throttling_throttled_time',
    'usage_percent',
    CONTAINER_ID,
  ],
)
export const CPU_TOTAL = 'cpu-total'

/** Every memory.stat key of the kernel is written as a field too, under its own name. */
export const CONTAINER_MEM = measurement('docker_container_mem', CONTAINER_TAGS, [
  'usage',
  'limit',
  'max_usage',
  'usage_percent',
  'fail_count',
  CONTAINER_ID,
])

const NET_COUNTERS = [
  'rx_bytes',
  'rx_packets',
  'rx_errors',
  'rx_dropped',
  'tx_bytes',
  'tx_packets',
  'tx_errors',
  'tx_dropped',
] as const
export type NetCounter = (typeof NET_COUNTERS)[number]
/** Tag `network`: the interface, or `total`. */
export const CONTAINER_NET = measurement(
  'docker_container_net',
  [...CONTAINER_TAGS, 'network'],
  [...NET_COUNTERS, CONTAINER_ID],
)

export const BLKIO_OPS = ['read', 'write', 'sync', 'async', 'total'] as const
export type BlkioOp = (typeof BLKIO_OPS)[number]
const BLKIO_COUNTERS = ['io_service_bytes_recursive', 'io_serviced_recursive'] as const
/** Tag `device`: `maj:min`, or `total`. Fields are `<counter>_<op>`. */
export const CONTAINER_BLKIO = measurement(
  'docker_container_blkio',
  [...CONTAINER_TAGS, 'device'],
  [...BLKIO_COUNTERS.flatMap((counter) => BLKIO_OPS.map((op) => `${counter}_${op}` as const)), CONTAINER_ID],
)
export const BLKIO_COUNTER = names(BLKIO_COUNTERS)
/** The tag value of the points that sum all interfaces or devices. */
export const TOTAL = 'total'

export const CONTAINER_STATUS = measurement('docker_container_status', CONTAINER_TAGS, [
  'oomkilled',
  'pid',
  'exitcode',
  'started_at',
  'finished_at',
  'uptime_ns',
  'restart_count',
  CONTAINER_ID,
])

/** Tag `stream`: stdout, stderr or tty. */
export const DOCKER_LOG = measurement(
  'docker_log',
  [HOST_TAG, 'container_name', 'container_image', 'container_version', 'stream'],
  [CONTAINER_ID, 'message', 'truncated'],
)

export const HOST_CPU = measurement(
  'cpu',
  [HOST_TAG, 'cpu'],
  [
    'usage_user',
    'usage_system',
    'usage_idle',
    'usage_nice',
    'usage_iowait',
    'usage_irq',
    'usage_softirq',
    'usage_steal',
    'usage_guest',
    'usage_guest_nice',
  ],
)
export const HOST_MEM = measurement(
  'mem',
  [HOST_TAG],
  ['total', 'available', 'used', 'free', 'cached', 'buffered', 'used_percent', 'available_percent'],
)
export const HOST_SYSTEM = measurement('system', [HOST_TAG], ['load1', 'load5', 'load15', 'n_cpus', 'uptime'])
/** Telegraf's inputs.disk: one point per host filesystem. */
export const HOST_DISK = measurement(
  'disk',
  [HOST_TAG, 'path', 'device', 'fstype', 'mode'],
  [
    'total',
    'free',
    'used',
    'used_percent',
    'inodes_total',
    'inodes_free',
    'inodes_used',
    'inodes_used_percent',
  ],
)

export const BERTH_EVENT = measurement(
  'berth_event',
  [HOST_TAG, 'type', 'action', 'actor', 'image'],
  ['actor_id', 'detail', 'exit_code', 'signal', 'attributes', 'resync'],
)

export const BERTH_AGENT = measurement(
  'berth_agent',
  [HOST_TAG, 'version'],
  [
    'points_written',
    'points_spooled',
    'points_dropped',
    'points_rejected',
    'points_invalid',
    'lines_truncated',
    'labels_dropped',
    'spool_bytes',
    'spool_batches',
    'lag_ms',
    'write_errors',
    'last_error',
    'collect_ms',
    'containers',
    'log_streams',
    'log_streams_paused',
    'rss_bytes',
    'cpu_percent',
  ],
)

/** Every measurement, in SCHEMA.md's order. */
export const MEASUREMENTS: readonly Measurement[] = [
  DOCKER,
  CONTAINER_CPU,
  CONTAINER_MEM,
  CONTAINER_NET,
  CONTAINER_BLKIO,
  CONTAINER_STATUS,
  DOCKER_LOG,
  HOST_CPU,
  HOST_MEM,
  HOST_SYSTEM,
  HOST_DISK,
  BERTH_EVENT,
  BERTH_AGENT,
]

/** A point's fields, checked against the measurement's names (each may be left out). */
export type Fields<M extends Measurement, Value> = {-readonly [K in keyof M['fields']]?: Value}
/** A point's fixed tags, checked against the measurement's names. */
export type Tags<M extends Measurement, Value = string | undefined> = {
  -readonly [K in keyof M['tags']]?: Value
}
