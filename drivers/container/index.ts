import {readFile} from 'node:fs/promises'
import Docker from 'dockerode'
import {baseState, BerthError, demuxedText, ensureSshKey, ExitCode, isNotFound, isolatedDockerOptions, oneLine, tarArchive} from '../../src/core/drivers/kit.js'
import type {Driver, DriverContext, DriverPlugin, MachineState, OptionValues, SshAddress} from '../../src/core/drivers/kit.js'
import {DEFAULT_HOST_IMAGE, ensureHostImage} from './host-image.js'
import {DEFAULT_LOCAL_ENGINE, descriptor} from './descriptor.js'
import type {ContainerState} from './state.js'



/** A Docker client for the local engine that hosts the machines (unix socket or plain tcp). */
export function localEngine(url: string): Docker {
  if (url.startsWith('unix://')) return new Docker(isolatedDockerOptions({socketPath: url.slice('unix://'.length)}))
  const match = /^tcp:\/\/([^:/]+):(\d+)\/?$/.exec(url)
  if (match) return new Docker(isolatedDockerOptions({host: match[1], port: Number(match[2])}))
  throw new BerthError(`--container-engine ${JSON.stringify(url)}: expected unix:///path or tcp://host:port`, ExitCode.usage)
}

export interface SystemContainerSpec {
  name: string
  hostname: string
  image: string
  labels: Record<string, string>
  /** Volume for the nested engine's /var/lib/docker. */
  volume: string
  network: string
}

/**
 * How a system container runs here (systemd as PID 1, a nested dockerd). `--privileged` is not
 * used: it fails where the engine's bounding set lacks CAP_SYS_RESOURCE, and the narrower set
 * below is all systemd and a nested dockerd need. Also used by the EC2 simulator's instances.
 */
export function systemContainerOptions(spec: SystemContainerSpec): Docker.ContainerCreateOptions {
  return {
    name: spec.name,
    Hostname: spec.hostname,
    Image: spec.image,
    Labels: spec.labels,
    StopSignal: 'SIGRTMIN+3', // systemd's signal for a clean halt
    HostConfig: {
      CapAdd: ['ALL'],
      CapDrop: ['SYS_RESOURCE'],
      SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'],
      // The API form of `--security-opt systempaths=unconfined`: systemd needs /proc and /sys writable.
      MaskedPaths: [],
      ReadonlyPaths: [],
      CgroupnsMode: 'host',
      Binds: ['/sys/fs/cgroup:/sys/fs/cgroup:rw'],
      Tmpfs: {'/run': 'rw,exec', '/run/lock': 'rw'},
      Mounts: [{Type: 'volume', Source: spec.volume, Target: '/var/lib/docker'}],
      NetworkMode: spec.network,
    },
  } as Docker.ContainerCreateOptions
}

/** A machine is a system container: systemd as PID 1 with sshd, its own engine data on a volume. */
class ContainerDriver implements Driver {
  private readonly docker: Docker

