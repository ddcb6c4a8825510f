import type {Dashboard} from '@grafana/grafana-foundation-sdk/dashboard'
import {
  BERTH_EVENT,
  CONTAINER_BLKIO,
  CONTAINER_CPU,
  CONTAINER_MEM,
  CONTAINER_NET,
  CONTAINER_STATUS,
  CPU_TOTAL,
  DOCKER_LOG,
  HOST_TAG,
  type Measurement,
} from '../../agent/src/schema.js'
import {BLKIO_TOTAL, CONTAINER, columns, HOST, NET_TOTAL, type FieldOf} from './filters.js'
import {berthDashboard, logsPanel, statPanel, tablePanel, timeSeries} from './panels.js'
import {containerVariable, hostVariable} from './variables.js'

export function containerDashboard(): Dashboard {
  const where = `${HOST} AND ${CONTAINER}`
  const byContainer = `GROUP BY time($__interval), "${HOST_TAG}", "${CONTAINER_STATUS.tags.container_name}" fill(none)`
  const rate = <M extends Measurement>(measurement: M, field: FieldOf<M>, tag: string) =>
    `SELECT non_negative_derivative(max("${field}"), 1s) FROM "${measurement.name}" WHERE ${tag} AND ${where} AND $timeFilter ${byContainer}`
  const status = (field: FieldOf<typeof CONTAINER_STATUS>, expression = `last("${field}")`) =>
    `SELECT ${expression} FROM "${CONTAINER_STATUS.name}" WHERE ${where} AND $timeFilter`
  const s = CONTAINER_STATUS.fields
  const cpu = CONTAINER_CPU.fields
  const mem = CONTAINER_MEM.fields
  const log = DOCKER_LOG.fields
  const event = columns(BERTH_EVENT)
  return berthDashboard({
    uid: 'berth-container',
    title: 'berth / Container',
    description: 'One container (or a few): CPU, memory, network, block I/O, restarts, events and its logs.',
    variables: [hostVariable(), containerVariable()],
    items: [
      statPanel(
        'Uptime',
        'Since the container last started; 0 while stopped.',
        's',
        status(s.uptime_ns, `last("${s.uptime_ns}") / 1000000000`),
      ),
      statPanel(
        'Restart count',
        'Restarts by its restart policy, as Docker counts them.',
        'none',
        status(s.restart_count),
      ),
      statPanel(
        'Restarts in range',
        'Increase of the restart count in the time range.',
        'none',
        status(s.restart_count, `spread("${s.restart_count}")`),
      ),
      statPanel('Last exit code', '', 'none', status(s.exitcode)),
      statPanel(
        'OOM killed',
        'Whether the kernel killed its last run for memory.',
        'none',
        status(s.oomkilled),
      ),
      statPanel(
        'Log lines',
        'Lines in the time range.',
        'none',
        `SELECT count("${log.message}") FROM "${DOCKER_LOG.name}" WHERE ${where} AND $timeFilter`,
      ),
      timeSeries(
        'CPU',
        'One busy core reads 100%.',
        'percent',
        [
          {
            query: `SELECT mean("${cpu.usage_percent}") FROM "${CONTAINER_CPU.name}" WHERE "${CONTAINER_CPU.tags.cpu}" = '${CPU_TOTAL}' AND ${where} AND $timeFilter ${byContainer}`,
            alias: '$tag_container_name',
          },
        ],
        {w: 8, h: 8},
      ),
      timeSeries(
        'Memory',
        'Usage (without inactive page cache) and the limit.',
        'bytes',
        [
          {
            query: `SELECT mean("${mem.usage}") FROM "${CONTAINER_MEM.name}" WHERE ${where} AND $timeFilter ${byContainer}`,
            alias: '$tag_container_name usage',
          },
          {
            query: `SELECT mean("${mem.limit}") FROM "${CONTAINER_MEM.name}" WHERE ${where} AND $timeFilter ${byContainer}`,
            alias: '$tag_container_name limit',
          },
        ],
        {w: 8, h: 8},
      ),
      timeSeries(
        'Restarts',
        "Docker's restart count over time.",
        'none',
        [
          {
            query: `SELECT max("${s.restart_count}") FROM "${CONTAINER_STATUS.name}" WHERE ${where} AND $timeFilter ${byContainer}`,
            alias: '$tag_container_name',
          },
        ],
        {w: 8, h: 8},
      ),
      timeSeries('Network', 'All interfaces.', 'Bps', [
        {query: rate(CONTAINER_NET, 'rx_bytes', NET_TOTAL), alias: '$tag_container_name rx'},
        {query: rate(CONTAINER_NET, 'tx_bytes', NET_TOTAL), alias: '$tag_container_name tx'},
      ]),
      timeSeries('Block I/O', 'All devices.', 'Bps', [
        {
          query: rate(CONTAINER_BLKIO, 'io_service_bytes_recursive_read', BLKIO_TOTAL),
          alias: '$tag_container_name read',
        },
        {
          query: rate(CONTAINER_BLKIO, 'io_service_bytes_recursive_write', BLKIO_TOTAL),
          alias: '$tag_container_name write',
        },
      ]),
      tablePanel(
        'Events',
        'Newest first.',
        `SELECT "${HOST_TAG}", "${event.actor}" AS "container", "${event.action}", "${event.detail}", "${event.exit_code}", "${event.signal}", "${event.actor_id}" FROM "${BERTH_EVENT.name}" WHERE "${event.type}" = 'container' AND "${event.actor}" =~ /^$container$/ AND ${HOST} AND $timeFilter ORDER BY time DESC LIMIT 100`,
        {w: 24, h: 7},
      ),
      logsPanel(
        'Logs',
        'stdout, stderr and TTY output, newest first.',
        `SELECT "${log.message}", "${DOCKER_LOG.tags.stream}", "${DOCKER_LOG.tags.container_name}" FROM "${DOCKER_LOG.name}" WHERE ${where} AND $timeFilter ORDER BY time DESC LIMIT 1000`,
      ),
    ],
  })
}
