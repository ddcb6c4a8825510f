/** What tests use of the VBoxManage simulator: build it, point berth at it, read its state, clean up. */
import {existsSync, readFileSync, rmSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {build} from 'esbuild'
import {removeLabResources} from '../lab-vm.js'
import {SIM_LABEL, simLabel} from './state.js'
import type {SimState} from './state.js'

/** The folder holding the `VBoxManage` executable: put it first on PATH. */
export const SIMULATOR_BIN = resolve(import.meta.dirname)
const REPO = resolve(import.meta.dirname, '../../..')

/** Bundles main.ts (once per test run) so each VBoxManage call starts as plain Node; the lab side is a chunk loaded only when needed. */
export async function buildSimulator(): Promise<void> {
  const outdir = join(REPO, 'node_modules/.cache/berth-vboxsim')
  rmSync(outdir, {recursive: true, force: true})
  await build({
    entryPoints: [join(SIMULATOR_BIN, 'main.ts')],
    outdir,
    entryNames: 'vboxmanage',
    outExtension: {'.js': '.mjs'},
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  })
}

export interface SimulatorOptions {
  engine: string
  version?: string
  /** Faults, as VBOXSIM_FAIL, VBOXSIM_NOT_READY, VBOXSIM_NO_IP, VBOXSIM_IGNORE_ACPI (see main.ts). */
  fail?: string
  notReady?: string
  noIp?: boolean
  ignoreAcpi?: boolean
}

/** Environment for a berth process that should meet the simulator as its VirtualBox. */
export function simulatorEnv(
  stateDir: string,
  options: SimulatorOptions,
): Record<string, string | undefined> {
  return {
    PATH: `${SIMULATOR_BIN}:${process.env.PATH ?? ''}`,
    VBOXSIM_STATE_DIR: stateDir,
    VBOXSIM_ENGINE: options.engine,
    VBOXSIM_VERSION: options.version,
    VBOXSIM_FAIL: options.fail,
    VBOXSIM_NOT_READY: options.notReady,
    VBOXSIM_NO_IP: options.noIp ? '1' : undefined,
    VBOXSIM_IGNORE_ACPI: options.ignoreAcpi ? '1' : undefined,
  }
}

export function readSimState(stateDir: string): SimState {
  const path = join(stateDir, 'state.json')
  return existsSync(path)
    ? JSON.parse(readFileSync(path, 'utf8'))
    : {vms: {}, media: {}, hostonlyifs: [], hostonlynets: [], dhcpservers: [], calls: {}}
}

/** Every call the simulator received, in order, with the locale berth ran it under. */
export function simCalls(stateDir: string): Array<{argv: string[]; lang?: string; lcAll?: string}> {
  const path = join(stateDir, 'calls.log')
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line))
    : []
}

/** Removes every lab host, volume and network the simulator made for this state folder. */
export async function removeSimulatorResources(stateDir: string, engine: string): Promise<void> {
  await removeLabResources(engine, {[SIM_LABEL]: simLabel(stateDir)})
}
