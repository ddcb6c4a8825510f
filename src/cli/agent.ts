import {Flags} from '@oclif/core'
import type {AgentStatus} from '../core/agent/agent.js'
import {formatSize} from '../core/agent/limits.js'
import {BerthError, ExitCode} from '../core/errors.js'
import {validateMachineName} from '../core/names.js'
import type {Store} from '../core/store/store.js'
import {renderTable} from './table.js'

export const allFlag = Flags.boolean({summary: 'Every machine in the store.'})
export const globalFlag = Flags.boolean({
  summary: 'The swarm global service berth-agent, through the one swarm manager named.',
})

/** The manager a --global agent command goes through: exactly one existing machine. */
export async function globalManager(store: Store, words: string[], all: boolean): Promise<string> {
  if (all || words.length !== 1)
    throw new BerthError('--global takes exactly one machine: a manager of the swarm', ExitCode.usage)
  validateMachineName(words[0]!)
  await store.load(words[0]!)
  return words[0]!
}

/** The machines an agent command acts on: the names given, or every machine with --all; all must exist. */
export async function agentTargets(store: Store, words: string[], all: boolean): Promise<string[]> {
  if (all && words.length > 0) throw new BerthError('name machines or pass --all, not both', ExitCode.usage)
  const names = all ? await store.names() : [...new Set(words)]
  if (names.length === 0)
    throw new BerthError(
      all ? 'the store has no machines' : 'name at least one machine, or pass --all',
      ExitCode.usage,
    )
  for (const name of names) {
    validateMachineName(name)
    await store.load(name)
  }
  return names
}

function ago(iso: string | null | undefined): string {
  if (!iso) return '-'
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))
  return seconds < 120 ? `${seconds}s ago` : `${Math.round(seconds / 60)}m ago`
}

/** One line on what an agent may do: its user, capabilities, filesystem, limits and way to the Docker API. */
export function describePrivileges(p: NonNullable<AgentStatus['privileges']>): string {
  const mib = (bytes: number) => (bytes > 0 ? `${Math.round(bytes / 1024 / 1024)} MiB` : 'unlimited')
  const caps = p.capDrop.includes('ALL')
    ? p.capAdd.length
      ? `only ${p.capAdd.join(', ')}`
      : 'none'
    : `default${p.capDrop.length ? ` minus ${p.capDrop.join(', ')}` : ''}`
  return [
    `user ${p.user}`,
    p.privileged ? 'PRIVILEGED' : `capabilities ${caps}`,
    p.noNewPrivileges ? 'no-new-privileges' : 'new privileges allowed',
    p.readOnlyRootfs ? 'read-only root' : 'writable root',
    `pid namespace ${p.pidMode}`,
    `network ${p.networkMode}`,
    `memory ${mib(p.memoryBytes)}`,
    `pids ${p.pidsLimit > 0 ? p.pidsLimit : 'unlimited'}`,
    `log lines cut at ${formatSize(p.maxLineBytes)}`,
    p.dockerSocket
      ? 'Docker socket MOUNTED (full engine access)'
      : `Docker API through the GET-only filter (${p.apiFilter})`,
  ].join(', ')
}

export function renderAgentStatus(statuses: AgentStatus[]): string {
  const privileges = statuses
    .filter((s) => s.privileges)
    .map((s) => `${s.name}: ${describePrivileges(s.privileges!)}`)
  return renderAgentTable(statuses) + (privileges.length ? `\n\nPrivileges:\n${privileges.join('\n')}` : '')
}

function renderAgentTable(statuses: AgentStatus[]): string {
  return renderTable(
    ['NAME', 'STATE', 'VERSION', 'HEALTH', 'LAST WRITE', 'WRITTEN', 'SPOOL', 'DROPPED', 'ERROR'],
    statuses.map((s) => [
      s.name,
      s.state,
      s.version ?? '-',
      s.health ?? '-',
      ago(s.lastWriteAt),
      s.pointsWritten === undefined ? '-' : String(s.pointsWritten),
      s.spoolBytes === undefined ? '-' : `${s.pointsSpooled ?? 0} pts/${s.spoolBytes} B`,
      s.pointsDropped === undefined ? '-' : String(s.pointsDropped + (s.pointsRejected ?? 0)),
      s.lastError || '',
    ]),
  )
}
