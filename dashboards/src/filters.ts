/** WHERE-clause pieces shared by the dashboards; variables are multi-value, so they match as regexes. */
export const HOST = `"host" =~ /^$host$/`
export const CONTAINER = `"container_name" =~ /^$container$/`
/** berth_event names a container by its `actor` tag; other events (image, network, ...) pass the container filter. */
export const EVENT_CONTAINER = `("type" <> 'container' OR "actor" =~ /^$container$/)`

/** Per-second rate of a counter, per container, summed per `by` tag: containers that come and go do not break the sum. */
export function summedRate(measurement: string, field: string, where: string, by: string): string {
  const perContainer = `SELECT non_negative_derivative(max("${field}"), 1s) AS "rate" FROM "${measurement}" WHERE ${where} AND $timeFilter GROUP BY time($__interval), "${by}", "container_name"`
  return `SELECT sum("rate") FROM (${perContainer}) WHERE $timeFilter GROUP BY time($__interval), "${by}" fill(none)`
}

/** Per-second rate of a counter for each container. */
export function containerRate(measurement: string, field: string, where: string): string {
  return `SELECT non_negative_derivative(max("${field}"), 1s) FROM "${measurement}" WHERE ${where} AND $timeFilter GROUP BY time($__interval), "container_name" fill(none)`
}

/** The sum over hosts of each host's last value of a `docker` field in the range. */
export function fleetTotal(field: string): string {
  return `SELECT sum("v") FROM (SELECT last("${field}") AS "v" FROM "docker" WHERE ${HOST} AND $timeFilter GROUP BY "host")`
}
