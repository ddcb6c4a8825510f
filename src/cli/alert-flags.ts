import {Flags} from '@oclif/core'
import type {AlertSettings} from '../../dashboards/src/index.js'
import {alertSettings, readWebhookFile} from '../core/dashboards/alerts.js'

/** The alert rules' thresholds and windows (shared by `dashboards export`, `install`, `check` and `monitor up`). */
export const alertFlags = {
  alert: Flags.string({
    summary: 'Alert rule setting KEY=VALUE (repeatable), e.g. cpuPercent=95 or silentFor=10m.',
    multiple: true,
  }),
  'alert-config': Flags.string({summary: 'YAML or JSON file of alert rule settings (--alert wins over it).'}),
}

/** Where berth's contact point sends alerts: a file, since webhook URLs often carry a token. */
export const webhookFlags = {
  'alert-webhook-file': Flags.string({
    summary:
      "File holding a webhook URL: berth's contact point posts the alerts there (without it, Grafana's notification policies decide).",
  }),
}

export function alertSettingsFrom(flags: {
  alert?: string[]
  'alert-config'?: string
}): Promise<AlertSettings> {
  return alertSettings(flags.alert, flags['alert-config'])
}

export async function webhookFrom(flags: {'alert-webhook-file'?: string}): Promise<string | undefined> {
  return flags['alert-webhook-file'] ? readWebhookFile(flags['alert-webhook-file']) : undefined
}
