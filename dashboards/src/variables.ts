import {tagVariable} from './panels.js'
import {HOST} from './filters.js'

export const hostVariable = () => tagVariable('host', 'Host', 'SHOW TAG VALUES FROM "docker" WITH KEY = "host"')

/** Containers of the selected hosts, running or not (docker_container_status covers every container). */
export const containerVariable = () => tagVariable('container', 'Container', `SHOW TAG VALUES FROM "docker_container_status" WITH KEY = "container_name" WHERE ${HOST}`)

export const actionVariable = () => tagVariable('action', 'Event', `SHOW TAG VALUES FROM "berth_event" WITH KEY = "action" WHERE ${HOST}`)
