import {amazonEc2Driver} from '../../../drivers/amazonec2/index.js'
import {containerDriver} from '../../../drivers/container/index.js'
import {genericDriver} from '../../../drivers/generic/index.js'
import {hypervDriver} from '../../../drivers/hyperv/index.js'
import {qemuDriver} from '../../../drivers/qemu/index.js'
import {virtualboxDriver} from '../../../drivers/virtualbox/index.js'
import {BerthError, ExitCode} from '../errors.js'
import type {DriverPlugin} from './contract.js'

const drivers: DriverPlugin[] = [containerDriver, genericDriver, virtualboxDriver, hypervDriver, amazonEc2Driver, qemuDriver]

export function driverPlugins(): DriverPlugin[] {
  return drivers
}

export function driverPlugin(name: string): DriverPlugin {
  const plugin = drivers.find((p) => p.name === name)
  if (!plugin) {
    throw new BerthError(`unknown driver "${name}" (available: ${drivers.map((p) => p.name).join(', ')})`, ExitCode.usage,
      'external drivers are installed with `berth plugins install PACKAGE`')
  }
  return plugin
}

/**
 * Adds a driver from an installed plugin package (see README, "External drivers"). The shape is
 * checked here so a broken plugin fails with its name instead of deep inside a command.
 */
export function registerDriver(candidate: unknown, source: string): DriverPlugin {
  const plugin = candidate as Partial<DriverPlugin> | undefined
  const problem =
    !plugin || typeof plugin !== 'object' ? 'it exports no driver object'
      : typeof plugin.name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(plugin.name) ? 'its name must be lowercase letters, digits and dashes'
        : !Array.isArray(plugin.options) ? 'it has no options array'
          : typeof plugin.configure !== 'function' || typeof plugin.load !== 'function' ? 'it lacks configure() or load()'
            : plugin.options.some((o) => !o.name?.startsWith(`${plugin.name}-`)) ? `its options must be named ${plugin.name}-*`
              : drivers.some((d) => d.name === plugin.name) ? `a driver named "${plugin.name}" already exists`
                : undefined
  if (problem) throw new BerthError(`driver plugin ${source} cannot be used: ${problem}`)
  drivers.push(plugin as DriverPlugin)
  return plugin as DriverPlugin
}
