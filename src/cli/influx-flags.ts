import {Flags} from '@oclif/core'
import type {InfluxConnection} from '../../agent/src/influx.js'
import {DEFAULT_INFLUX, DEFAULT_MIN_INTERVAL} from '../../dashboards/src/index.js'
import {checkUrl} from '../core/http-url.js'

export const INFLUX_CREDENTIALS_HINT = 'give --influx-user and --influx-password-file instead'

/** Where Grafana finds the InfluxDB the agents write to (shared by `dashboards export` and `install`). */
export const influxFlags = {
  'influx-url': Flags.string({
    summary: "InfluxDB URL as Grafana's server reaches it.",
    default: DEFAULT_INFLUX.url,
  }),
  database: Flags.string({
    summary: 'InfluxDB database the agents write to.',
    default: DEFAULT_INFLUX.database,
  }),
  'influx-user': Flags.string({summary: 'InfluxDB user, when InfluxDB has authentication on.'}),
  'min-interval': Flags.string({
    summary: "Smallest $__interval: the agents' collection interval.",
    default: DEFAULT_MIN_INTERVAL,
  }),
}

/** The data source settings the flags give; `tokenAuth`: InfluxDB wants a token. */
export function datasourceSettings(
  flags: {'influx-url': string; database: string; 'influx-user'?: string; 'min-interval': string},
  tokenAuth = false,
): {influx: InfluxConnection; minInterval: string} {
  checkUrl(flags['influx-url'], '--influx-url', {credentialsHint: INFLUX_CREDENTIALS_HINT})
  return {
    influx: {url: flags['influx-url'], database: flags.database, username: flags['influx-user'], tokenAuth},
    minInterval: flags['min-interval'],
  }
}
