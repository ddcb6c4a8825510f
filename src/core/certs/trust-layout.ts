import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import type {Store} from '../store/store.js'

/** The file in a store's root that says its machines already have per-machine server trust. */
export const STORE_LAYOUT_FILE = 'store-layout'
export const PER_MACHINE_TRUST = 'per-machine-server-trust'

/**
 * Whether `migrateStoreTrust` (trust.ts) has a record to move. Read-only and free of node-forge, for the read fast
 * path, which must leave the migration and its one line to the full CLI.
 */
export async function trustMigrationPending(store: Store): Promise<boolean> {
  const marker = await readFile(join(store.root, STORE_LAYOUT_FILE), 'utf8').catch(() => '')
  if (marker.trim() === PER_MACHINE_TRUST) return false
  for (const name of await store.names()) {
    const record = await store.load(name).catch(() => undefined)
    if (record?.Berth !== undefined && record.Berth.ServerTrust === undefined) return true
  }
  return false
}
