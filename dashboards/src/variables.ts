import {BERTH_EVENT, CONTAINER_STATUS, DOCKER, HOST_TAG} from '../../agent/src/schema.js'
import {tagVariable} from './panels.js'
import {HOST} from './filters.js'

export const hostVariable = () =>
  tagVariable('host', 'Host', `SHOW TAG VALUES FROM "${DOCKER.name}" WITH KEY = "${HOST_TAG}"`)

/** Containers of the selected hosts, running or not (docker_container_status covers every container). */
export const containerVariable = () =>
  tagVariable(
    'container',
    'Container',
    `SHOW TAG VALUES FROM "${CONTAINER_STATUS.name}" WITH KEY = "${CONTAINER_STATUS.tags.container_name}" WHERE ${HOST}`,
  )

export const actionVariable = () =>
  tagVariable(
    'action',
    'Event',
    `SHOW TAG VALUES FROM "${BERTH_EVENT.name}" WITH KEY = "${BERTH_EVENT.tags.action}" WHERE ${HOST}`,
  )
