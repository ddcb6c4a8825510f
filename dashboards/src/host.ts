import type {Dashboard} from '@grafana/grafana-foundation-sdk/dashboard'
import {CONTAINER, EVENT_CONTAINER, HOST, containerRate} from './filters.js'
import {berthDashboard, statPanel, tablePanel, timeSeries} from './panels.js'
import {containerVariable, hostVariable} from './variables.js'

const last = (measurement: string, field: string, extra = '') =>
  `SELECT last("${field}") FROM "${measurement}" WHERE ${HOST}${extra} AND $timeFilter`

export function hostDashboard(): Dashboard {
  const containers = `${HOST} AND ${CONTAINER}`
  return berthDashboard({
    uid: 'berth-host',
    title: 'berth / Host',
    description: 'One machine (or a few): its engine, CPU, memory and load, and what each of its containers uses.',
    variables: [hostVariable(), containerVariable()],
    items: [
      statPanel('Containers running', '', 'none', last('docker', 'n_containers_running')),
      statPanel('Containers stopped', '', 'none', last('docker', 'n_containers_stopped')),
      statPanel('Images', '', 'none', last('docker', 'n_images')),
      statPanel('CPUs', '', 'none', last('system', 'n_cpus')),
      statPanel('Memory', '', 'bytes', last('mem', 'total')),
      statPanel('Uptime', '', 's', last('system', 'uptime')),
      {row: 'Host'},
      timeSeries('CPU', 'Share of all CPUs by mode.', 'percent', [{query: `SELECT mean("usage_user") AS "user", mean("usage_system") AS "system", mean("usage_iowait") AS "iowait", mean("usage_steal") AS "steal" FROM "cpu" WHERE "cpu" = 'cpu-total' AND ${HOST} AND $timeFilter GROUP BY time($__interval), "host" fill(none)`, alias: '$tag_host $col'}], {w: 8, h: 8}),
      timeSeries('Memory', '', 'bytes', [{query: `SELECT mean("used") AS "used", mean("cached") AS "cached", mean("available") AS "available" FROM "mem" WHERE ${HOST} AND $timeFilter GROUP BY time($__interval), "host" fill(none)`, alias: '$tag_host $col'}], {w: 8, h: 8}),
      timeSeries('Load', '', 'none', [{query: `SELECT mean("load1") AS "load1", mean("load5") AS "load5", mean("load15") AS "load15" FROM "system" WHERE ${HOST} AND $timeFilter GROUP BY time($__interval), "host" fill(none)`, alias: '$tag_host $col'}], {w: 8, h: 8}),
      {row: 'Containers'},
      timeSeries('CPU by container', 'One busy core reads 100%.', 'percent', [{query: `SELECT mean("usage_percent") FROM "docker_container_cpu" WHERE "cpu" = 'cpu-total' AND ${containers} AND $timeFilter GROUP BY time($__interval), "container_name" fill(none)`, alias: '$tag_container_name'}]),
      timeSeries('Memory by container', 'Usage without the inactive page cache, as `docker stats` shows it.', 'bytes', [{query: `SELECT mean("usage") FROM "docker_container_mem" WHERE ${containers} AND $timeFilter GROUP BY time($__interval), "container_name" fill(none)`, alias: '$tag_container_name'}]),
      timeSeries('Network received by container', '', 'Bps', [{query: containerRate('docker_container_net', 'rx_bytes', `"network" = 'total' AND ${containers}`), alias: '$tag_container_name'}]),
      timeSeries('Network sent by container', '', 'Bps', [{query: containerRate('docker_container_net', 'tx_bytes', `"network" = 'total' AND ${containers}`), alias: '$tag_container_name'}]),
      timeSeries('Disk read by container', '', 'Bps', [{query: containerRate('docker_container_blkio', 'io_service_bytes_recursive_read', `"device" = 'total' AND ${containers}`), alias: '$tag_container_name'}]),
      timeSeries('Disk written by container', '', 'Bps', [{query: containerRate('docker_container_blkio', 'io_service_bytes_recursive_write', `"device" = 'total' AND ${containers}`), alias: '$tag_container_name'}]),
      tablePanel('Containers', 'Last known state of each container in the range.',
        `SELECT last("uptime_ns") / 1000000000 AS "uptime_s", last("restart_count") AS "restarts", last("exitcode") AS "exit_code", last("oomkilled") AS "oom_killed" FROM "docker_container_status" WHERE ${containers} AND $timeFilter GROUP BY "host", "container_name", "container_image"`,
        {w: 12, h: 8}),
      tablePanel('Events', 'Newest first.',
        `SELECT "type", "action", "actor", "detail", "exit_code", "actor_id" FROM "berth_event" WHERE ${HOST} AND ${EVENT_CONTAINER} AND $timeFilter ORDER BY time DESC LIMIT 100`,
        {w: 12, h: 8}),
    ],
  })
}
