/** berth's Grafana dashboards and provisioning, as code. `berth dashboards export` writes them out. */
import type {Dashboard} from '@grafana/grafana-foundation-sdk/dashboard'
import {containerDashboard} from './container.js'
import {eventsDashboard} from './events.js'
import {fleetDashboard} from './fleet.js'
import {hostDashboard} from './host.js'

export {DASHBOARD_TAG, DATASOURCE, DATASOURCE_UID} from './panels.js'
export type {InfluxQLQuery} from './influxql.js'
export {influxdb3Unsupported} from './influxql.js'
export * from './provisioning.js'
export * from './alerts.js'

/** Every dashboard, in the order Grafana's list shows them. */
export function allDashboards(): Dashboard[] {
  return [fleetDashboard(), hostDashboard(), containerDashboard(), eventsDashboard()]
}
