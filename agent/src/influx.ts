/**
 * How to reach InfluxDB: the one shape the agent's writer, `agent install`, `monitor up`, the
 * dashboards' data source and their query harness all use. It holds no secret, so it may travel in
 * flags, the agent's environment and logs; the secrets go beside it as InfluxSecrets, read from
 * files. Like the metrics schema, it imports nothing, so the agent's bundle takes it as it is.
 */

export interface InfluxConnection {
  /** Base URL, http or https, without credentials. */
  url: string
  /** InfluxDB 1.x: `/write?db=&rp=` and InfluxQL's `/query?db=`. */
  database?: string
  retentionPolicy?: string
  /** 1.x user (Basic auth); its password is a secret. */
  username?: string
  /** The v2 write API (`/api/v2/write?org=&bucket=`): InfluxDB 2.x, 3.x, or 1.8+ with bucket "db/rp"; needs a token. */
  bucket?: string
  org?: string
  /** Grafana's data source: InfluxDB wants `Authorization: Token` (InfluxDB 3, 2.x's v1 API); the token is a secret. */
  tokenAuth?: boolean
}

/** What goes with a connection but never into argv, an environment, a record or a log. */
export interface InfluxSecrets {
  password?: string
  token?: string
  /** PEM of a CA to trust for an https URL, besides the system's (not secret, but it travels the same way). */
  ca?: string
}

/** Which write API a connection names: a bucket means the v2 API. */
export function influxApi(influx: InfluxConnection): 'v1' | 'v2' {
  return influx.bucket ? 'v2' : 'v1'
}
