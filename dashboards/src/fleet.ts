import type {Dashboard} from '@grafana/grafana-foundation-sdk/dashboard'
import {
  BERTH_AGENT,
  BERTH_EVENT,
  CONTAINER_BLKIO,
  CONTAINER_NET,
  CPU_TOTAL,
  DOCKER,
  HOST_CPU,
  HOST_MEM,
  HOST_TAG,
} from '../../agent/src/schema.js'
import {
  BLKIO_TOTAL,
  columns,
  EVENT_CONTAINER,
  HOST,
  NET_TOTAL,
  fleetTotal,
  summedRate,
  type FieldOf,
} from './filters.js'
import {berthDashboard, statPanel, tablePanel, timeSeries} from './panels.js'
import {containerVariable, hostVariable} from './variables.js'

/** A machine counts as up while its agent reported the engine within this window. */
const UP_WINDOW = '2m'

export function fleetDashboard(): Dashboard {
  const event = columns(BERTH_EVENT)
  const agent = BERTH_AGENT.fields
  const perHost = `GROUP BY time($__interval), "${HOST_TAG}" fill(none)`
  /** An agent field per host: its largest value in each interval. */
  const agentSeries = (field: FieldOf<typeof BERTH_AGENT>) =>
    `SELECT max("${field}") FROM "${BERTH_AGENT.name}" WHERE ${HOST} AND $timeFilter ${perHost}`
  const health = (
    [
      'lag_ms',
      'points_written',
      'points_spooled',
      'points_dropped',
      'points_rejected',
      'write_errors',
      'last_error',
      'cpu_percent',
      'rss_bytes',
    ] as const satisfies FieldOf<typeof BERTH_AGENT>[]
  )
    .map((field) => `last("${field}") AS "${field.replace(/^points_/, '')}"`)
    .join(', ')
  return berthDashboard({
    uid: 'berth-fleet',
    title: 'berth / Fleet overview',
    description:
      "Every machine berth's agent reports from: engines up, containers, resources, Docker events and the agents themselves.",
    variables: [hostVariable(), containerVariable()],
    items: [
      statPanel(
        'Machines up',
        `Hosts whose agent reported their engine in the last ${UP_WINDOW}.`,
        'none',
        `SELECT count("v") FROM (SELECT last("${DOCKER.fields.n_cpus}") AS "v" FROM "${DOCKER.name}" WHERE ${HOST} AND time > now() - ${UP_WINDOW} GROUP BY "${HOST_TAG}")`,
      ),
      statPanel(
        'Containers running',
        'Sum over the selected hosts.',
        'none',
        fleetTotal('n_containers_running'),
      ),
      statPanel(
        'Containers stopped',
        'Sum over the selected hosts.',
        'none',
        fleetTotal('n_containers_stopped'),
      ),
      statPanel('Images', 'Sum over the selected hosts.', 'none', fleetTotal('n_images')),
      statPanel(
        'Docker events',
        'Events in the time range.',
        'none',
        `SELECT count("${event.actor_id}") FROM "${BERTH_EVENT.name}" WHERE ${HOST} AND $timeFilter`,
      ),
      statPanel(
        'Worst agent lag',
        'Age of the oldest point an agent has not yet delivered to InfluxDB.',
        'ms',
        `SELECT max("v") FROM (SELECT last("${agent.lag_ms}") AS "v" FROM "${BERTH_AGENT.name}" WHERE ${HOST} AND $timeFilter GROUP BY "${HOST_TAG}")`,
      ),
      {row: 'Hosts'},
      timeSeries('Containers running per host', '', 'none', [
        {
          query: `SELECT last("${DOCKER.fields.n_containers_running}") FROM "${DOCKER.name}" WHERE ${HOST} AND $timeFilter ${perHost}`,
          alias: '$tag_host',
        },
      ]),
      timeSeries('CPU per host', 'Busy share of all CPUs (100 − idle).', 'percent', [
        {
          query: `SELECT 100 - mean("${HOST_CPU.fields.usage_idle}") FROM "${HOST_CPU.name}" WHERE "${HOST_CPU.tags.cpu}" = '${CPU_TOTAL}' AND ${HOST} AND $timeFilter ${perHost}`,
          alias: '$tag_host',
        },
      ]),
      timeSeries('Memory used per host', '', 'percent', [
        {
          query: `SELECT mean("${HOST_MEM.fields.used_percent}") FROM "${HOST_MEM.name}" WHERE ${HOST} AND $timeFilter ${perHost}`,
          alias: '$tag_host',
        },
      ]),
      timeSeries('Disk I/O per host', 'Bytes read and written by all containers (blkio).', 'Bps', [
        {
          query: summedRate(
            CONTAINER_BLKIO,
            'io_service_bytes_recursive_read',
            `${BLKIO_TOTAL} AND ${HOST}`,
            HOST_TAG,
          ),
          alias: '$tag_host read',
        },
        {
          query: summedRate(
            CONTAINER_BLKIO,
            'io_service_bytes_recursive_write',
            `${BLKIO_TOTAL} AND ${HOST}`,
            HOST_TAG,
          ),
          alias: '$tag_host write',
        },
      ]),
      timeSeries('Network per host', 'Bytes received and sent by all containers.', 'Bps', [
        {
          query: summedRate(CONTAINER_NET, 'rx_bytes', `${NET_TOTAL} AND ${HOST}`, HOST_TAG),
          alias: '$tag_host rx',
        },
        {
          query: summedRate(CONTAINER_NET, 'tx_bytes', `${NET_TOTAL} AND ${HOST}`, HOST_TAG),
          alias: '$tag_host tx',
        },
      ]),
      timeSeries(
        'Docker events',
        'Events per interval, by action.',
        'none',
        [
          {
            query: `SELECT count("${event.actor_id}") FROM "${BERTH_EVENT.name}" WHERE ${HOST} AND ${EVENT_CONTAINER} AND $timeFilter GROUP BY time($__interval), "${event.action}" fill(none)`,
            alias: '$tag_action',
          },
        ],
        {w: 12, h: 8},
        true,
      ),
      {row: 'Trouble'},
      tablePanel(
        'Recent die, oom and restart events',
        'Newest first.',
        `SELECT "${HOST_TAG}", "${event.actor}" AS "container", "${event.action}", "${event.image}", "${event.exit_code}", "${event.signal}", "${event.actor_id}" FROM "${BERTH_EVENT.name}" WHERE "${event.type}" = 'container' AND "${event.action}" =~ /^(die|oom|restart|kill)$/ AND ${HOST} AND ${EVENT_CONTAINER} AND $timeFilter ORDER BY time DESC LIMIT 50`,
        {w: 24, h: 9},
      ),
      {row: 'Agents'},
      tablePanel(
        'Agent health',
        'Counters are totals since each agent started; last_error is empty while healthy.',
        `SELECT ${health} FROM "${BERTH_AGENT.name}" WHERE ${HOST} AND $timeFilter GROUP BY "${HOST_TAG}", "${BERTH_AGENT.tags.version}"`,
        {w: 24, h: 7},
      ),
      timeSeries(
        'Agent lag',
        'Age of the oldest point not yet in InfluxDB; it grows while InfluxDB is unreachable and the agent spools.',
        'ms',
        [{query: agentSeries('lag_ms'), alias: '$tag_host'}],
      ),
      timeSeries('Agent spool', 'Bytes waiting on disk for InfluxDB.', 'bytes', [
        {query: agentSeries('spool_bytes'), alias: '$tag_host'},
      ]),
    ],
  })
}
