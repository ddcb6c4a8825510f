/**
 * "Boot a VM from a seed ISO", for the hypervisor simulators (VirtualBox, Hyper-V): what the
 * hypervisor plus cloud-init would do, done with a real lab host. The seed ISO is read with
 * Debian's isoinfo (not berth's writer), and what cloud-init would apply from it (hostname, the
 * user with passwordless sudo and its SSH keys, then runcmd as root, its output in
 * /var/log/cloud-init-output.log) is applied to a system container made from the container
 * driver's host image, run as the container driver runs it. Everything after "the VM is up"
 * (SSH, engine install, TLS) is then real.
 *
 * Use from a simulator process:
 *   const seed = readSeedIso(isoPath)                   // what the guest would see
 *   await bootLabVm({engine, name, seed, mac, network, publish: [{hostPort, guestPort: 22}]})
 *   await labVmPower(engine, name)                       // 'running' | 'stopped' | 'gone'
 *   await startLabVm / stopLabVm (clean, like ACPI) / killLabVm / removeLabVm(engine, name)
 *   await ensureLabNetwork(engine, name, '192.168.56.1/24', labels)  // a host-only network
 *   await removeLabResources(engine, {label: value})    // a test's final cleanup
 * Every resource carries the labels given, so a test removes all of its own with one call.
 * A simulator that runs as its own process (like test/sim/vboxmanage) is best bundled once per
 * test run (see its harness.ts) and should import this module lazily, so that calls touching no
 * guest start without loading dockerode.
 */
import {execFileSync} from 'node:child_process'
import Docker from 'dockerode'
import {DEFAULT_HOST_IMAGE, ensureHostImage} from '../../drivers/container/host-image.js'
import {localEngine, systemContainerOptions} from '../../drivers/container/engine.js'

export interface SeedUser {
  name: string
  primaryGroup?: string
  sudo?: string
  groups: string[]
  sshAuthorizedKeys: string[]
}

/** What cloud-init would take from a NoCloud seed. */
export interface Seed {
  volumeId: string
  hostname: string
  instanceId: string
  users: SeedUser[]
  /** Top-level `groups`: made unless they exist. */
  groups: string[]
  /** MAC addresses network-config configures (dhcp4 or static). */
  macs: string[]
  /** runcmd's commands as argv lists (a string item is a shell command line). */
  runcmd: string[][]
}

function isoFile(iso: string, path: string): string {
  return execFileSync('isoinfo', ['-J', '-i', iso, '-x', path], {encoding: 'utf8'})
}

