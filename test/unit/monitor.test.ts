/**
 * The Grafana half of `berth monitor up`, which cannot run here (no registry to pull Grafana from):
 * the container it creates and the files it copies in before the start.
 */
import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import {DATASOURCE_UID, DEFAULT_ALERTS} from '../../dashboards/src/index.js'
import {grafanaContainer, INFLUX_CONTAINER, MONITOR_NETWORK} from '../../src/core/monitor/monitor.js'

const options = {
  influxImage: 'influxdb:1.8',
  database: 'fleet',
  influxPort: 8086,
  grafanaPort: 3300,
  minInterval: '5s',
  alerts: DEFAULT_ALERTS,
}

describe('the Grafana container of monitor up', () => {
  const {spec, files} = grafanaContainer(options, 'grafana/grafana-oss:11.6.0', 'pw-123')
  const file = (name: string) => files.find((f) => f.name === name)

  it("keeps the admin password out of the environment: a file only Grafana's user reads", () => {
    expect(JSON.stringify(spec)).not.toContain('pw-123')
    expect(spec.Env).toContain('GF_SECURITY_ADMIN_PASSWORD__FILE=/etc/grafana/berth/admin-password')
    expect(file('etc/grafana/berth/admin-password')).toEqual({
      name: 'etc/grafana/berth/admin-password',
      content: 'pw-123',
      mode: 0o400,
      uid: 472,
    })
  })

  it("provisions the data source at InfluxDB's container name and the dashboards from the copied folder", () => {
    expect(spec.Env).toContain('GF_PATHS_PROVISIONING=/etc/grafana/berth/provisioning')
    const datasource = parse(file('etc/grafana/berth/provisioning/datasources/berth.yaml')!.content)
      .datasources[0]
    expect(datasource).toMatchObject({
      uid: DATASOURCE_UID,
      url: `http://${INFLUX_CONTAINER}:8086`,
      jsonData: {dbName: 'fleet', timeInterval: '5s'},
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
      'pw-123',
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

  it("publishes the chosen port and joins the stack's network, data in a volume", () => {
    expect(spec.HostConfig).toMatchObject({
      NetworkMode: MONITOR_NETWORK,
      PortBindings: {'3000/tcp': [{HostPort: '3300'}]},
      Binds: ['berth-grafana-data:/var/lib/grafana'],
      RestartPolicy: {Name: 'unless-stopped'},
    })
    expect(spec.Image).toBe('grafana/grafana-oss:11.6.0')
  })
})
