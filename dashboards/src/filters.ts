/** WHERE-clause pieces shared by the dashboards; variables are multi-value, so they match as regexes. */
import {
  BERTH_EVENT,
  CONTAINER_BLKIO,
  CONTAINER_NET,
  CONTAINER_STATUS,
  DOCKER,
  HOST_TAG,
  TOTAL,
  type Measurement,
} from '../../agent/src/schema.js'

/** A field name of measurement `M`. */
export type FieldOf<M extends Measurement> = keyof M['fields'] & string

/** A measurement's tag and field names together, for the columns of a raw query. */
export const columns = <M extends Measurement>(measurement: M): M['tags'] & M['fields'] => ({
  ...measurement.tags,
  ...measurement.fields,
})

export const HOST = `"${HOST_TAG}" =~ /^$host$/`
export const CONTAINER = `"${CONTAINER_STATUS.tags.container_name}" =~ /^$container$/`
/** berth_event names a container by its `actor` tag; other events (image, network, ...) pass the container filter. */
export const EVENT_CONTAINER = `("${BERTH_EVENT.tags.type}" <> 'container' OR "${BERTH_EVENT.tags.actor}" =~ /^$container$/)`
/** The points that sum every interface, or every device. */
export const NET_TOTAL = `"${CONTAINER_NET.tags.network}" = '${TOTAL}'`
export const BLKIO_TOTAL = `"${CONTAINER_BLKIO.tags.device}" = '${TOTAL}'`

/** Per-second rate of a counter, per container, summed per `by` tag: containers that come and go do not break the sum. */
export function summedRate<M extends Measurement>(
  measurement: M,
  field: FieldOf<M>,
  where: string,
  by: string,
): string {
  const perContainer = `SELECT non_negative_derivative(max("${field}"), 1s) AS "rate" FROM "${measurement.name}" WHERE ${where} AND $timeFilter GROUP BY time($__interval), "${by}", "${CONTAINER_STATUS.tags.container_name}"`
  return `SELECT sum("rate") FROM (${perContainer}) WHERE $timeFilter GROUP BY time($__interval), "${by}" fill(none)`
}

/** Per-second rate of a counter for each container. */
export function containerRate<M extends Measurement>(
  measurement: M,
  field: FieldOf<M>,
  where: string,
): string {
  return `SELECT non_negative_derivative(max("${field}"), 1s) FROM "${measurement.name}" WHERE ${where} AND $timeFilter GROUP BY time($__interval), "${CONTAINER_STATUS.tags.container_name}" fill(none)`
}

/** The sum over hosts of each host's last value of a `docker` field in the range. */
export function fleetTotal(field: FieldOf<typeof DOCKER>): string {
  return `SELECT sum("v") FROM (SELECT last("${field}") AS "v" FROM "${DOCKER.name}" WHERE ${HOST} AND $timeFilter GROUP BY "${HOST_TAG}")`
}
