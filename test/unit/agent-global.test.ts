import {describe, expect, it} from 'vitest'
import {
  apiFilterServiceSpec,
  globalServiceSpec,
  secretName,
  secretValues,
  type SecretRef,
} from '../../src/core/agent/global.js'

const TOKEN = 'tok-unit-5577'
const options = {
  influx: {url: 'https://influx.example:8086', bucket: 'fleet', org: 'ops'},
  intervalSeconds: 5,
  env: {BERTH_AGENT_FLUSH_MS: '300'},
}
const secrets = {token: TOKEN, ca: '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----'}
const refs: SecretRef[] = [
  {kind: 'token', id: 'sec1', name: secretName('cluster1', 'token', TOKEN)},
  {kind: 'ca', id: 'sec2', name: secretName('cluster1', 'ca', secrets.ca)},
]

describe('the global agent service spec', () => {
  const spec = globalServiceSpec(options, secrets, refs, 'sha256:abc', '0.1.0')
  const container = spec.TaskTemplate.ContainerSpec

  it('is a global service with restart any on the host network', () => {
    expect(spec.Name).toBe('berth-agent')
    expect(spec.Mode).toEqual({Global: {}})
    expect(spec.TaskTemplate.RestartPolicy.Condition).toBe('any')
    expect(spec.TaskTemplate.Networks).toEqual([{Target: 'host'}])
    expect(container.Image).toBe('sha256:abc')
  })

  it('references the secrets as 0400 files under /run/secrets; no secret value anywhere in the spec', () => {
    expect(container.Secrets).toEqual([
      {
        SecretID: 'sec1',
        SecretName: refs[0]!.name,
        File: {Name: 'berth-agent-token', UID: '65532', GID: '65532', Mode: 0o400},
      },
      {
        SecretID: 'sec2',
        SecretName: refs[1]!.name,
        File: {Name: 'berth-agent-ca.pem', UID: '65532', GID: '65532', Mode: 0o400},
      },
    ])
    expect(container.Env).toContain('BERTH_AGENT_TOKEN_FILE=/run/secrets/berth-agent-token')
    expect(container.Env).toContain('BERTH_AGENT_CA_FILE=/run/secrets/berth-agent-ca.pem')
    expect(JSON.stringify(spec)).not.toContain(TOKEN)
    expect(JSON.stringify(spec)).not.toContain('BEGIN CERTIFICATE')
    expect(refs[0]!.name).not.toContain(TOKEN)
  })

  it("tags points with each node's hostname (the machine name) through a swarm template, and keeps the settings", () => {
    expect(container.Env).toEqual(
      expect.arrayContaining([
        'BERTH_AGENT_HOST={{.Node.Hostname}}',
        'BERTH_AGENT_INFLUX_URL=https://influx.example:8086',
        'BERTH_AGENT_BUCKET=fleet',
        'BERTH_AGENT_ORG=ops',
        'BERTH_AGENT_INTERVAL=5',
        'BERTH_AGENT_FLUSH_MS=300',
      ]),
    )
  })

  it("mounts cgroupfs, the host's /proc, its / (for statfs) and the API filter's socket read-only, the state volume writable, and never the Docker socket", () => {
    expect(container.Mounts).toEqual([
      {Type: 'bind', Source: '/sys/fs/cgroup', Target: '/host/sys/fs/cgroup', ReadOnly: true},
      {Type: 'bind', Source: '/proc', Target: '/host/proc', ReadOnly: true},
      {Type: 'bind', Source: '/', Target: '/host/root', ReadOnly: true},
      {Type: 'volume', Source: 'berth-agent-state', Target: '/var/lib/berth-agent'},
      {Type: 'volume', Source: 'berth-agent-api', Target: '/run/berth-api', ReadOnly: true},
    ])
    expect(container.Env).toContain('BERTH_AGENT_DOCKER_SOCKET=/run/berth-api/docker.sock')
  })

  it('runs the agent without privileges: its own user, no capabilities, no-new-privileges, read-only root, memory and pids limits', () => {
    expect(container).toMatchObject({
      User: '65532:65532',
      ReadOnly: true,
      CapabilityDrop: ['ALL'],
      Privileges: {NoNewPrivileges: true},
    })
    expect(spec.TaskTemplate.Resources.Limits).toEqual({MemoryBytes: 256 * 1024 * 1024, Pids: 128})
  })

  it('the API filter is a global service of its own: the only holder of the socket, no capabilities', () => {
    const filter = apiFilterServiceSpec('sha256:abc', '0.1.0')
    expect(filter.Name).toBe('berth-agent-api')
    expect(filter.Mode).toEqual({Global: {}})
    expect(filter.TaskTemplate.Networks).toBeUndefined() // swarm has no `none` for services: the default network, and nothing listening on it
    expect(filter.TaskTemplate.ContainerSpec).toMatchObject({
      Args: ['proxy'],
      User: '0:65532',
      ReadOnly: true,
      CapabilityDrop: ['ALL'],
      Secrets: [],
    })
    expect(filter.TaskTemplate.ContainerSpec.Mounts.map((m) => m.Source)).toEqual([
      '/var/run/docker.sock',
      'berth-agent-api',
    ])
  })

  it('carries a digest of itself that changes with the secrets, settings or image, and not otherwise', () => {
    const digest = spec.Labels['io.berth.agent.spec']
    expect(digest).toMatch(/^[0-9a-f]{16}$/)
    expect(container.Labels['io.berth.agent.spec']).toBe(digest)
    expect(
      globalServiceSpec(options, secrets, refs, 'sha256:abc', '0.1.0').Labels['io.berth.agent.spec'],
    ).toBe(digest)
    const rotated: SecretRef[] = [
      {kind: 'token', id: 'sec3', name: secretName('cluster1', 'token', 'tok-new')},
      refs[1]!,
    ]
    expect(
      globalServiceSpec(options, {...secrets, token: 'tok-new'}, rotated, 'sha256:abc', '0.1.0').Labels[
        'io.berth.agent.spec'
      ],
    ).not.toBe(digest)
    expect(
      globalServiceSpec(options, secrets, refs, 'sha256:def', '0.1.0').Labels['io.berth.agent.spec'],
    ).not.toBe(digest)
    expect(
      globalServiceSpec({...options, intervalSeconds: 10}, secrets, refs, 'sha256:abc', '0.1.0').Labels[
        'io.berth.agent.spec'
      ],
    ).not.toBe(digest)
  })
})

describe('swarm secret names', () => {
  it('name the value by a digest: the same value the same name, another value or swarm another name', () => {
    const name = secretName('cluster1', 'token', TOKEN)
    expect(name).toMatch(/^berth-agent-token-[0-9a-f]{16}$/)
    expect(secretName('cluster1', 'token', TOKEN)).toBe(name)
    expect(secretName('cluster1', 'token', 'other')).not.toBe(name)
    expect(secretName('cluster2', 'token', TOKEN)).not.toBe(name)
  })

  it('are made only for the values the settings have', () => {
    expect(secretValues({password: 'pw'})).toEqual([['password', 'pw']])
    expect(secretValues({token: 't', ca: 'c'})).toEqual([
      ['token', 't'],
      ['ca', 'c'],
    ])
    expect(secretValues({})).toEqual([])
  })
})
