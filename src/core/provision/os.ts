import {BerthError, ExitCode} from '../errors.js'

export interface OsInfo {
  id: string
  idLike: string[]
  versionId: string
  prettyName: string
}

/** Parses /etc/os-release (KEY=value lines, values optionally quoted). */
export function parseOsRelease(text: string): OsInfo {
  const fields: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim())
    if (!match) continue
    let value = match[2]!
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1).replace(/\\(["$`\\])/g, '$1')
    fields[match[1]!] = value
  }
  return {
    id: (fields.ID ?? '').toLowerCase(),
    idLike: (fields.ID_LIKE ?? '').toLowerCase().split(/\s+/).filter(Boolean),
    versionId: fields.VERSION_ID ?? '',
    prettyName: fields.PRETTY_NAME ?? fields.NAME ?? 'unknown OS',
  }
}

/** How the engine gets installed on one family of systems. */
export interface Recipe {
  name: string
  /** Shell script that installs distribution packages. */
  install(packages: string[]): string
  /** The distribution's engine package(s). */
  enginePackages: string[]
  /** Shell script that upgrades installed packages only (never installs new ones). */
  upgrade(packages: string[]): string
}

function aptInstall(packages: string[]): string {
  return [
    'export DEBIAN_FRONTEND=noninteractive',
    // Cloud images run apt at boot; wait for its lock instead of failing.
    'apt-get -q -o DPkg::Lock::Timeout=300 update',
    `apt-get -q -y -o DPkg::Lock::Timeout=300 --no-install-recommends install ${packages.join(' ')}`,
  ].join(' && ')
}

function aptUpgrade(packages: string[]): string {
  return [
    'export DEBIAN_FRONTEND=noninteractive',
    'apt-get -q -o DPkg::Lock::Timeout=300 update',
    // Keep berth's and the user's changed config files (daemon.json, the unit drop-in).
    `apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confold --only-upgrade install ${packages.join(' ')}`,
  ].join(' && ')
}

const RECIPES: Record<string, Recipe> = {
  debian: {name: 'debian', install: aptInstall, enginePackages: ['docker.io'], upgrade: aptUpgrade},
  ubuntu: {name: 'ubuntu', install: aptInstall, enginePackages: ['docker.io'], upgrade: aptUpgrade},
}

/** Picks a recipe from ID, then ID_LIKE, in that order. */
export function recipeFor(os: OsInfo): Recipe {
  for (const id of [os.id, ...os.idLike]) {
    const recipe = RECIPES[id]
    if (recipe) return recipe
  }
  throw new BerthError(
    `unsupported OS: ${os.prettyName} (berth provisions ${Object.keys(RECIPES).join(' and ')} hosts)`,
    ExitCode.failure,
  )
}
