import type {Dashboard} from '@grafana/grafana-foundation-sdk/dashboard'
import {BERTH_EVENT, DOCKER_LOG, HOST_TAG} from '../../agent/src/schema.js'
import {CONTAINER, columns, EVENT_CONTAINER, HOST} from './filters.js'
import {berthDashboard, logsPanel, tablePanel, timeSeries} from './panels.js'
import {actionVariable, containerVariable, hostVariable} from './variables.js'

export function eventsDashboard(): Dashboard {
  const event = columns(BERTH_EVENT)
  const log = columns(DOCKER_LOG)
  const events = `${HOST} AND ${EVENT_CONTAINER} AND "${event.action}" =~ /^$action$/`
  const logs = `${HOST} AND ${CONTAINER}`
  const eventCount = `SELECT count("${event.actor_id}") FROM "${BERTH_EVENT.name}" WHERE ${events} AND $timeFilter`
  const lineCount = `SELECT count("${log.message}") FROM "${DOCKER_LOG.name}"`
  return berthDashboard({
    uid: 'berth-events',
    title: 'berth / Events and logs',
    description: "Docker events from every engine and the containers' log lines, side by side.",
    variables: [hostVariable(), containerVariable(), actionVariable()],
    items: [
      timeSeries(
        'Events by action',
        'Events per interval.',
        'none',
        [
          {
            query: `${eventCount} GROUP BY time($__interval), "${event.action}" fill(none)`,
            alias: '$tag_action',
          },
        ],
        {w: 12, h: 8},
        true,
      ),
      timeSeries(
        'Events by type',
        'Events per interval.',
        'none',
        [{query: `${eventCount} GROUP BY time($__interval), "${event.type}" fill(none)`, alias: '$tag_type'}],
        {w: 12, h: 8},
        true,
      ),
      tablePanel(
        'Events',
        'Newest first; resync marks points made from the container list after a gap in the event stream.',
        `SELECT "${HOST_TAG}", "${event.type}", "${event.action}", "${event.actor}", "${event.image}", "${event.detail}", "${event.exit_code}", "${event.signal}", "${event.resync}", "${event.actor_id}" FROM "${BERTH_EVENT.name}" WHERE ${events} AND $timeFilter ORDER BY time DESC LIMIT 200`,
        {w: 24, h: 9},
      ),
      {row: 'Logs'},
      timeSeries(
        'Log lines by container',
        'Lines per interval.',
        'none',
        [
          {
            query: `${lineCount} WHERE ${logs} AND $timeFilter GROUP BY time($__interval), "${log.container_name}" fill(none)`,
            alias: '$tag_container_name',
          },
        ],
        {w: 12, h: 8},
        true,
      ),
      timeSeries(
        'stderr lines by container',
        'Lines per interval written to stderr.',
        'none',
        [
          {
            query: `${lineCount} WHERE "${log.stream}" = 'stderr' AND ${logs} AND $timeFilter GROUP BY time($__interval), "${log.container_name}" fill(none)`,
            alias: '$tag_container_name',
          },
        ],
        {w: 12, h: 8},
        true,
      ),
      logsPanel(
        'Logs',
        'Newest first.',
        `SELECT "${log.message}", "${log.stream}", "${log.container_name}", "${HOST_TAG}" FROM "${DOCKER_LOG.name}" WHERE ${logs} AND $timeFilter ORDER BY time DESC LIMIT 1000`,
        {w: 24, h: 14},
      ),
    ],
  })
}
