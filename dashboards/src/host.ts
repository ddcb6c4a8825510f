import type {Dashboard} from '@grafana/grafana-foundation-sdk/dashboard'
import {
  BERTH_EVENT,
  CONTAINER_BLKIO,
  CONTAINER_CPU,
  CONTAINER_MEM,
  CONTAINER_NET,
  CONTAINER_STATUS,
  CPU_TOTAL,
  DOCKER,
  HOST_CPU,
  HOST_MEM,
  HOST_SYSTEM,
  HOST_TAG,
  type Measurement,
} from '../../agent/src/schema.js'
import {
  BLKIO_TOTAL,
  CONTAINER,
  columns,
  EVENT_CONTAINER,
  HOST,
  NET_TOTAL,
  containerRate,
  type FieldOf,
} from './filters.js'
import {berthDashboard, statPanel, tablePanel, timeSeries} from './panels.js'
import {containerVariable, hostVariable} from './variables.js'

const last = <M extends Measurement>(measurement: M, field: FieldOf<M>) =>
  `SELECT last("${field}") FROM "${measurement.name}" WHERE ${HOST} AND $timeFilter`

/** `mean("a") AS "a", ...`: several fields of one measurement as columns named like them. */
const means = <M extends Measurement>(_measurement: M, ...fields: FieldOf<M>[]) =>
  fields.map((field) => `mean("${field}") AS "${field.replace(/^usage_/, '')}"`).join(', ')

export function hostDashboard(): Dashboard {
  const containers = `${HOST} AND ${CONTAINER}`
  const perHost = `GROUP BY time($__interval), "${HOST_TAG}" fill(none)`
  const perContainer = `GROUP BY time($__interval), "${CONTAINER_STATUS.tags.container_name}" fill(none)`
  const status = columns(CONTAINER_STATUS)
  const event = columns(BERTH_EVENT)
  return berthDashboard({
    uid: 'berth-host',
    title: 'berth / Host',
    description:
      'One machine (or a few): its engine, CPU, memory and load, and what each of its containers uses.',
    variables: [hostVariable(), containerVariable()],
    items: [
      statPanel('Containers running', '', 'none', last(DOCKER, 'n_containers_running')),
      statPanel('Containers stopped', '', 'none', last(DOCKER, 'n_containers_stopped')),
      statPanel('Images', '', 'none', last(DOCKER, 'n_images')),
      statPanel('CPUs', '', 'none', last(HOST_SYSTEM, 'n_cpus')),
      statPanel('Memory', '', 'bytes', last(HOST_MEM, 'total')),
      statPanel('Uptime', '', 's', last(HOST_SYSTEM, 'uptime')),
      {row: 'Host'},
      timeSeries(
        'CPU',
        'Share of all CPUs by mode.',
        'percent',
        [
          {
            query: `SELECT ${means(HOST_CPU, 'usage_user', 'usage_system', 'usage_iowait', 'usage_steal')} FROM "${HOST_CPU.name}" WHERE "${HOST_CPU.tags.cpu}" = '${CPU_TOTAL}' AND ${HOST} AND $timeFilter ${perHost}`,
            alias: '$tag_host $col',
          },
        ],
        {w: 8, h: 8},
      ),
      timeSeries(
        'Memory',
        '',
        'bytes',
        [
          {
            query: `SELECT ${means(HOST_MEM, 'used', 'cached', 'available')} FROM "${HOST_MEM.name}" WHERE ${HOST} AND $timeFilter ${perHost}`,
            alias: '$tag_host $col',
          },
        ],
        {w: 8, h: 8},
      ),
      timeSeries(
        'Load',
        '',
        'none',
        [
          {
            query: `SELECT ${means(HOST_SYSTEM, 'load1', 'load5', 'load15')} FROM "${HOST_SYSTEM.name}" WHERE ${HOST} AND $timeFilter ${perHost}`,
            alias: '$tag_host $col',
          },
        ],
        {w: 8, h: 8},
      ),
      {row: 'Containers'},
      timeSeries('CPU by container', 'One busy core reads 100%.', 'percent', [
        {
          query: `SELECT mean("${CONTAINER_CPU.fields.usage_percent}") FROM "${CONTAINER_CPU.name}" WHERE "${CONTAINER_CPU.tags.cpu}" = '${CPU_TOTAL}' AND ${containers} AND $timeFilter ${perContainer}`,
          alias: '$tag_container_name',
        },
      ]),
      timeSeries(
        'Memory by container',
        'Usage without the inactive page cache, as `docker stats` shows it.',
        'bytes',
        [
          {
            query: `SELECT mean("${CONTAINER_MEM.fields.usage}") FROM "${CONTAINER_MEM.name}" WHERE ${containers} AND $timeFilter ${perContainer}`,
            alias: '$tag_container_name',
          },
        ],
      ),
      timeSeries('Network received by container', '', 'Bps', [
        {
          query: containerRate(CONTAINER_NET, 'rx_bytes', `${NET_TOTAL} AND ${containers}`),
          alias: '$tag_container_name',
        },
      ]),
      timeSeries('Network sent by container', '', 'Bps', [
        {
          query: containerRate(CONTAINER_NET, 'tx_bytes', `${NET_TOTAL} AND ${containers}`),
          alias: '$tag_container_name',
        },
      ]),
      timeSeries('Disk read by container', '', 'Bps', [
        {
          query: containerRate(
            CONTAINER_BLKIO,
            'io_service_bytes_recursive_read',
            `${BLKIO_TOTAL} AND ${containers}`,
          ),
          alias: '$tag_container_name',
        },
      ]),
      timeSeries('Disk written by container', '', 'Bps', [
        {
          query: containerRate(
            CONTAINER_BLKIO,
            'io_service_bytes_recursive_write',
            `${BLKIO_TOTAL} AND ${containers}`,
          ),
          alias: '$tag_container_name',
        },
      ]),
      tablePanel(
        'Containers',
        'Last known state of each container in the range.',
        `SELECT last("${status.uptime_ns}") / 1000000000 AS "uptime_s", last("${status.restart_count}") AS "restarts", last("${status.exitcode}") AS "exit_code", last("${status.oomkilled}") AS "oom_killed" FROM "${CONTAINER_STATUS.name}" WHERE ${containers} AND $timeFilter GROUP BY "${HOST_TAG}", "${status.container_name}", "${status.container_image}"`,
        {w: 12, h: 8},
      ),
      tablePanel(
        'Events',
        'Newest first.',
        `SELECT "${event.type}", "${event.action}", "${event.actor}", "${event.detail}", "${event.exit_code}", "${event.actor_id}" FROM "${BERTH_EVENT.name}" WHERE ${HOST} AND ${EVENT_CONTAINER} AND $timeFilter ORDER BY time DESC LIMIT 100`,
        {w: 12, h: 8},
      ),
    ],
  })
}
