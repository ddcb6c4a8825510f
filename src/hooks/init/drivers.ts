import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import type {Hook} from '@oclif/core'
import {oneLine} from '../../core/errors.js'
import {registerDriver} from '../../core/drivers/registry.js'
import {registerBuiltinDrivers} from '../../../drivers/builtin.js'

/**
 * Registers the built-in drivers, then finds external drivers, before any command loads: an installed oclif plugin whose package.json
 * has `"berth": {"drivers": ["./path/to/module.js"]}` contributes each module's default export
 * (or its `driver` export). Commands then see them like built-in drivers, `create` flags included.
 */
const hook: Hook.Init = async function (options) {
  registerBuiltinDrivers()
  for (const plugin of options.config.getPluginsList()) {
    const modules = (plugin.pjson as {berth?: {drivers?: string[]}}).berth?.drivers ?? []
    for (const path of modules) {
      try {
        const loaded = (await import(pathToFileURL(join(plugin.root, path)).href)) as {
          default?: unknown
          driver?: unknown
        }
        registerDriver(loaded.default ?? loaded.driver, `${plugin.name} (${path})`)
      } catch (err) {
        process.stderr.write(`Warning: ${oneLine(err)}\n`)
      }
    }
  }
}

export default hook
