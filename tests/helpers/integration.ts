/** Shared setup for the integration tests: temporary folders, ESP fixtures and row counts. */
import { readFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ClickHouseClient } from '@clickhouse/client'
import { queryRows } from '../../src/store/client.ts'

/**
 * Returns a loopback port that a server just listened on and closed: free to
 * listen on, and refusing connections until something does.
 */
export async function freeLoopbackPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Features by name with every value 0, which each feature's range allows. */
export function zeroFeatures(names: readonly string[]): Record<string, number> {
  return Object.fromEntries(names.map((name) => [name, 0]))
}

/** Creates a fresh, empty folder under the OS temporary folder. */
export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `${prefix}-`))
}

/** Reads a file of tests/fixtures/esp as text. */
export function readFixture(name: string): string {
  return readFileSync(new URL(`../fixtures/esp/${name}`, import.meta.url), 'utf8')
}

/**
 * Returns the request bodies of a fixture whose top level is an array of bodies, each element
 * serialized back to JSON text.
 */
export function readFixtureBodies(name: string): string[] {
  const bodies: unknown = JSON.parse(readFixture(name))
  if (!Array.isArray(bodies)) throw new TypeError(`Fixture ${name} is not an array of bodies`)
  return bodies.map((body) => JSON.stringify(body))
}

/** Counts the rows of `table`, optionally narrowed by a WHERE clause. */
export async function countRows(
  client: ClickHouseClient,
  table: string,
  where = '',
  params: Record<string, unknown> = {},
): Promise<number> {
  const filter = where === '' ? '' : `WHERE ${where}`
  const query = `SELECT count() AS rows FROM ${table} ${filter}`
  const [row] = await queryRows<{ rows: number }>(client, query, params)
  if (row === undefined) throw new Error(`count() over ${table} returned no row`)
  return row.rows
}
