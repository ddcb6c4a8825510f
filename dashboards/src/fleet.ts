import type {Dashboard} from '@grafana/grafana-foundation-sdk/dashboard'
import {EVENT_CONTAINER, HOST, fleetTotal, summedRate} from './filters.js'
import {berthDashboard, statPanel, tablePanel, timeSeries} from './panels.js'
import {containerVariable, hostVariable} from './variables.js'

/** A machine counts as up while its agent reported the engine within this window. */
const UP_WINDOW = '2m'

export function fleetDashboard(): Dashboard {
  return berthDashboard({
    uid: 'berth-fleet',
    title: 'berth / Fleet overview',
    description: 'Every machine berth\'s agent reports from: engines up, containers, resources, Docker events and the agents themselves.',
    variables: [hostVariable(), containerVariable()],
    items: [
      statPanel('Machines up', `Hosts whose agent reported their engine in the last ${UP_WINDOW}.`, 'none',
        `SELECT count("v") FROM (SELECT last("n_cpus") AS "v" FROM "docker" WHERE ${HOST} AND time > now() - ${UP_WINDOW} GROUP BY "host")`),
      statPanel('Containers running', 'Sum over the selected hosts.', 'none', fleetTotal('n_containers_running')),
      statPanel('Containers stopped', 'Sum over the selected hosts.', 'none', fleetTotal('n_containers_stopped')),
      statPanel('Images', 'Sum over the selected hosts.', 'none', fleetTotal('n_images')),
      statPanel('Docker events', 'Events in the time range.', 'none', `SELECT count("actor_id") FROM "berth_event" WHERE ${HOST} AND $timeFilter`),
      statPanel('Worst agent lag', 'Age of the oldest point an agent has not yet delivered to InfluxDB.', 'ms',
        `SELECT max("v") FROM (SELECT last("lag_ms") AS "v" FROM "berth_agent" WHERE ${HOST} AND $timeFilter GROUP BY "host")`),
      {row: 'Hosts'},
      timeSeries('Containers running per host', '', 'none', [{query: `SELECT last("n_containers_running") FROM "docker" WHERE ${HOST} AND $timeFilter GROUP BY time($__interval), "host" fill(none)`, alias: '$tag_host'}]),
      timeSeries('CPU per host', 'Busy share of all CPUs (100 − idle).', 'percent', [{query: `SELECT 100 - mean("usage_idle") FROM "cpu" WHERE "cpu" = 'cpu-total' AND ${HOST} AND $timeFilter GROUP BY time($__interval), "host" fill(none)`, alias: '$tag_host'}]),
      timeSeries('Memory used per host', '', 'percent', [{query: `SELECT mean("used_percent") FROM "mem" WHERE ${HOST} AND $timeFilter GROUP BY time($__interval), "host" fill(none)`, alias: '$tag_host'}]),
      timeSeries('Disk I/O per host', 'Bytes read and written by all containers (blkio).', 'Bps', [
        {query: summedRate('docker_container_blkio', 'io_service_bytes_recursive_read', `"device" = 'total' AND ${HOST}`, 'host'), alias: '$tag_host read'},
        {query: summedRate('docker_container_blkio', 'io_service_bytes_recursive_write', `"device" = 'total' AND ${HOST}`, 'host'), alias: '$tag_host write'},
      ]),
      timeSeries('Network per host', 'Bytes received and sent by all containers.', 'Bps', [
        {query: summedRate('docker_container_net', 'rx_bytes', `"network" = 'total' AND ${HOST}`, 'host'), alias: '$tag_host rx'},
        {query: summedRate('docker_container_net', 'tx_bytes', `"network" = 'total' AND ${HOST}`, 'host'), alias: '$tag_host tx'},
      ]),
      timeSeries('Docker events', 'Events per interval, by action.', 'none', [{query: `SELECT count("actor_id") FROM "berth_event" WHERE ${HOST} AND ${EVENT_CONTAINER} AND $timeFilter GROUP BY time($__interval), "action" fill(none)`, alias: '$tag_action'}], {w: 12, h: 8}, true),
      {row: 'Trouble'},
      tablePanel('Recent die, oom and restart events', 'Newest first.',
        `SELECT "host", "actor" AS "container", "action", "image", "exit_code", "signal", "actor_id" FROM "berth_event" WHERE "type" = 'container' AND "action" =~ /^(die|oom|restart|kill)$/ AND ${HOST} AND ${EVENT_CONTAINER} AND $timeFilter ORDER BY time DESC LIMIT 50`,
        {w: 24, h: 9}),
      {row: 'Agents'},
      tablePanel('Agent health', 'Counters are totals since each agent started; last_error is empty while healthy.',
        `SELECT last("lag_ms") AS "lag_ms", last("points_written") AS "written", last("points_spooled") AS "spooled", last("points_dropped") AS "dropped", last("points_rejected") AS "rejected", last("write_errors") AS "write_errors", last("last_error") AS "last_error", last("cpu_percent") AS "cpu_percent", last("rss_bytes") AS "rss_bytes" FROM "berth_agent" WHERE ${HOST} AND $timeFilter GROUP BY "host", "version"`,
        {w: 24, h: 7}),
      timeSeries('Agent lag', 'Age of the oldest point not yet in InfluxDB; it grows while InfluxDB is unreachable and the agent spools.', 'ms',
        [{query: `SELECT max("lag_ms") FROM "berth_agent" WHERE ${HOST} AND $timeFilter GROUP BY time($__interval), "host" fill(none)`, alias: '$tag_host'}]),
      timeSeries('Agent spool', 'Bytes waiting on disk for InfluxDB.', 'bytes',
        [{query: `SELECT max("spool_bytes") FROM "berth_agent" WHERE ${HOST} AND $timeFilter GROUP BY time($__interval), "host" fill(none)`, alias: '$tag_host'}]),
    ],
  })
}
