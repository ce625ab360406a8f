import { mkdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import type { Config } from '../config/index.ts'
import { applyMigrations } from './migrations.ts'

export type Engine = 'chdb' | 'server'

/** A body already encoded in its format, to be inserted into one table as it is. */
export interface FormattedInsert {
  table: string
  format: 'JSONEachRow'
  body: string | Buffer
  settings?: ClickHouseSettings
  /** Stops waiting for the insert; the engine may still finish it. */
  signal?: AbortSignal
}

export interface Store {
  client: ClickHouseClient
  engine: Engine
  /** Location of the data: the chDB folder, or the server URL without credentials. */
  location: string
  /** Inserts a formatted body the way the engine parses it fastest. */
  insertFormatted(insert: FormattedInsert): Promise<void>
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
  const { chdb } = connection
  // chDB's exec appends the body to the SQL text, which the engine then parses as one query.
  // rawInsert hands the bytes over as the insert's data instead: for 1,000 score_log rows of
  // 1.9 kB it took 30 ms of CPU against 55 ms through exec (chdb 3.4.0, median of 9 inserts).
  const insertFormatted = async (insert: FormattedInsert) => {
    await chdb.rawInsert({
      table: insert.table,
      format: insert.format,
      values: typeof insert.body === 'string' ? Buffer.from(insert.body, 'utf8') : insert.body,
      ...(insert.settings ? { settings: insert.settings as Record<string, string | number> } : {}),
      ...(insert.signal ? { signal: insert.signal } : {}),
    })
  }
  return { client, engine: 'chdb', location: path, insertFormatted, close: () => client.close() }
}

/** Inserts a formatted body through the client's exec, which streams it as the request body. */
export async function execInsert(client: ClickHouseClient, insert: FormattedInsert): Promise<void> {
  const result = await client.exec({
    query: `INSERT INTO ${insert.table} FORMAT ${insert.format}`,
    values: Readable.from(insert.body, { objectMode: false }),
    ...(insert.settings ? { clickhouse_settings: insert.settings } : {}),
    ...(insert.signal ? { abort_signal: insert.signal } : {}),
  })
  // The reply of an INSERT is empty, but its stream must be read to free the connection.
  result.stream.resume()
  await finished(result.stream)
}

function openServer(config: Config['clickhouse'], url: string): Store {
  const client = createClient({
    url,
    username: config.user,
    password: config.password,
    database: config.database,
    request_timeout: config.requestTimeoutMs,
    clickhouse_settings: PINNED_SETTINGS,
  })
  const location = new URL(url)
  location.username = ''
  location.password = ''
  return {
    client,
    engine: 'server',
    location: location.toString(),
    insertFormatted: (insert) => execInsert(client, insert),
    close: () => client.close(),
  }
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
