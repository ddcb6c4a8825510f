/**
 * The Grafana half of `berth monitor up`, which cannot run here (no registry to pull Grafana from):
 * the container it creates and the files it copies in before the start. And what keeps the stack
 * private: InfluxDB's container (auth, https) and where both are published.
 */
import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import {DATASOURCE_UID, DEFAULT_ALERTS} from '../../dashboards/src/index.js'
import {BerthError} from '../../src/core/errors.js'
import {
  checkListenAddress,
  grafanaContainer,
  INFLUX_CONTAINER,
  influxContainer,
  MONITOR_NETWORK,
} from '../../src/core/monitor/monitor.js'

const options = {
  influxImage: 'influxdb:1.8',
  database: 'fleet',
  influxPort: 8086,
  grafanaPort: 3300,
  minInterval: '5s',
  alerts: DEFAULT_ALERTS,
  listenAddress: '10.0.0.5',
}
const secrets = {
  adminPassword: 'pw-123',
  influxPassword: 'influx-pw-456',
  caCert: '-----BEGIN CERTIFICATE-----\nmachine-ca\n-----END CERTIFICATE-----\n',
  tls: {certPem: 'grafana-cert', keyPem: 'grafana-key-789'},
}

describe('the Grafana container of monitor up', () => {
  const {spec, files} = grafanaContainer(options, 'grafana/grafana-oss:11.6.0', secrets)
  const file = (name: string) => files.find((f) => f.name === name)

  it("keeps the admin password, InfluxDB's password and the TLS key out of the environment: files only Grafana's user reads", () => {
    for (const secret of ['pw-123', 'influx-pw-456', 'grafana-key-789'])
      expect(JSON.stringify(spec)).not.toContain(secret)
    for (const [name, content] of [
      ['etc/grafana/berth/influx-password', 'influx-pw-456'],
      ['etc/grafana/berth/tls/key.pem', 'grafana-key-789'],
    ])
      expect(file(name)).toEqual({name, content, mode: 0o400, uid: 472})
    // Each secret is in its own file and nowhere else.
    for (const secret of ['pw-123', 'influx-pw-456', 'grafana-key-789'])
      expect(files.filter((f) => f.content.includes(secret))).toHaveLength(1)
    expect(spec.Env).toContain('GF_SECURITY_ADMIN_PASSWORD__FILE=/etc/grafana/berth/admin-password')
    expect(file('etc/grafana/berth/admin-password')).toEqual({
      name: 'etc/grafana/berth/admin-password',
      content: 'pw-123',
      mode: 0o400,
      uid: 472,
    })
  })

  it('serves https with its certificate', () => {
    expect(spec.Env).toEqual(
      expect.arrayContaining([
        'GF_SERVER_PROTOCOL=https',
        'GF_SERVER_CERT_FILE=/etc/grafana/berth/tls/cert.pem',
        'GF_SERVER_CERT_KEY=/etc/grafana/berth/tls/key.pem',
      ]),
    )
    expect(file('etc/grafana/berth/tls/cert.pem')?.content).toBe('grafana-cert')
  })

  it("provisions the data source at InfluxDB's container name over https, as the reader, and the dashboards from the copied folder", () => {
    expect(spec.Env).toContain('GF_PATHS_PROVISIONING=/etc/grafana/berth/provisioning')
    const datasource = parse(file('etc/grafana/berth/provisioning/datasources/berth.yaml')!.content)
      .datasources[0]
    expect(datasource).toMatchObject({
      uid: DATASOURCE_UID,
      url: `https://${INFLUX_CONTAINER}:8086`,
      user: 'berth_reader',
      jsonData: {dbName: 'fleet', timeInterval: '5s', tlsAuthWithCACert: true},
      secureJsonData: {password: '$__file{/etc/grafana/berth/influx-password}', tlsCACert: secrets.caCert},
    })
    const provider = parse(file('etc/grafana/berth/provisioning/dashboards/berth.yaml')!.content).providers[0]
    expect(provider.options.path).toBe('/etc/grafana/berth/dashboards')
    expect(
      files
        .filter((f) => f.name.startsWith('etc/grafana/berth/dashboards/'))
        .map((f) => f.name)
        .sort(),
    ).toEqual(
      ['berth-container', 'berth-events', 'berth-fleet', 'berth-host'].map(
        (uid) => `etc/grafana/berth/dashboards/${uid}.json`,
      ),
    )
  })

  it("provisions the alert rules in the dashboards' folder, following Grafana's notification policies when no webhook is set", () => {
    expect(files.map((f) => f.name).filter((n) => n.includes('/alerting/'))).toEqual([
      'etc/grafana/berth/provisioning/alerting/berth-rules.yaml',
    ])
    const group = parse(file('etc/grafana/berth/provisioning/alerting/berth-rules.yaml')!.content).groups[0]
    expect(group).toMatchObject({orgId: 1, name: 'berth fleet', folder: 'berth', interval: '1m'})
    expect(group.rules.length).toBeGreaterThanOrEqual(8)
    for (const rule of group.rules) expect(rule.notification_settings, rule.uid).toBeUndefined()
  })

  it("with a webhook: a contact point readable by Grafana's user alone, every rule routed to it, the URL nowhere else", () => {
    const url = 'https://hooks.slack.com/services/T000/B000/secretToken'
    const {spec: withHook, files: hookFiles} = grafanaContainer(
      {...options, webhookUrl: url},
      'grafana/grafana-oss:11.6.0',
      secrets,
    )
    const contact = hookFiles.find(
      (f) => f.name === 'etc/grafana/berth/provisioning/alerting/berth-contact-point.yaml',
    )!
    expect(contact).toMatchObject({mode: 0o400, uid: 472})
    expect(parse(contact.content).contactPoints).toEqual([
      {
        orgId: 1,
        name: 'berth',
        receivers: [
          {
            uid: 'berth-webhook',
            type: 'webhook',
            settings: {url, httpMethod: 'POST'},
            disableResolveMessage: false,
          },
        ],
      },
    ])
    const rules = parse(hookFiles.find((f) => f.name.endsWith('berth-rules.yaml'))!.content).groups[0].rules
    for (const rule of rules) expect(rule.notification_settings, rule.uid).toEqual({receiver: 'berth'})
    expect(JSON.stringify(withHook)).not.toContain('secretToken')
    expect(hookFiles.filter((f) => f.content.includes('secretToken')).map((f) => f.name)).toEqual([
      contact.name,
    ])
  })

  it("publishes the chosen port on the listen address only and joins the stack's network, data in a volume", () => {
    expect(spec.HostConfig).toMatchObject({
      NetworkMode: MONITOR_NETWORK,
      PortBindings: {'3000/tcp': [{HostIp: '10.0.0.5', HostPort: '3300'}]},
      Binds: ['berth-grafana-data:/var/lib/grafana'],
      RestartPolicy: {Name: 'unless-stopped'},
    })
    expect(spec.Image).toBe('grafana/grafana-oss:11.6.0')
  })
})

