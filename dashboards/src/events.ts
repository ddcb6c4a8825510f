import type {Dashboard} from '@grafana/grafana-foundation-sdk/dashboard'
import {CONTAINER, EVENT_CONTAINER, HOST} from './filters.js'
import {berthDashboard, logsPanel, tablePanel, timeSeries} from './panels.js'
import {actionVariable, containerVariable, hostVariable} from './variables.js'

export function eventsDashboard(): Dashboard {
  const events = `${HOST} AND ${EVENT_CONTAINER} AND "action" =~ /^$action$/`
  const logs = `${HOST} AND ${CONTAINER}`
  return berthDashboard({
    uid: 'berth-events',
    title: 'berth / Events and logs',
    description: 'Docker events from every engine and the containers\' log lines, side by side.',
    variables: [hostVariable(), containerVariable(), actionVariable()],
    items: [
      timeSeries('Events by action', 'Events per interval.', 'none', [{query: `SELECT count("actor_id") FROM "berth_event" WHERE ${events} AND $timeFilter GROUP BY time($__interval), "action" fill(none)`, alias: '$tag_action'}], {w: 12, h: 8}, true),
      timeSeries('Events by type', 'Events per interval.', 'none', [{query: `SELECT count("actor_id") FROM "berth_event" WHERE ${events} AND $timeFilter GROUP BY time($__interval), "type" fill(none)`, alias: '$tag_type'}], {w: 12, h: 8}, true),
      tablePanel('Events', 'Newest first; resync marks points made from the container list after a gap in the event stream.',
        `SELECT "host", "type", "action", "actor", "image", "detail", "exit_code", "signal", "resync", "actor_id" FROM "berth_event" WHERE ${events} AND $timeFilter ORDER BY time DESC LIMIT 200`,
        {w: 24, h: 9}),
      {row: 'Logs'},
      timeSeries('Log lines by container', 'Lines per interval.', 'none', [{query: `SELECT count("message") FROM "docker_log" WHERE ${logs} AND $timeFilter GROUP BY time($__interval), "container_name" fill(none)`, alias: '$tag_container_name'}], {w: 12, h: 8}, true),
      timeSeries('stderr lines by container', 'Lines per interval written to stderr.', 'none', [{query: `SELECT count("message") FROM "docker_log" WHERE "stream" = 'stderr' AND ${logs} AND $timeFilter GROUP BY time($__interval), "container_name" fill(none)`, alias: '$tag_container_name'}], {w: 12, h: 8}, true),
      logsPanel('Logs', 'Newest first.', `SELECT "message", "stream", "container_name", "host" FROM "docker_log" WHERE ${logs} AND $timeFilter ORDER BY time DESC LIMIT 1000`, {w: 24, h: 14}),
    ],
  })
}
