/**
 * The agent's resource limits as `agent install` takes them: memory and pids of its container, and
 * the longest log line it writes whole. Defaults measured with bench/agent.mjs (BENCHMARKS.md).
 */
import {DEFAULT_MAX_LINE_BYTES} from '../../../agent/src/logs.js'
import {BerthError, ExitCode} from '../errors.js'

const KIB = 1024
const MIB = 1024 * KIB

export interface AgentLimits {
  memoryBytes: number
  pids: number
  maxLineBytes: number
}

export const DEFAULT_AGENT_LIMITS: AgentLimits = {
  // The agent stays under 120 MB RSS at 1,000 containers: room for bursts of log lines.
  memoryBytes: 256 * MIB,
  // Node runs about a dozen threads.
  pids: 128,
  maxLineBytes: DEFAULT_MAX_LINE_BYTES,
}

/**
 * V8's old-space limit for an agent in `memoryBytes`: half of it. Node sizes its heap from the cgroup's limit
 * itself (259 MB in 256 MiB), which leaves no room for buffers and code, so a burst ends in the kernel's OOM kill
 * (seen at 1,100 containers) where a bounded heap would have collected first.
 */
export const heapLimitMiB = (memoryBytes: number): number => Math.floor(memoryBytes / MIB / 2)

/** Bounds each setting must keep: below them the agent cannot run (an idle one takes about 60 MB). */
export const AGENT_LIMIT_BOUNDS = {
  memoryBytes: {min: 96 * MIB, max: 64 * 1024 * MIB},
  pids: {min: 32, max: 65_536},
  maxLineBytes: {min: KIB, max: 16 * MIB},
}

const UNITS: Record<string, number> = {'': 1, b: 1, k: KIB, m: MIB, g: 1024 * MIB}

/** A size as Docker writes it: a number and an optional binary unit (b, k, m, g; kb, kib, ... too). */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(text.trim())
  if (!match) return undefined
  return Math.floor(Number(match[1]) * UNITS[match[2]!.toLowerCase()]!)
}

/** A size in the unit it divides evenly (256m, 64k), as the flags take it. */
export const formatSize = (bytes: number): string =>
  bytes % MIB === 0 ? `${bytes / MIB}m` : bytes % KIB === 0 ? `${bytes / KIB}k` : `${bytes}`

function bounded(
  flag: string,
  value: number,
  bounds: {min: number; max: number},
  show: (n: number) => string,
) {
  if (value < bounds.min || value > bounds.max)
    throw new BerthError(
      `--${flag} must be between ${show(bounds.min)} and ${show(bounds.max)}, not ${show(value)}`,
      ExitCode.usage,
    )
  return value
}

function size(flag: string, text: string | undefined, fallback: number, bounds: {min: number; max: number}) {
  if (text === undefined) return fallback
  const bytes = parseSize(text)
  if (bytes === undefined)
    throw new BerthError(`--${flag} takes a size such as 256m or 1g, not "${text}"`, ExitCode.usage)
  return bounded(flag, bytes, bounds, formatSize)
}

/** The limits from `agent install`'s flags, each checked (one-line usage errors), defaults for the rest. */
export function agentLimits(flags: {
  memory?: string
  pidsLimit?: number
  maxLineBytes?: string
}): AgentLimits {
  return {
    memoryBytes: size(
      'memory',
      flags.memory,
      DEFAULT_AGENT_LIMITS.memoryBytes,
      AGENT_LIMIT_BOUNDS.memoryBytes,
    ),
    pids:
      flags.pidsLimit === undefined
        ? DEFAULT_AGENT_LIMITS.pids
        : bounded('pids-limit', flags.pidsLimit, AGENT_LIMIT_BOUNDS.pids, String),
    maxLineBytes: size(
      'max-line-bytes',
      flags.maxLineBytes,
      DEFAULT_AGENT_LIMITS.maxLineBytes,
      AGENT_LIMIT_BOUNDS.maxLineBytes,
    ),
  }
}
