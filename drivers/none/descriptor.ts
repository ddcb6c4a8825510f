import type {DriverDescriptor} from '../../src/core/drivers/kit.js'

/** docker-machine's `none` driver (drivers/none/driver.go): an engine that already runs, registered by its URL. */
export const descriptor: DriverDescriptor = {
  name: 'none',
  description: 'An existing Docker engine, registered by its URL: no SSH, no provisioning',
  options: [
    {
      name: 'url',
      type: 'string',
      description: 'URL of host when no driver is selected', // drivers/none/driver.go: GetCreateFlags
      identifiesOneMachine: true,
    },
  ],
}