describe('the InfluxDB container of monitor up', () => {
  const tls = {certPem: 'influx-cert', keyPem: 'influx-key-321'}

  it('turns authentication and https on, the key a file root alone reads, nothing secret in the environment', () => {
    const {spec, files} = influxContainer(options, tls)
    expect(spec.Env).toEqual(
      expect.arrayContaining([
        'INFLUXDB_HTTP_AUTH_ENABLED=true',
        'INFLUXDB_HTTP_HTTPS_ENABLED=true',
        'INFLUXDB_HTTP_HTTPS_CERTIFICATE=/etc/berth-influxdb/tls/cert.pem',
        'INFLUXDB_HTTP_HTTPS_PRIVATE_KEY=/etc/berth-influxdb/tls/key.pem',
      ]),
    )
    expect(JSON.stringify(spec)).not.toContain('influx-key-321')
    expect(files).toEqual([
      {name: 'etc/berth-influxdb/tls/cert.pem', content: 'influx-cert'},
      {name: 'etc/berth-influxdb/tls/key.pem', content: 'influx-key-321', mode: 0o400, uid: 0},
    ])
  })

  it('is published on the listen address alone; on every interface only when asked with a wildcard', () => {
    const ports = (listenAddress: string) =>
      influxContainer({...options, listenAddress}, tls).spec.HostConfig?.PortBindings
    expect(ports('10.0.0.5')).toEqual({'8086/tcp': [{HostIp: '10.0.0.5', HostPort: '8086'}]})
    expect(ports('fd00::5')).toEqual({'8086/tcp': [{HostIp: 'fd00::5', HostPort: '8086'}]})
    expect(ports('0.0.0.0')).toEqual({'8086/tcp': [{HostPort: '8086'}]})
    expect(ports('::')).toEqual({'8086/tcp': [{HostPort: '8086'}]})
  })
})

describe('--listen-address', () => {
  it('takes an IP address', () => {
    for (const address of ['10.0.0.5', '0.0.0.0', '::', 'fd00::5'])
      expect(checkListenAddress(address)).toBe(address)
  })

  it('refuses anything else with one line, as a usage error', () => {
    for (const address of ['eth0', '10.0.0', '', '10.0.0.5:80', '10.0.0.5 0.0.0.0', 'localhost']) {
      let error: unknown
      try {
        checkListenAddress(address)
      } catch (err) {
        error = err
      }
      expect(error).toBeInstanceOf(BerthError)
      expect((error as BerthError).exitCode).toBe(2)
      expect((error as BerthError).message).toBe(
        `--listen-address must be an IP address of the machine (or 0.0.0.0 for every interface), not ${JSON.stringify(address)}`,
      )
    }
  })
})
