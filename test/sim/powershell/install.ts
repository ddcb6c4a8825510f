/** Puts the PowerShell simulator on disk as `powershell.exe` and `pwsh`, for a test's PATH. */
import {chmod, mkdir, symlink, writeFile, rm} from 'node:fs/promises'
import {join} from 'node:path'
import {build} from 'esbuild'
import {REPO} from '../../lab/lab.js'

/**
 * Bundles the simulator (TypeScript) into one CommonJS file named powershell.exe, beside the
 * repository's node_modules so its packages resolve; returns the folder to put first on PATH.
 * Test files running side by side each pass their own `folder`.
 */
export async function installPowerShellSimulator(folder = 'berth-sim-powershell'): Promise<string> {
  const bin = join(REPO, 'node_modules', '.cache', folder)
  await rm(bin, {recursive: true, force: true})
  await mkdir(bin, {recursive: true})
  // A .exe is no module type Node knows: under "commonjs" it is loaded as a script.
  await writeFile(join(bin, 'package.json'), '{"type": "commonjs"}\n')
  const executable = join(bin, 'powershell.exe')
  await build({
    entryPoints: [join(REPO, 'test/sim/powershell/powershell.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    outfile: executable,
    banner: {js: '#!/usr/bin/env node'},
    logLevel: 'warning',
  })
  await chmod(executable, 0o755)
  await symlink('powershell.exe', join(bin, 'pwsh'))
  return bin
}
