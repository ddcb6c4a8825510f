import type {DriverDescriptor} from '../../src/core/drivers/kit.js'

/** Bump when the recipe in host-image.ts changes, so machines get a freshly built image. */
const HOST_IMAGE_RECIPE = 2
export const DEFAULT_HOST_IMAGE = `berth/host:bookworm-${HOST_IMAGE_RECIPE}`
export const DEFAULT_LOCAL_ENGINE = 'unix:///var/run/docker.sock'

/** What berth shows and checks of the container driver before loading its code. */
export const descriptor: DriverDescriptor = {
  name: 'container',
  description: 'A local system container (systemd, sshd, its own engine) on a Docker engine',
  options: [
    {
      name: 'container-engine',
      type: 'string',
      env: 'BERTH_CONTAINER_ENGINE',
      default: DEFAULT_LOCAL_ENGINE,
      description: 'the Docker engine that runs the machine containers',
    },
    {
      name: 'container-image',
      type: 'string',
      env: 'BERTH_CONTAINER_IMAGE',
      default: DEFAULT_HOST_IMAGE,
      description: 'host image (systemd + sshd); the default is built with debootstrap when absent',
    },
    {
      name: 'container-network',
      type: 'string',
      env: 'BERTH_CONTAINER_NETWORK',
      default: 'bridge',
      description: 'Docker network the machine joins',
    },
  ],
}