  constructor(
    readonly state: ContainerState,
    private readonly context: DriverContext,
  ) {
    this.docker = localEngine(state.Engine)
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
      await this.docker.ping()
    } catch (err) {
      throw new BerthError(`the local Docker engine at ${this.state.Engine} is not reachable: ${oneLine(err)}`, ExitCode.preCreateCheck,
        'start dockerd, or point --container-engine / BERTH_CONTAINER_ENGINE at one')
    }
    const existing = await this.inspect()
    if (existing && !this.isOurs(existing)) {
      throw new BerthError(`a container named ${this.containerName} already exists on ${this.state.Engine}`, ExitCode.preCreateCheck,
        'remove it or choose another machine name')
    }
  }

  private isOurs(info: Docker.ContainerInspectInfo): boolean {
    const labels = info.Config.Labels ?? {}
    return labels['io.berth.machine'] === this.context.machineName && labels['io.berth.store'] === this.context.storePath
  }

  private async inspect(): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.docker.getContainer(this.containerName).inspect()
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  /** Resumable: a container left by an interrupted create is reused. */
  async create(): Promise<void> {
    const keyPath = await ensureSshKey(this.state.SSHKeyPath, `berth@${this.context.machineName}`)
    await ensureHostImage(this.docker, this.state.Engine, this.state.Image, this.context.log)
    let info = await this.inspect()
    if (info && !this.isOurs(info)) throw new BerthError(`a container named ${this.containerName} already exists and is not this machine's`)
    if (!info) {
      this.context.log(`Creating system container ${this.containerName}`)
      await this.docker.createVolume({Name: this.volumeName, Labels: this.labels()})
      const container = await this.docker.createContainer(systemContainerOptions({
        name: this.containerName,
        hostname: this.context.machineName,
        image: this.state.Image,
        labels: this.labels(),
        volume: this.volumeName,
        network: this.state.Network,
      }))
      const publicKey = await readFile(`${keyPath}.pub`, 'utf8')
      await container.putArchive(await tarArchive([
        {name: '.ssh', type: 'directory', mode: 0o700},
        {name: '.ssh/authorized_keys', content: publicKey, mode: 0o600},
      ]), {path: '/root'})
      info = await container.inspect()
    }
    if (!info.State.Running) await this.docker.getContainer(this.containerName).start()
    this.state.IPAddress = await this.getIP()
  }

  async start(): Promise<void> {
    const info = await this.requireContainer()
    if (!info.State.Running) await this.docker.getContainer(this.containerName).start()
    this.state.IPAddress = await this.getIP()
  }

  async stop(): Promise<void> {
    const info = await this.requireContainer()
    if (info.State.Running) await this.docker.getContainer(this.containerName).stop({t: 60})
  }

  async restart(): Promise<void> {
    await this.stop()
    await this.start()
  }

  async kill(): Promise<void> {
    const info = await this.requireContainer()
    if (info.State.Running) await this.docker.getContainer(this.containerName).kill()
  }

  async remove(): Promise<void> {
    try {
      await this.docker.getContainer(this.containerName).remove({force: true, v: true})
    } catch (err) {
      if (!isNotFound(err)) throw err
    }
    try {
      await this.docker.getVolume(this.volumeName).remove()
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
    const logs = await this.docker.getContainer(this.containerName).logs({stdout: true, stderr: true, tail: 30}).catch(() => Buffer.alloc(0))
    // eslint-disable-next-line no-control-regex -- systemd colours its console lines
    const lastFailure = demuxedText(logs).split('\n').map((line) => line.replace(/\x1b\[[0-9;]*m/g, '').trim())
      .filter((line) => /fail|error|too many/i.test(line)).pop()
    const exited = info.State.Status === 'exited' ? `exited with code ${info.State.ExitCode}` : info.State.Status
    return new BerthError(`container ${this.containerName} of machine ${this.context.machineName} is not running (${exited}${lastFailure ? `: ${lastFailure}` : ''})`,
      ExitCode.failure, /Too many open files/.test(lastFailure ?? '') ? 'raise the host\'s inotify limit: sysctl -w fs.inotify.max_user_instances=8192' : undefined)
  }

  private async requireContainer(): Promise<Docker.ContainerInspectInfo> {
    const info = await this.inspect()
    if (!info) throw new BerthError(`container ${this.containerName} of machine ${this.context.machineName} no longer exists`)
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
    if (!ip) throw new BerthError(`container ${this.containerName} has no IP address on network ${this.state.Network}`)
    return ip
  }

  async getSSHAddress(): Promise<SshAddress> {
    return {host: this.state.IPAddress || (await this.getIP()), port: this.state.SSHPort, user: this.state.SSHUser, keyPath: this.state.SSHKeyPath}
  }
}

export const containerDriver: DriverPlugin<ContainerState> = {
  ...descriptor,

  async configure(values: OptionValues, context: DriverContext): Promise<ContainerState> {
    const engine = String(values['container-engine'] ?? DEFAULT_LOCAL_ENGINE)
    localEngine(engine) // validates the URL
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
