/**
 * Installs berth's alert rules (and, with a webhook, berth's contact point) through Grafana's
 * alerting provisioning API: each rule by its fixed uid, PUT when Grafana has it and POST when not,
 * so a second install updates in place and never adds a copy; then the rule group's interval.
 */
import {
  alertRules,
  CONTACT_POINT,
  contactPointReceiver,
  RULE_GROUP,
  durationSeconds,
  type AlertSettings,
  type GrafanaRule,
} from '../../../dashboards/src/index.js'
import type {Action, GrafanaClient} from './grafana.js'

export interface AlertInstallOptions {
  /** The folder's uid (the dashboards' folder, made by ensureFolder). */
  folderUid: string
  folderTitle: string
  settings: AlertSettings
  webhookUrl?: string
}

export interface AlertInstallOutcome {
  contactPoint?: {name: string; uid: string; action: Action}
  ruleGroup: string
  rules: Array<{uid: string; title: string; action: Action}>
}

/** A rule as the provisioning API takes it: the file's rule plus where it lives. */
export function apiRule(rule: GrafanaRule, folderUid: string): GrafanaRule {
  return {...rule, orgID: 1, folderUID: folderUid, ruleGroup: RULE_GROUP}
}

async function upsertContactPoint(
  grafana: GrafanaClient,
  webhookUrl: string,
): Promise<NonNullable<AlertInstallOutcome['contactPoint']>> {
  const receiver = contactPointReceiver(webhookUrl)
  const body = {...receiver, name: CONTACT_POINT}
  const listed = await grafana.request(
    'GET',
    `/api/v1/provisioning/contact-points?name=${encodeURIComponent(CONTACT_POINT)}`,
  )
  if (listed.status !== 200) throw grafana.failure('read the contact points', listed)
  const existing =
    Array.isArray(listed.body) && (listed.body as Array<{uid?: string}>).some((c) => c.uid === receiver.uid)
  const reply = existing
    ? await grafana.request('PUT', `/api/v1/provisioning/contact-points/${receiver.uid}`, body)
    : await grafana.request('POST', '/api/v1/provisioning/contact-points', body)
  if (reply.status !== 202 && reply.status !== 200)
    throw grafana.failure(`${existing ? 'update' : 'create'} contact point "${CONTACT_POINT}"`, reply)
  return {name: CONTACT_POINT, uid: receiver.uid, action: existing ? 'updated' : 'created'}
}

export async function installAlerts(
  grafana: GrafanaClient,
  options: AlertInstallOptions,
  progress: (message: string) => void = () => {},
): Promise<AlertInstallOutcome> {
  // The rules name the contact point: it must exist first.
  const contactPoint = options.webhookUrl ? await upsertContactPoint(grafana, options.webhookUrl) : undefined
  if (contactPoint) progress(`contact point ${contactPoint.name}: ${contactPoint.action}`)
  const rules: AlertInstallOutcome['rules'] = []
  const bodies = alertRules({
    settings: options.settings,
    folder: options.folderTitle,
    webhookUrl: options.webhookUrl,
  }).map((rule) => apiRule(rule, options.folderUid))
  for (const body of bodies) {
    const path = `/api/v1/provisioning/alert-rules/${body.uid}`
    const existing = await grafana.request('GET', path)
    if (existing.status !== 200 && existing.status !== 404)
      throw grafana.failure(`read alert rule "${body.uid}"`, existing)
    const saved =
      existing.status === 200
        ? await grafana.request('PUT', path, body)
        : await grafana.request('POST', '/api/v1/provisioning/alert-rules', body)
    const action: Action = existing.status === 200 ? 'updated' : 'created'
    if (saved.status !== 200 && saved.status !== 201)
      throw grafana.failure(`${action === 'updated' ? 'update' : 'create'} alert rule "${body.title}"`, saved)
    progress(`alert rule ${body.title}: ${action}`)
    rules.push({uid: body.uid, title: body.title, action})
  }
  // A group made by POSTing rules gets Grafana's default interval: set berth's.
  const group = await grafana.request(
    'PUT',
    `/api/v1/provisioning/folder/${encodeURIComponent(options.folderUid)}/rule-groups/${encodeURIComponent(RULE_GROUP)}`,
    {
      title: RULE_GROUP,
      folderUid: options.folderUid,
      interval: durationSeconds(options.settings.interval),
      rules: bodies,
    },
  )
  if (group.status !== 200) throw grafana.failure(`set the interval of rule group "${RULE_GROUP}"`, group)
  return {contactPoint, ruleGroup: RULE_GROUP, rules}
}
