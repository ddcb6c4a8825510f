import {mkdir} from 'node:fs/promises'
import {join, relative} from 'node:path'
import type {InfluxConnection} from '../../../agent/src/influx.js'
import {
  alertRulesProvisioning,
  allDashboards,
  contactPointProvisioning,
  dashboardProvisioning,
  datasourceProvisioning,
  DEFAULT_ALERTS,
  DEFAULT_INFLUX,
  DEFAULT_MIN_INTERVAL,
  type AlertSettings,
  type ProvisionedSecrets,
} from '../../../dashboards/src/index.js'
import {BerthError, ExitCode} from '../errors.js'
import {writeFileAtomic} from '../store/fs.js'

export const DEFAULT_FOLDER = 'berth'
/** Where the official Grafana image's provisioned dashboards usually live. */
export const DEFAULT_DASHBOARDS_PATH = '/var/lib/grafana/dashboards/berth'

export interface ExportOptions {
  /** InfluxDB as Grafana's server reaches it. */
  influx: InfluxConnection
  /** The data source's smallest $__interval: the agents' collection interval. */
  minInterval: string
  /** The JSON folder as Grafana's server sees it (the provider's options.path). */
  dashboardsPath: string
  folder: string
  alerts: AlertSettings
  /** Where berth's contact point sends alerts; without it the rules follow Grafana's notification policies. */
  webhookUrl?: string
  /** The data source's password reference and CA, instead of environment variables (`monitor up`). */
  datasourceSecrets?: ProvisionedSecrets
}

export const DEFAULT_EXPORT: ExportOptions = {
  influx: DEFAULT_INFLUX,
  minInterval: DEFAULT_MIN_INTERVAL,
  dashboardsPath: DEFAULT_DASHBOARDS_PATH,
  folder: DEFAULT_FOLDER,
  alerts: DEFAULT_ALERTS,
}

export const RULES_FILE = join('provisioning', 'alerting', 'berth-rules.yaml')
/** Holds the webhook URL (often a secret, as Slack's are): written 0600. */
export const CONTACT_POINT_FILE = join('provisioning', 'alerting', 'berth-contact-point.yaml')

/**
 * Relative path -> content of everything an export writes: json/UID.json,
 * provisioning/{datasources,dashboards}/berth.yaml and provisioning/alerting/berth-rules.yaml
 * (and berth-contact-point.yaml with a webhook).
 */
export function exportFiles(options: ExportOptions = DEFAULT_EXPORT): Map<string, string> {
  const files = new Map<string, string>()
  for (const dashboard of allDashboards())
    files.set(join('json', `${dashboard.uid}.json`), JSON.stringify(dashboard, null, 2) + '\n')
  files.set(
    join('provisioning', 'datasources', 'berth.yaml'),
    datasourceProvisioning(options.influx, options.minInterval, options.datasourceSecrets),
  )
  files.set(
    join('provisioning', 'dashboards', 'berth.yaml'),
    dashboardProvisioning(options.dashboardsPath, options.folder),
  )
  files.set(
    RULES_FILE,
    alertRulesProvisioning({
      settings: options.alerts,
      folder: options.folder,
      webhookUrl: options.webhookUrl,
    }),
  )
  if (options.webhookUrl) files.set(CONTACT_POINT_FILE, contactPointProvisioning(options.webhookUrl))
  return files
}

/**
 * Writes the export under `dir`. Everything is generated before the first write and each file is
 * replaced atomically, so a failure never leaves a half-written file. Returns the paths written.
 */
export async function exportDashboards(
  dir: string,
  options: ExportOptions = DEFAULT_EXPORT,
): Promise<string[]> {
  const files = exportFiles(options)
  const written: string[] = []
  try {
    for (const [path, content] of files) {
      const target = join(dir, path)
      await mkdir(join(target, '..'), {recursive: true})
      await writeFileAtomic(target, content, path === CONTACT_POINT_FILE ? 0o600 : 0o644)
      written.push(target)
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new BerthError(
      `cannot write the dashboards to ${dir}: ${code ?? (err as Error).message}${written.length ? ` (${written.length} of ${files.size} files written: ${written.map((p) => relative(dir, p)).join(', ')})` : ''}`,
      ExitCode.failure,
    )
  }
  return written
}
