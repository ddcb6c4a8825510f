import type {Dashboard} from '@grafana/grafana-foundation-sdk/dashboard'
import {CONTAINER, HOST} from './filters.js'
import {berthDashboard, logsPanel, statPanel, tablePanel, timeSeries} from './panels.js'
import {containerVariable, hostVariable} from './variables.js'

export function containerDashboard(): Dashboard {
  const where = `${HOST} AND ${CONTAINER}`
  const rate = (measurement: string, field: string, tag: string) =>
    `SELECT non_negative_derivative(max("${field}"), 1s) FROM "${measurement}" WHERE ${tag} AND ${where} AND $timeFilter GROUP BY time($__interval), "host", "container_name" fill(none)`
  const status = (field: string, expression = `last("${field}")`) =>
    `SELECT ${expression} FROM "docker_container_status" WHERE ${where} AND $timeFilter`
  return berthDashboard({
    uid: 'berth-container',
    title: 'berth / Container',
    description: 'One container (or a few): CPU, memory, network, block I/O, restarts, events and its logs.',
    variables: [hostVariable(), containerVariable()],
    items: [
      statPanel('Uptime', 'Since the container last started; 0 while stopped.', 's', status('uptime_ns', 'last("uptime_ns") / 1000000000')),
      statPanel('Restart count', 'Restarts by its restart policy, as Docker counts them.', 'none', status('restart_count')),
      statPanel('Restarts in range', 'Increase of the restart count in the time range.', 'none', status('restart_count', 'spread("restart_count")')),
      statPanel('Last exit code', '', 'none', status('exitcode')),
      statPanel('OOM killed', 'Whether the kernel killed its last run for memory.', 'none', status('oomkilled')),
      statPanel('Log lines', 'Lines in the time range.', 'none', `SELECT count("message") FROM "docker_log" WHERE ${where} AND $timeFilter`),
      timeSeries('CPU', 'One busy core reads 100%.', 'percent', [{query: `SELECT mean("usage_percent") FROM "docker_container_cpu" WHERE "cpu" = 'cpu-total' AND ${where} AND $timeFilter GROUP BY time($__interval), "host", "container_name" fill(none)`, alias: '$tag_container_name'}], {w: 8, h: 8}),
      timeSeries('Memory', 'Usage (without inactive page cache) and the limit.', 'bytes', [
        {query: `SELECT mean("usage") FROM "docker_container_mem" WHERE ${where} AND $timeFilter GROUP BY time($__interval), "host", "container_name" fill(none)`, alias: '$tag_container_name usage'},
        {query: `SELECT mean("limit") FROM "docker_container_mem" WHERE ${where} AND $timeFilter GROUP BY time($__interval), "host", "container_name" fill(none)`, alias: '$tag_container_name limit'},
      ], {w: 8, h: 8}),
      timeSeries('Restarts', 'Docker\'s restart count over time.', 'none', [{query: `SELECT max("restart_count") FROM "docker_container_status" WHERE ${where} AND $timeFilter GROUP BY time($__interval), "host", "container_name" fill(none)`, alias: '$tag_container_name'}], {w: 8, h: 8}),
      timeSeries('Network', 'All interfaces.', 'Bps', [
        {query: rate('docker_container_net', 'rx_bytes', `"network" = 'total'`), alias: '$tag_container_name rx'},
        {query: rate('docker_container_net', 'tx_bytes', `"network" = 'total'`), alias: '$tag_container_name tx'},
      ]),
      timeSeries('Block I/O', 'All devices.', 'Bps', [
        {query: rate('docker_container_blkio', 'io_service_bytes_recursive_read', `"device" = 'total'`), alias: '$tag_container_name read'},
        {query: rate('docker_container_blkio', 'io_service_bytes_recursive_write', `"device" = 'total'`), alias: '$tag_container_name write'},
      ]),
      tablePanel('Events', 'Newest first.',
        `SELECT "host", "actor" AS "container", "action", "detail", "exit_code", "signal", "actor_id" FROM "berth_event" WHERE "type" = 'container' AND "actor" =~ /^$container$/ AND ${HOST} AND $timeFilter ORDER BY time DESC LIMIT 100`,
        {w: 24, h: 7}),
      logsPanel('Logs', 'stdout, stderr and TTY output, newest first.',
        `SELECT "message", "stream", "container_name" FROM "docker_log" WHERE ${where} AND $timeFilter ORDER BY time DESC LIMIT 1000`),
    ],
  })
}
