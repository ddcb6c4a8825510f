/**
 * The few shapes every berth dashboard is made of, on top of the foundation SDK: InfluxQL targets
 * bound to the provisioned data source, tag-value variables, and panels sized on Grafana's
 * 24-column grid.
 */
import type {Builder} from '@grafana/grafana-foundation-sdk/cog'
import {
  BigValueGraphMode,
  GraphDrawStyle,
  LegendDisplayMode,
  LegendPlacement,
  ReduceDataOptionsBuilder,
  VizLegendOptionsBuilder,
  type DataSourceRef,
} from '@grafana/grafana-foundation-sdk/common'
import {
  DashboardBuilder,
  DashboardCursorSync,
  DashboardLinkBuilder,
  DashboardLinkType,
  QueryVariableBuilder,
  RowBuilder,
  VariableRefresh,
  VariableSort,
  type Dashboard,
  type Panel,
  type RowPanel,
} from '@grafana/grafana-foundation-sdk/dashboard'
import * as logs from '@grafana/grafana-foundation-sdk/logs'
import * as stat from '@grafana/grafana-foundation-sdk/stat'
import * as table from '@grafana/grafana-foundation-sdk/table'
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries'
import {InfluxQLQueryBuilder, type InfluxResultFormat} from './influxql.js'

/** The uid the provisioning file and `berth dashboards install` give the InfluxDB data source. */
export const DATASOURCE_UID = 'berth-influxdb'
export const DATASOURCE: Required<DataSourceRef> = {type: 'influxdb', uid: DATASOURCE_UID}

/** Every berth dashboard carries this tag; the dashboards link to each other through it. */
export const DASHBOARD_TAG = 'berth'

export interface Target {
  query: string
  /** Series name, e.g. `$tag_host rx`. */
  alias?: string
}

interface Size {
  w: number
  h: number
}

function targets(list: Target[], format: InfluxResultFormat): InfluxQLQueryBuilder[] {
  return list.map((target, index) => {
    const query = new InfluxQLQueryBuilder(target.query)
      .refId(String.fromCharCode(65 + index))
      .datasource(DATASOURCE)
      .format(format)
    return target.alias ? query.alias(target.alias) : query
  })
}

export function timeSeries(
  title: string,
  description: string,
  unit: string,
  list: Target[],
  size: Size = {w: 12, h: 8},
  bars = false,
): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .targets(targets(list, 'time_series'))
    .unit(unit)
    .min(0)
    .span(size.w)
    .height(size.h)
    .drawStyle(bars ? GraphDrawStyle.Bars : GraphDrawStyle.Line)
    .fillOpacity(bars ? 80 : 10)
    .legend(
      new VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(LegendDisplayMode.List)
        .placement(LegendPlacement.Bottom)
        .calcs([]),
    )
}

/** One number: the last non-null value of the query's single series. */
export function statPanel(
  title: string,
  description: string,
  unit: string,
  query: string,
  size: Size = {w: 4, h: 4},
): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .targets(targets([{query}], 'time_series'))
    .unit(unit)
    .span(size.w)
    .height(size.h)
    .graphMode(BigValueGraphMode.None)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
}

export function tablePanel(
  title: string,
  description: string,
  query: string,
  size: Size = {w: 24, h: 8},
): table.PanelBuilder {
  return new table.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .targets(targets([{query}], 'table'))
    .span(size.w)
    .height(size.h)
}

export function logsPanel(
  title: string,
  description: string,
  query: string,
  size: Size = {w: 24, h: 12},
): logs.PanelBuilder {
  return new logs.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .targets(targets([{query}], 'logs'))
    .span(size.w)
    .height(size.h)
    .showTime(true)
    .showLabels(true)
    .wrapLogMessage(true)
    .enableLogDetails(true)
}

/**
 * A multi-value variable over a tag's values, "All" by default. Grafana expands a multi-value
 * variable inside a regex as `(a|b)` with each value regex-escaped, so queries use `=~ /^$name$/`.
 */
export function tagVariable(name: string, label: string, query: string): QueryVariableBuilder {
  return new QueryVariableBuilder(name)
    .label(label)
    .datasource(DATASOURCE)
    .query(query)
    .definition(query)
    .multi(true)
    .includeAll(true)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .current({selected: true, text: ['All'], value: ['$__all']})
}

export type Item = Builder<Panel> | {row: string}

export interface DashboardSpec {
  uid: string
  title: string
  description: string
  variables: QueryVariableBuilder[]
  items: Item[]
}

/** A berth dashboard: common settings, links to its siblings, and panel ids numbered in order. */
export function berthDashboard(spec: DashboardSpec): Dashboard {
  const builder = new DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags([DASHBOARD_TAG])
    .time({from: 'now-1h', to: 'now'})
    .refresh('30s')
    .timezone('browser')
    .tooltip(DashboardCursorSync.Crosshair)
    .link(
      new DashboardLinkBuilder('berth')
        .type(DashboardLinkType.Dashboards)
        .tags([DASHBOARD_TAG])
        .asDropdown(true)
        .includeVars(true)
        .keepTime(true),
    )
    .variables(spec.variables)
  for (const item of spec.items) {
    if ('row' in item) builder.withRow(new RowBuilder(item.row).collapsed(false))
    else builder.withPanel(item)
  }
  const dashboard = builder.build()
  let id = 0
  for (const panel of dashboard.panels ?? []) {
    panel.id = ++id
    for (const nested of (panel as RowPanel).panels ?? []) nested.id = ++id
  }
  return dashboard
}
