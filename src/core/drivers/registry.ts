import {BerthError, ExitCode} from '../errors.js'
import type {DriverDescriptor, DriverPlugin} from './contract.js'

/**
 * The drivers berth knows. It imports none: the edge registers them (drivers/builtin.ts for the
 * built-in ones, src/hooks/init/drivers.ts for installed plugins), and a driver's code loads the
 * first time a machine of it is acted on.
 */
interface Registration {
  descriptor: DriverDescriptor
  load: () => Promise<DriverPlugin>
  loaded?: Promise<DriverPlugin>
}

const registrations: Registration[] = []

/** docker-machine's none driver has the one unprefixed flag, `--url` (drivers/none/driver.go: GetCreateFlags). */
const isNoneUrl = (descriptor: Partial<DriverPlugin>, option: {name?: string}) =>
  descriptor.name === 'none' && option.name === 'url'

export function driverDescriptors(): DriverDescriptor[] {
  return registrations.map((r) => r.descriptor)
}

function registration(name: string): Registration {
  const found = registrations.find((r) => r.descriptor.name === name)
  if (!found) {
    throw new BerthError(
      `unknown driver "${name}" (available: ${registrations.map((r) => r.descriptor.name).join(', ')})`,
      ExitCode.usage,
      'external drivers are installed with `berth plugins install PACKAGE`',
    )
  }
  return found
}

export function driverDescriptor(name: string): DriverDescriptor {
  return registration(name).descriptor
}

/** The driver's plugin, its code loaded on first use. */
export function driverPlugin(name: string): Promise<DriverPlugin> {
  const found = registration(name)
  found.loaded ??= found.load()
  return found.loaded
}

/** Why a driver cannot be registered, or undefined when it can; `plugin` also asks for its code. */
function registrationProblem(
  descriptor: Partial<DriverPlugin> | undefined,
  plugin: boolean,
): string | undefined {
  return !descriptor || typeof descriptor !== 'object'
    ? 'it exports no driver object'
    : typeof descriptor.name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(descriptor.name)
      ? 'its name must be lowercase letters, digits and dashes'
      : !Array.isArray(descriptor.options)
        ? 'it has no options array'
        : plugin && (typeof descriptor.configure !== 'function' || typeof descriptor.load !== 'function')
          ? 'it lacks configure() or load()'
          : descriptor.options.some(
                (o) => !o.name?.startsWith(`${descriptor.name}-`) && !isNoneUrl(descriptor, o),
              )
            ? `its options must be named ${descriptor.name}-*`
            : registrations.some((r) => r.descriptor.name === descriptor.name)
              ? `a driver named "${descriptor.name}" already exists`
              : undefined
}

/** Adds a driver whose code loads on first use (`load` resolves to its plugin). */
export function registerLazyDriver(
  descriptor: DriverDescriptor,
  load: () => Promise<DriverPlugin>,
  source = descriptor.name,
): void {
  const problem = registrationProblem(descriptor, false)
  if (problem) throw new BerthError(`driver ${source} cannot be used: ${problem}`)
  registrations.push({descriptor, load})
}

/**
 * Adds a driver from an installed plugin package (see README, "External drivers"). The shape is
 * checked here so a broken plugin fails with its name instead of deep inside a command.
 */
export function registerDriver(candidate: unknown, source: string): DriverPlugin {
  const plugin = candidate as Partial<DriverPlugin> | undefined
  const problem = registrationProblem(plugin, true)
  if (problem) throw new BerthError(`driver plugin ${source} cannot be used: ${problem}`)
  const loaded = plugin as DriverPlugin
  const descriptor = {
    name: loaded.name,
    description: loaded.description,
    options: loaded.options,
    adoptsDockerMachine: typeof loaded.fromDockerMachine === 'function',
  }
  registrations.push({descriptor, load: async () => loaded, loaded: Promise.resolve(loaded)})
  return loaded
}
