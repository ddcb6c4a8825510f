import {containerDriver} from '../../../drivers/container/index.js'
import {genericDriver} from '../../../drivers/generic/index.js'
import {BerthError, ExitCode} from '../errors.js'
import type {DriverPlugin} from './contract.js'

const BUILTIN: DriverPlugin[] = [containerDriver, genericDriver]

export function driverPlugins(): DriverPlugin[] {
  return BUILTIN
}

export function driverPlugin(name: string): DriverPlugin {
  const plugin = BUILTIN.find((p) => p.name === name)
  if (!plugin) {
    throw new BerthError(`unknown driver "${name}" (available: ${BUILTIN.map((p) => p.name).join(', ')})`, ExitCode.usage)
  }
  return plugin
}
