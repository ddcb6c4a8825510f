import Docker from 'dockerode'
import {BerthError, ExitCode} from '../../src/core/drivers/kit.js'
import {isolatedDockerOptions} from '../../src/core/drivers/kit-docker.js'

/** A Docker client for the local engine that hosts the machines (unix socket or plain tcp). */
export function localEngine(url: string): Docker {
  if (url.startsWith('unix://'))
    return new Docker(isolatedDockerOptions({socketPath: url.slice('unix://'.length)}))
  const match = /^tcp:\/\/([^:/]+):(\d+)\/?$/.exec(url)
  if (match) return new Docker(isolatedDockerOptions({host: match[1], port: Number(match[2])}))
  throw new BerthError(
    `--container-engine ${JSON.stringify(url)}: expected unix:///path or tcp://host:port`,
    ExitCode.usage,
  )
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
