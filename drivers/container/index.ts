import {readFile} from 'node:fs/promises'
import type Docker from 'dockerode'
import {
  baseState,
  BerthError,
  ensureSshKey,
  ExitCode,
  isNotFound,
  oneLine,
  tarArchive,
} from '../../src/core/drivers/kit.js'
import type {
  Driver,
  DriverContext,
  DriverPlugin,
  MachineState,
  OptionValues,
  SshAddress,
} from '../../src/core/drivers/kit.js'
import {DEFAULT_HOST_IMAGE, ensureHostImage} from './host-image.js'
import {DEFAULT_LOCAL_ENGINE, descriptor} from './descriptor.js'
import type {ContainerState} from './state.js'
import {getContainerJson} from './local-api.js'

/** dockerode (and its gRPC and protobuf modules) loads only for work that changes something. */
async function dockerClient(engine: string): Promise<Docker> {
  return (await import('./engine.js')).localEngine(engine)
}

/** A machine is a system container: systemd as PID 1 with sshd, its own engine data on a volume. */
class ContainerDriver implements Driver {
  private client?: Promise<Docker>

  constructor(
    readonly state: ContainerState,
    private readonly context: DriverContext,
  ) {}

  private docker(): Promise<Docker> {
    this.client ??= dockerClient(this.state.Engine)
    return this.client
  }

  private async container(): Promise<Docker.Container> {
    return (await this.docker()).getContainer(this.containerName)
  }

  private get containerName(): string {
    return this.state.ContainerName
  }

  private get volumeName(): string {
    return `${this.containerName}-docker`
  }

  private labels(): Record<string, string> {
    return {'io.berth.machine': this.context.machineName, 'io.berth.store': this.context.storePath}
  }

  async preCreateCheck(): Promise<void> {
    try {
      await (await this.docker()).ping()
    } catch (err) {
      throw new BerthError(
        `the local Docker engine at ${this.state.Engine} is not reachable: ${oneLine(err)}`,
        ExitCode.preCreateCheck,
        'start dockerd, or point --container-engine / BERTH_CONTAINER_ENGINE at one',
      )
    }
    const existing = await this.inspect()
    if (existing && !this.isOurs(existing)) {
      throw new BerthError(
        `a container named ${this.containerName} already exists on ${this.state.Engine}`,
        ExitCode.preCreateCheck,
        'remove it or choose another machine name',
      )
    }
  }

  private isOurs(info: Docker.ContainerInspectInfo): boolean {
    const labels = info.Config.Labels ?? {}
    return (
      labels['io.berth.machine'] === this.context.machineName &&
      labels['io.berth.store'] === this.context.storePath
    )
  }

  private async inspect(): Promise<Docker.ContainerInspectInfo | undefined> {
    return getContainerJson(this.state.Engine, this.containerName)
  }

  /** Resumable: a container left by an interrupted create is reused. */
  async create(): Promise<void> {
    const keyPath = await ensureSshKey(this.state.SSHKeyPath, `berth@${this.context.machineName}`)
    await ensureHostImage(await this.docker(), this.state.Engine, this.state.Image, this.context.log)
    let info = await this.inspect()
    if (info && !this.isOurs(info))
      throw new BerthError(`a container named ${this.containerName} already exists and is not this machine's`)
    if (!info) {
      this.context.log(`Creating system container ${this.containerName}`)
      const docker = await this.docker()
      const {systemContainerOptions} = await import('./engine.js')
      await docker.createVolume({Name: this.volumeName, Labels: this.labels()})
      const container = await docker.createContainer(
        systemContainerOptions({
          name: this.containerName,
          hostname: this.context.machineName,
          image: this.state.Image,
          labels: this.labels(),
          volume: this.volumeName,
          network: this.state.Network,
        }),
      )
      const publicKey = await readFile(`${keyPath}.pub`, 'utf8')
      await container.putArchive(
        await tarArchive([
          {name: '.ssh', type: 'directory', mode: 0o700},
          {name: '.ssh/authorized_keys', content: publicKey, mode: 0o600},
        ]),
        {path: '/root'},
      )
      info = await container.inspect()
    }
    if (!info.State.Running) await (await this.container()).start()
    this.state.IPAddress = await this.getIP()
  }

