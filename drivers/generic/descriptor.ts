import type {DriverDescriptor} from '../../src/core/drivers/kit.js'

/** What berth shows and checks of the generic driver before loading its code. */
export const descriptor: DriverDescriptor = {
  name: 'generic',
  description: 'An existing host reachable over SSH (Debian or Ubuntu)',
  options: [
    {
      name: 'generic-ip-address',
      type: 'string',
      env: 'GENERIC_IP_ADDRESS',
      identifiesOneMachine: true,
      description: 'IP address or hostname of the host (required)',
    },
    {
      name: 'generic-ssh-user',
      type: 'string',
      env: 'GENERIC_SSH_USER',
      default: 'root',
      description: 'SSH user (root, or one with passwordless sudo)',
    },
    {
      name: 'generic-ssh-key',
      type: 'string',
      env: 'GENERIC_SSH_KEY',
      description: 'private key file for SSH (default: ~/.ssh/id_ed25519 or ~/.ssh/id_rsa)',
    },
    {
      name: 'generic-ssh-port',
      type: 'integer',
      env: 'GENERIC_SSH_PORT',
      default: 22,
      description: 'SSH port',
    },
  ],
}
