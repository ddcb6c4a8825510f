/**
 * The built-in drivers, composed at the edge like installed plugins: the registry in src/core
 * imports none of them. Each registers its descriptor (name, flags) now and its code on first use,
 * so a command that never acts on an EC2 machine never loads the AWS SDK.
 */
import {registerLazyDriver} from '../src/core/drivers/registry.js'
import {descriptor as amazonec2} from './amazonec2/descriptor.js'
import {descriptor as container} from './container/descriptor.js'
import {descriptor as generic} from './generic/descriptor.js'
import {descriptor as hyperv} from './hyperv/descriptor.js'
import {descriptor as none} from './none/descriptor.js'
import {descriptor as qemu} from './qemu/descriptor.js'
import {descriptor as virtualbox} from './virtualbox/descriptor.js'

let registered = false

/** Registers the built-in drivers once (the init hook and `create`'s flag list both call it). */
export function registerBuiltinDrivers(): void {
  if (registered) return
  registered = true
  registerLazyDriver(container, async () => (await import('./container/index.js')).containerDriver)
  registerLazyDriver(generic, async () => (await import('./generic/index.js')).genericDriver)
  registerLazyDriver(virtualbox, async () => (await import('./virtualbox/index.js')).virtualboxDriver)
  registerLazyDriver(hyperv, async () => (await import('./hyperv/index.js')).hypervDriver)
  registerLazyDriver(amazonec2, async () => (await import('./amazonec2/index.js')).amazonEc2Driver)
  registerLazyDriver(none, async () => (await import('./none/index.js')).noneDriver)
  registerLazyDriver(qemu, async () => (await import('./qemu/index.js')).qemuDriver)
}
