import { mkdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import type { Config } from '../config/index.ts'
import { applyMigrations } from './migrations.ts'

export type Engine = 'chdb' | 'server'

export interface Store {
  client: ClickHouseClient
  engine: Engine
  /** Location of the data: the chDB folder, or the server URL without credentials. */
  location: string
  close(): Promise<void>
}

/**
 * Settings pinned on every query so results have the same JS types on both
 * engines: a server quotes 64-bit integers in JSON by default, chDB does not.
 */
export const PINNED_SETTINGS: ClickHouseSettings = {
  output_format_json_quote_64bit_integers: 0,
  output_format_json_quote_64bit_floats: 0,
  date_time_output_format: 'simple',
}

/** Raised when the embedded data folder cannot be opened, most often because another process owns it. */
export class StoreLockedError extends Error {
  constructor(path: string, owner: string, cause: unknown) {
    super(
      `Cannot open the embedded ClickHouse data folder ${path}: ${owner}. ` +
        'chDB lets one process open a folder at a time. Stop that process, point ' +
        'SEGMENTS_CHDB_PATH at another folder, or set CLICKHOUSE_URL to share a ClickHouse server.',
      { cause },
    )
    this.name = 'StoreLockedError'
  }
}

/** Describes the process that has the folder open, from the `status` file ClickHouse writes there. */
function describeOwner(path: string): string {
  try {
    const status = readFileSync(join(path, 'status'), 'utf8')
    const pid = /PID:\s*(\d+)/.exec(status)?.[1]
    if (pid) return `it is in use by process ${pid}`
  } catch {
    // No status file: the folder is not held by a running engine.
  }
  return 'it may be in use by another process or not writable'
}

function isConnectionError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ChdbConnectionError'
}

function openChdb(config: Config['clickhouse']): Store {
  const path = resolve(config.chdbPath)
  mkdirSync(path, { recursive: true })
  let connection
  try {
    connection = createChdbConnection({ path })
  } catch (error) {
    if (isConnectionError(error)) throw new StoreLockedError(path, describeOwner(path), error)
    throw error
  }
  // chdb types its connection against @clickhouse/client-common, which the
  // client bundles a copy of; the two declarations are the same interface.
  const client = createClient({
    connection: connection as never,
    clickhouse_settings: PINNED_SETTINGS,
  })
  return { client, engine: 'chdb', location: path, close: () => client.close() }
}

function openServer(config: Config['clickhouse'], url: string): Store {
  const client = createClient({
    url,
    username: config.user,
    password: config.password,
    database: config.database,
    clickhouse_settings: PINNED_SETTINGS,
  })
  const location = new URL(url)
  location.username = ''
  location.password = ''
  return { client, engine: 'server', location: location.toString(), close: () => client.close() }
}

/**
 * Opens the store: a ClickHouse server when `CLICKHOUSE_URL` is set, embedded
 * chDB in `SEGMENTS_CHDB_PATH` otherwise, and applies pending migrations.
 */
export async function openStore(config: Config['clickhouse']): Promise<Store> {
  const store = config.url ? openServer(config, config.url) : openChdb(config)
  try {
    await applyMigrations(store.client)
  } catch (error) {
    await store.close().catch(() => undefined)
    if (store.engine === 'chdb' && isConnectionError(error)) {
      throw new StoreLockedError(store.location, describeOwner(store.location), error)
    }
    throw error
  }
  return store
}

/** Runs a SELECT and returns its rows as objects. */
export async function queryRows<T>(
  client: ClickHouseClient,
  query: string,
  params: Record<string, unknown> = {},
): Promise<T[]> {
  const result = await client.query({ query, query_params: params, format: 'JSONEachRow' })
  return result.json<T>()
}
