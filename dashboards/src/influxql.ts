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
    this.internal = {
      refId: 'A',
      query,
      rawQuery: true,
      resultFormat: 'time_series',
      _implementsDataqueryVariant() {},
    }
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

/**
 * InfluxQL that InfluxDB 3 (Core and Enterprise) does not answer. berth's dashboards use none of
 * it, so they work on InfluxDB 1.x, 2.x (through its v1 API) and 3 alike.
 */
const INFLUXDB3_UNSUPPORTED: [RegExp, string][] = [
  [/\bSLIMIT\b/i, 'SLIMIT'],
  [/\bSOFFSET\b/i, 'SOFFSET'],
  [/\bSHOW\s+DATABASES\b/i, 'SHOW DATABASES'],
  [/\bSHOW\s+SERIES\b/i, 'SHOW SERIES'],
  [/\bCARDINALITY\b/i, 'cardinality queries'],
  [/\bINTEGRAL\s*\(/i, 'INTEGRAL'],
  [/\bSAMPLE\s*\(/i, 'SAMPLE'],
  [/\bHOLT_WINTERS(_WITH_FIT)?\s*\(/i, 'HOLT_WINTERS'],
  [
    /\b(DOUBLE_|TRIPLE_)?EXPONENTIAL_MOVING_AVERAGE\s*\(|\bMOVING_AVERAGE\s*\(|\bKAUFMANS_(EFFICIENCY_RATIO|ADAPTIVE_MOVING_AVERAGE)\s*\(|\bTRIPLE_EXPONENTIAL_DERIVATIVE\s*\(|\bRELATIVE_STRENGTH_INDEX\s*\(|\bCHANDE_MOMENTUM_OSCILLATOR\s*\(/i,
    'the moving-average family',
  ],
]

/** What of INFLUXDB3_UNSUPPORTED a query uses; names and strings in quotes do not count. */
export function influxdb3Unsupported(query: string): string[] {
  const bare = query.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\/(?:[^/\\\n]|\\.)+\//g, ' ')
  return INFLUXDB3_UNSUPPORTED.filter(([pattern]) => pattern.test(bare)).map(([, name]) => name)
}