  async start(): Promise<void> {
    const info = await this.requireContainer()
    if (!info.State.Running) await (await this.container()).start()
    this.state.IPAddress = await this.getIP()
  }

  async stop(): Promise<void> {
    const info = await this.requireContainer()
    if (info.State.Running) await (await this.container()).stop({t: 60})
  }

  async restart(): Promise<void> {
    await this.stop()
    await this.start()
  }

  async kill(): Promise<void> {
    const info = await this.requireContainer()
    if (info.State.Running) await (await this.container()).kill()
  }

  async remove(): Promise<void> {
    try {
      await (await this.container()).remove({force: true, v: true})
    } catch (err) {
      if (!isNotFound(err)) throw err
    }
    try {
      await (await this.docker()).getVolume(this.volumeName).remove()
    } catch (err) {
      if (!isNotFound(err)) throw err
    }
  }

  /**
   * Why the container is down, from systemd's own last words: a host out of inotify instances
   * (fs.inotify.max_user_instances, 128 by default, about one per system container) makes it
   * exit at once with "Too many open files".
   */
  private async notRunning(info: Docker.ContainerInspectInfo): Promise<BerthError> {
    const {demuxedText} = await import('../../src/core/drivers/kit-docker.js')
    const logs = await (
      await this.container()
    )
      .logs({stdout: true, stderr: true, tail: 30})
      .catch(() => Buffer.alloc(0))
    const lastFailure = demuxedText(logs)
      .split('\n')
      // eslint-disable-next-line no-control-regex -- systemd colours its console lines
      .map((line) => line.replace(/\x1b\[[0-9;]*m/g, '').trim())
      .filter((line) => /fail|error|too many/i.test(line))
      .pop()
    const exited =
      info.State.Status === 'exited' ? `exited with code ${info.State.ExitCode}` : info.State.Status
    return new BerthError(
      `container ${this.containerName} of machine ${this.context.machineName} is not running (${exited}${lastFailure ? `: ${lastFailure}` : ''})`,
      ExitCode.failure,
      /Too many open files/.test(lastFailure ?? '')
        ? "raise the host's inotify limit: sysctl -w fs.inotify.max_user_instances=8192"
        : undefined,
    )
  }

  private async requireContainer(): Promise<Docker.ContainerInspectInfo> {
    const info = await this.inspect()
    if (!info)
      throw new BerthError(
        `container ${this.containerName} of machine ${this.context.machineName} no longer exists`,
      )
    return info
  }

  async getState(): Promise<MachineState> {
    const info = await this.inspect()
    if (!info) return 'NotFound'
    const status = info.State.Status
    if (status === 'running') return 'Running'
    if (status === 'paused') return 'Paused'
    if (status === 'restarting') return 'Starting'
    if (status === 'removing') return 'Stopping'
    if (status === 'dead') return 'Error'
    return 'Stopped'
  }

  async getIP(): Promise<string> {
    const info = await this.requireContainer()
    if (!info.State.Running) throw await this.notRunning(info)
    const networks = info.NetworkSettings.Networks ?? {}
    const network = networks[this.state.Network] ?? Object.values(networks)[0]
    const ip = network?.IPAddress || network?.GlobalIPv6Address
    if (!ip)
      throw new BerthError(
        `container ${this.containerName} has no IP address on network ${this.state.Network}`,
      )
    return ip
  }

  async getSSHAddress(): Promise<SshAddress> {
    return {
      host: this.state.IPAddress || (await this.getIP()),
      port: this.state.SSHPort,
      user: this.state.SSHUser,
      keyPath: this.state.SSHKeyPath,
    }
  }
}

export const containerDriver: DriverPlugin<ContainerState> = {
  ...descriptor,

  async configure(values: OptionValues, context: DriverContext): Promise<ContainerState> {
    const engine = String(values['container-engine'] ?? DEFAULT_LOCAL_ENGINE)
    await dockerClient(engine) // validates the URL
    return baseState(context, {
      Engine: engine,
      Image: String(values['container-image'] ?? DEFAULT_HOST_IMAGE),
      Network: String(values['container-network'] ?? 'bridge'),
      ContainerName: `berth-${context.machineName}`,
    })
  },

  load(state: ContainerState, context: DriverContext): Driver {
    return new ContainerDriver(state, context)
  },
}
