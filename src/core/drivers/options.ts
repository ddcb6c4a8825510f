/** Reading driver option values: the checks every driver makes, with the flag's name in the one-line error. */
import {BerthError, ExitCode} from '../errors.js'
import type {OptionValues} from './contract.js'

export function positiveInteger(
  values: OptionValues,
  name: string,
  fallback: number,
  minimum: number,
): number {
  const raw = values[name] ?? fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < minimum)
    throw new BerthError(
      `--${name} ${JSON.stringify(raw)} must be a whole number of at least ${minimum}`,
      ExitCode.usage,
    )
  return value
}

/** One of `allowed`, matched without regard to case and returned as `allowed` spells it. */
export function oneOf(values: OptionValues, name: string, fallback: string, allowed: string[]): string {
  const value = String(values[name] ?? fallback)
  const match = allowed.find((a) => a.toLowerCase() === value.toLowerCase())
  if (!match)
    throw new BerthError(
      `--${name} ${JSON.stringify(value)} must be one of ${allowed.join(', ')}`,
      ExitCode.usage,
    )
  return match
}
