/**
 * The InfluxQL query of Grafana's built-in InfluxDB data source, which the foundation SDK has no
 * builder for: a raw query string (rawQuery) and the format Grafana should read the answer as.
 */
import type {Builder, Dataquery} from '@grafana/grafana-foundation-sdk/cog'
import type {DataSourceRef} from '@grafana/grafana-foundation-sdk/common'

export type InfluxResultFormat = 'time_series' | 'table' | 'logs'

export interface InfluxQLQuery extends Dataquery {
  refId: string
  datasource?: DataSourceRef
  query: string
  rawQuery: true
  resultFormat: InfluxResultFormat
  /** Series name pattern, e.g. `$tag_container_name`. */
  alias?: string
}

export class InfluxQLQueryBuilder implements Builder<Dataquery> {
  private readonly internal: InfluxQLQuery

  constructor(query: string) {
    this.internal = {refId: 'A', query, rawQuery: true, resultFormat: 'time_series', _implementsDataqueryVariant() {}}
  }

  refId(refId: string): this {
    this.internal.refId = refId
    return this
  }

  datasource(datasource: DataSourceRef): this {
    this.internal.datasource = datasource
    return this
  }

  format(resultFormat: InfluxResultFormat): this {
    this.internal.resultFormat = resultFormat
    return this
  }

  alias(alias: string): this {
    this.internal.alias = alias
    return this
  }

  build(): InfluxQLQuery {
    return this.internal
  }
}