/** berth's seed files are JSON (a subset of YAML); other YAML is outside this simulator. */
function parseJsonYaml(textContent: string, what: string): Record<string, unknown> {
  const body = textContent.replace(/^#cloud-config\s*\n/, '')
  try {
    return JSON.parse(body) as Record<string, unknown>
  } catch {
    throw new Error(`the simulator reads JSON-form YAML only and cannot parse ${what}`)
  }
}

/** Reads a NoCloud seed ISO the way the guest would find it (label `cidata`, files in its root). */
export function readSeedIso(iso: string): Seed {
  const info = execFileSync('isoinfo', ['-d', '-i', iso], {encoding: 'utf8'})
  const volumeId = /^Volume id: (.*)$/m.exec(info)?.[1]?.trim() ?? ''
  if (volumeId.toLowerCase() !== 'cidata')
    throw new Error(
      `seed ISO ${iso} is labelled ${JSON.stringify(volumeId)}, not cidata: cloud-init would ignore it`,
    )
  const files = execFileSync('isoinfo', ['-J', '-f', '-i', iso], {encoding: 'utf8'}).split('\n')
  const has = (name: string) => files.includes(`/${name}`)
  if (!has('user-data') || !has('meta-data')) throw new Error(`seed ISO ${iso} lacks user-data or meta-data`)
  const userDataText = isoFile(iso, '/user-data')
  if (!userDataText.startsWith('#cloud-config\n'))
    throw new Error('user-data does not start with #cloud-config')
  const userData = parseJsonYaml(userDataText, 'user-data')
  const metaData = parseJsonYaml(isoFile(iso, '/meta-data'), 'meta-data')
  const network = has('network-config')
    ? parseJsonYaml(isoFile(iso, '/network-config'), 'network-config')
    : {}
  const ethernets = (network.ethernets ?? {}) as Record<
    string,
    {match?: {macaddress?: string}; dhcp4?: boolean; addresses?: string[]}
  >
  const users = ((userData.users ?? []) as Array<Record<string, unknown>>).map((u) => ({
    name: String(u.name),
    primaryGroup: typeof u.primary_group === 'string' ? u.primary_group : undefined,
    sudo: typeof u.sudo === 'string' ? u.sudo : undefined,
    groups: (u.groups ?? []) as string[],
    sshAuthorizedKeys: (u.ssh_authorized_keys ?? []) as string[],
  }))
  return {
    volumeId,
    hostname: String(userData.hostname ?? metaData['local-hostname'] ?? ''),
    instanceId: String(metaData['instance-id'] ?? ''),
    users,
    groups: ((userData.groups ?? []) as unknown[]).map(String),
    macs: Object.values(ethernets)
      .filter((e) => e.dhcp4 || e.addresses?.length)
      .map((e) => (e.match?.macaddress ?? '').toLowerCase())
      .filter(Boolean),
    runcmd: ((userData.runcmd ?? []) as Array<string | string[]>).map((c) =>
      typeof c === 'string' ? ['sh', '-c', c] : c.map(String),
    ),
  }
}

export interface LabVmSpec {
  /** The lab engine, e.g. unix:///run/berth-lab/docker.sock. */
  engine: string
  /** Container name, unique on the engine. */
  name: string
  seed: Seed
  /** MAC of the guest's NIC (the one whose address the driver reads). */
  mac?: string
  /** Docker network for that NIC (default bridge), e.g. one from ensureLabNetwork. */
  network?: string
  /** The NIC's address in that network (what a DHCP server would lease); default: the engine picks. */
  ip?: string
  /** Port forwards from 127.0.0.1 to the guest, like VirtualBox NAT rules. */
  publish?: Array<{hostPort: number; guestPort: number}>
  labels?: Record<string, string>
  log?: (message: string) => void
}

function isNotFound(err: unknown): boolean {
  return (err as {statusCode?: number}).statusCode === 404
}

/** Runs a shell script in the guest as root (what cloud-init's modules do at first boot). */
async function execInGuest(container: Docker.Container, script: string, what: string): Promise<void> {
  const exec = await container.exec({Cmd: ['sh', '-c', script], AttachStdout: true, AttachStderr: true})
  const stream = await exec.start({})
  const output: Buffer[] = []
  stream.on('data', (chunk: Buffer) => output.push(chunk))
  await new Promise((resolve) => stream.on('end', resolve))
  const {ExitCode} = await exec.inspect()
  if (ExitCode !== 0)
    throw new Error(
      `${what} failed in the lab VM (exit ${ExitCode}): ${Buffer.concat(output)
        .toString()
        .replace(/[^\x20-\x7e\n]/g, '')
        .trim()}`,
    )
}

const q = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`

/** cloud-init's users-groups module, for the fields berth's seed uses. */
function usersScript(users: SeedUser[], groups: string[]): string {
  return (
    [
      ...groups.map((g) => `{ getent group ${q(g)} >/dev/null || groupadd ${q(g)}; }`),
      ...users.map((user) => {
        const home = user.name === 'root' ? '/root' : `/home/${user.name}`
        return [
          user.name === 'root'
            ? ':'
            : `id -u ${q(user.name)} >/dev/null 2>&1 || useradd -m -s /bin/bash ${user.primaryGroup ? `-g ${q(user.primaryGroup)} ` : ''}${user.groups.length ? `-G ${q(user.groups.join(','))} ` : ''}${q(user.name)}`,
          `install -d -m 700 -o ${q(user.name)} -g ${q(user.name)} ${home}/.ssh`,
          `printf '%s\\n' ${user.sshAuthorizedKeys.map(q).join(' ')} > ${home}/.ssh/authorized_keys`,
          `chown ${q(user.name)}: ${home}/.ssh/authorized_keys && chmod 600 ${home}/.ssh/authorized_keys`,
          user.sudo
            ? `printf '%s\\n' ${q(`${user.name} ${user.sudo}`)} > /etc/sudoers.d/90-cloud-init-users && chmod 440 /etc/sudoers.d/90-cloud-init-users`
            : ':',
        ].join(' && ')
      }),
    ].join(' && ') || ':'
  )
}

/**
 * cloud-init's runcmd: one shell script of the commands, run as root; a failing command neither
 * stops the others nor the boot, and what they print goes to cloud-init's output log.
 */
function runcmdScript(commands: string[][]): string {
  return `{\n${commands.map((argv) => argv.map(q).join(' ')).join('\n')}\n} >> /var/log/cloud-init-output.log 2>&1; true`
}

/** Makes and starts the lab host of a first boot; the seed is applied once, as cloud-init does per instance. */
export async function bootLabVm(spec: LabVmSpec): Promise<void> {
  const docker = localEngine(spec.engine)
  await ensureHostImage(docker, spec.engine, DEFAULT_HOST_IMAGE, spec.log ?? (() => {}))
  const volume = `${spec.name}-docker`
  const labels = {...spec.labels, 'io.berth.lab-vm.instance-id': spec.seed.instanceId}
  await docker.createVolume({Name: volume, Labels: spec.labels ?? {}})
  const ports = spec.publish ?? []
  try {
    // Run as the container driver runs its machines, plus a VM's MAC, fixed IP and NAT forwards.
    const options = systemContainerOptions({
      name: spec.name,
      hostname: spec.seed.hostname,
      image: DEFAULT_HOST_IMAGE,
      labels,
      volume,
      network: spec.network ?? 'bridge',
    })
    const container = await docker.createContainer({
      ...options,
      MacAddress: spec.mac,
      ExposedPorts: Object.fromEntries(ports.map((p) => [`${p.guestPort}/tcp`, {}])),
      HostConfig: {
        ...options.HostConfig,
        PortBindings: Object.fromEntries(
          ports.map((p) => [`${p.guestPort}/tcp`, [{HostIp: '127.0.0.1', HostPort: String(p.hostPort)}]]),
        ),
      },
      NetworkingConfig:
        spec.ip && spec.network
          ? {EndpointsConfig: {[spec.network]: {IPAMConfig: {IPv4Address: spec.ip}}}}
          : undefined,
    } as Docker.ContainerCreateOptions)
    await container.start()
    await execInGuest(container, usersScript(spec.seed.users, spec.seed.groups), "applying the seed's users")
    if (spec.seed.runcmd.length)
      await execInGuest(container, runcmdScript(spec.seed.runcmd), "running the seed's runcmd")
  } catch (err) {
    await removeLabVm(spec.engine, spec.name)
    throw err
  }
}

export type LabVmPower = 'running' | 'stopped' | 'gone'

export async function labVmPower(engine: string, name: string): Promise<LabVmPower> {
  try {
    const info = await localEngine(engine).getContainer(name).inspect()
    return info.State.Running ? 'running' : 'stopped'
  } catch (err) {
    if (isNotFound(err)) return 'gone'
    throw err
  }
}

export async function startLabVm(engine: string, name: string): Promise<void> {
  if ((await labVmPower(engine, name)) === 'stopped') await localEngine(engine).getContainer(name).start()
}

/** A clean shutdown (systemd halts on its stop signal), like a guest answering the ACPI button. */
export async function stopLabVm(engine: string, name: string, timeoutSeconds = 30): Promise<void> {
  if ((await labVmPower(engine, name)) === 'running')
    await localEngine(engine).getContainer(name).stop({t: timeoutSeconds})
}

/** Power pulled. */
export async function killLabVm(engine: string, name: string): Promise<void> {
  if ((await labVmPower(engine, name)) === 'running') await localEngine(engine).getContainer(name).kill()
}

export async function removeLabVm(engine: string, name: string): Promise<void> {
  const docker = localEngine(engine)
  await docker
    .getContainer(name)
    .remove({force: true, v: true})
    .catch((err) => {
      if (!isNotFound(err)) throw err
    })
  await docker
    .getVolume(`${name}-docker`)
    .remove()
    .catch((err) => {
      if (!isNotFound(err)) throw err
    })
}

/** The IPv4 address of the lab VM's NIC, as the engine sees it (for tests). */
export async function labVmAddress(engine: string, name: string): Promise<string | undefined> {
  const info = await localEngine(engine).getContainer(name).inspect()
  return Object.values(info.NetworkSettings.Networks ?? {})[0]?.IPAddress || undefined
}

/**
 * A lab network standing for a host-only network: the host's side gets the gateway address, as
 * the host-only adapter does, and guests get addresses from the subnet.
 */
export async function ensureLabNetwork(
  engine: string,
  name: string,
  gatewayCidr: string,
  labels: Record<string, string>,
): Promise<void> {
  const docker = localEngine(engine)
  try {
    await docker.getNetwork(name).inspect()
    return
  } catch (err) {
    if (!isNotFound(err)) throw err
  }
  const [gateway, bits] = gatewayCidr.split('/') as [string, string]
  const octets = gateway.split('.').map(Number)
  const mask = bits === '0' ? 0 : (~0 << (32 - Number(bits))) >>> 0
  const network =
    ((((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0) & mask) >>> 0
  const subnet = `${[24, 16, 8, 0].map((s) => (network >>> s) & 255).join('.')}/${bits}`
  await docker.createNetwork({
    Name: name,
    Driver: 'bridge',
    Labels: labels,
    IPAM: {Driver: 'default', Config: [{Subnet: subnet, Gateway: gateway}]},
  })
}

/** Removes every container, volume and network carrying these labels (a test's final cleanup). */
export async function removeLabResources(engine: string, labels: Record<string, string>): Promise<void> {
  const docker = localEngine(engine)
  const filters = JSON.stringify({label: Object.entries(labels).map(([k, v]) => `${k}=${v}`)})
  for (const c of await docker.listContainers({all: true, filters}))
    await removeLabVm(engine, c.Names[0]!.replace(/^\//, ''))
  for (const v of (await docker.listVolumes({filters})).Volumes ?? [])
    await docker
      .getVolume(v.Name)
      .remove()
      .catch(() => {})
  for (const n of await docker.listNetworks({filters}))
    await docker
      .getNetwork(n.Id)
      .remove()
      .catch(() => {})
}
