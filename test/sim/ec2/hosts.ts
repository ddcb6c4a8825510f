/**
 * The simulator's instances are real lab hosts: system containers from the container driver's
 * host image, booted the way that driver boots them, with a first-boot step that does what
 * cloud-init does on an EC2 image (default user with sudo, the key pair's key, user data).
 */
import Docker from 'dockerode'
import {tarArchive} from '../../../src/core/archive/tar.js'
import {localEngine, systemContainerOptions} from '../../../drivers/container/engine.js'
import {DEFAULT_HOST_IMAGE, ensureHostImage} from '../../../drivers/container/host-image.js'

export interface LaunchSpec {
  instanceId: string
  user: string
  publicKey: string
  userData?: Buffer
  /** The "SSH never answers" fault: sshd is masked, so nothing listens on port 22. */
  sshDead?: boolean
}

/** What cloud-init's users and scripts modules do on first boot; runs as root in the instance. */
const FIRST_BOOT = `set -e
u="$1"
id -u "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"
install -d -m 0700 -o "$u" -g "$u" "/home/$u/.ssh"
install -m 0600 -o "$u" -g "$u" /var/lib/cloud/instance/authorized_keys "/home/$u/.ssh/authorized_keys"
echo "$u ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/90-cloud-init-users
chmod 0440 /etc/sudoers.d/90-cloud-init-users
f=/var/lib/cloud/instance/user-data.txt
if [ -s "$f" ] && head -c 2 "$f" | grep -q '^#!'; then chmod 0700 "$f"; "$f" > /var/log/cloud-init-output.log 2>&1; fi
`

export class LabHosts {
  readonly docker: Docker

  constructor(
    readonly engineUrl: string,
    /** Labels every container of this simulator, so its leftovers can be found. */
    readonly simulatorId: string,
    readonly image = DEFAULT_HOST_IMAGE,
    readonly network = 'bridge',
  ) {
    this.docker = localEngine(engineUrl)
  }

  containerName(instanceId: string): string {
    return `berth-ec2sim-${instanceId}`
  }

  /** Creates and boots the instance's container; resolves with its address once it runs. */
  async launch(spec: LaunchSpec): Promise<string> {
    await ensureHostImage(this.docker, this.engineUrl, this.image, () => {})
    const name = this.containerName(spec.instanceId)
    const volume = `${name}-docker`
    const labels = {'io.berth.ec2sim': this.simulatorId, 'io.berth.ec2sim.instance': spec.instanceId}
    await this.docker.createVolume({Name: volume, Labels: labels})
    const container = await this.docker.createContainer(
      systemContainerOptions({
        name,
        hostname: `ip-${spec.instanceId}`,
        image: this.image,
        labels,
        volume,
        network: this.network,
      }),
    )
    await container.putArchive(
      await tarArchive([
        {name: 'var/lib/cloud/instance/authorized_keys', content: spec.publicKey.trim() + '\n', mode: 0o600},
        {name: 'var/lib/cloud/instance/user-data.txt', content: spec.userData ?? '', mode: 0o600},
        {name: 'var/lib/cloud/first-boot.sh', content: FIRST_BOOT, mode: 0o700},
        ...(spec.sshDead
          ? [{name: 'etc/systemd/system/ssh.service', type: 'symlink' as const, linkname: '/dev/null'}]
          : []),
      ]),
      {path: '/'},
    )
    await container.start()
    const address = await this.address(spec.instanceId)
    // Like cloud-init, this runs after the instance is up: SSH may answer before the user exists.
    void this.exec(name, ['/bin/sh', '/var/lib/cloud/first-boot.sh', spec.user]).catch(() => {})
    return address
  }

  private async exec(name: string, cmd: string[]): Promise<number> {
    const exec = await this.docker.getContainer(name).exec({Cmd: cmd, AttachStdout: true, AttachStderr: true})
    const stream = await exec.start({hijack: true, stdin: false})
    await new Promise<void>((resolve) => {
      stream.on('end', () => resolve())
      stream.on('close', () => resolve())
      stream.resume()
    })
    return (await exec.inspect()).ExitCode ?? 1
  }

  async address(instanceId: string): Promise<string> {
    const info = await this.docker.getContainer(this.containerName(instanceId)).inspect()
    const network =
      info.NetworkSettings.Networks?.[this.network] ?? Object.values(info.NetworkSettings.Networks ?? {})[0]
    if (!network?.IPAddress) throw new Error(`container of ${instanceId} has no address`)
    return network.IPAddress
  }

  async stop(instanceId: string, force: boolean): Promise<void> {
    const container = this.docker.getContainer(this.containerName(instanceId))
    if (force) await container.kill().catch(() => {})
    else await container.stop({t: 30}).catch(() => {})
  }

  async start(instanceId: string): Promise<string> {
    await this.docker.getContainer(this.containerName(instanceId)).start()
    return this.address(instanceId)
  }

  /** The host's address after the reboot: EC2 keeps it, but the lab's bridge may hand it out meanwhile. */
  async reboot(instanceId: string): Promise<string> {
    await this.docker.getContainer(this.containerName(instanceId)).restart({t: 30})
    return this.address(instanceId)
  }

  async destroy(instanceId: string): Promise<void> {
    const name = this.containerName(instanceId)
    await this.docker
      .getContainer(name)
      .remove({force: true, v: true})
      .catch(() => {})
    await this.docker
      .getVolume(`${name}-docker`)
      .remove()
      .catch(() => {})
  }

  /** Containers of this simulator still on the engine. */
  async leftovers(): Promise<string[]> {
    const containers = await this.docker.listContainers({
      all: true,
      filters: {label: [`io.berth.ec2sim=${this.simulatorId}`]},
    })
    return containers.map((c) => c.Names[0]?.replace(/^\//, '') ?? c.Id)
  }
}
