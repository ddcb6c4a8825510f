import {engineVersion} from '../engine/engine.js'
import {Reporter, withMachine} from '../machine/machine.js'
import {parseOsRelease, recipeFor} from '../provision/os.js'
import {verifyEngine} from '../provision/provision.js'
import type {Store} from '../store/store.js'
import {requireRunning} from './renew.js'

export interface UpgradeOutcome {
  name: string
  before: string
  after: string
  upgraded: boolean
}

/** Upgrades the engine with the distribution's package manager over SSH, then proves mutual TLS. */
export function upgradeEngine(
  store: Store,
  name: string,
  reporter: Reporter,
  sshTimeoutMs = 60_000,
): Promise<UpgradeOutcome> {
  return withMachine(
    store,
    name,
    'berth upgrade',
    async (machine) => {
      await requireRunning(machine, 'upgrade')
      const before = (await engineVersion(machine.record)).Version
      const session = await machine.ssh(sshTimeoutMs)
      try {
        const recipe = recipeFor(
          parseOsRelease(await session.run('cat /etc/os-release', 'reading /etc/os-release')),
        )
        reporter.step(`Upgrading ${recipe.enginePackages.join(', ')} (engine ${before})`)
        await session.run(recipe.upgrade(recipe.enginePackages), 'upgrading the Docker engine')
        // A package upgrade restarts dockerd; make sure it runs with berth's configuration either way.
        await session.exec('systemctl is-active --quiet docker.service || systemctl start docker.service')
      } finally {
        session.close()
      }
      reporter.step('Checking the engine over mutual TLS')
      const after = (await verifyEngine(machine, 90_000)).Version
      return {name, before, after, upgraded: before !== after}
    },
    reporter,
  )
}
