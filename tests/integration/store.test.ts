import { spawn } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/index.ts'
import { openStore, queryRows, type Store } from '../../src/store/client.ts'
import { applyMigrations } from '../../src/store/migrations.ts'
import { makeTempDir } from '../helpers/integration.ts'

const REPOSITORY_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLIENT_MODULE = new URL('../../src/store/client.ts', import.meta.url).href
const CONFIG_MODULE = new URL('../../src/config/index.ts', import.meta.url).href

/** Exit code of the child when openStore raised StoreLockedError. */
const LOCKED_EXIT_CODE = 3
const CHILD_TIMEOUT_MS = 30_000

/** 2^40, which needs more than 32 bits. */
const TWO_TO_THE_40 = 1_099_511_627_776

/** count(), a UInt64 over 2^32, a negative Int64 and sum() over 0..9, which is 45. */
const WIDE_INTEGERS_QUERY = `SELECT count() AS total, toUInt64(${TWO_TO_THE_40}) AS wide,
  toInt64(-5) AS negative, sum(number) AS summed FROM numbers(10)`

interface WideIntegers {
  total: unknown
  wide: unknown
  negative: unknown
  summed: unknown
}

interface TableSchema {
  name: string
  create_table_query: string
}

let folder: string
let store: Store

async function listTables(): Promise<TableSchema[]> {
  return queryRows<TableSchema>(
    store.client,
    `SELECT name, create_table_query FROM system.tables
     WHERE database = currentDatabase() ORDER BY name`,
  )
}

/** Runs openStore on `path` in a child process and returns its exit code and stderr. */
function openInChild(path: string): Promise<{ code: number | null; stderr: string }> {
  const script = `
    const { openStore } = await import(${JSON.stringify(CLIENT_MODULE)})
    const { loadConfig } = await import(${JSON.stringify(CONFIG_MODULE)})
    const config = loadConfig({ SEGMENTS_CHDB_PATH: ${JSON.stringify(path)} })
    try {
      const store = await openStore(config.clickhouse)
      await store.close()
    } catch (error) {
      process.stderr.write(error.name + ': ' + error.message)
      process.exit(error.name === 'StoreLockedError' ? ${LOCKED_EXIT_CODE} : 1)
    }`
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPOSITORY_ROOT,
    timeout: CHILD_TIMEOUT_MS,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => (stderr += chunk))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stderr }))
  })
}

beforeAll(async () => {
  folder = await makeTempDir('store-test')
  store = await openStore(loadConfig({ SEGMENTS_CHDB_PATH: join(folder, 'clickhouse') }).clickhouse)
})

afterAll(async () => {
  await store?.close()
  if (folder) await rm(folder, { recursive: true, force: true })
})

describe('applyMigrations', () => {
  it('creates the five tables', async () => {
    const names = (await listTables()).map((table) => table.name)
    expect(names).toEqual([
      'contacts',
      'events',
      'ingest_rejects',
      'schema_migrations',
      'score_log',
    ])
  })

  it('records every version once', async () => {
    const rows = await queryRows<{ version: number; name: string }>(
      store.client,
      'SELECT version, name FROM schema_migrations ORDER BY version',
    )
    expect(rows).toEqual([
      { version: 1, name: 'events' },
      { version: 2, name: 'contacts' },
      { version: 3, name: 'ingest_rejects' },
      { version: 4, name: 'score_log' },
    ])
  })

  it('applies nothing the second time', async () => {
    const before = await listTables()
    const applied = await applyMigrations(store.client)
    const after = await listTables()
    const ledger = await queryRows<{ version: number }>(
      store.client,
      'SELECT version FROM schema_migrations ORDER BY version',
    )

    expect(applied).toEqual([])
    expect(after).toEqual(before)
    expect(ledger.map((row) => row.version)).toEqual([1, 2, 3, 4])
  })
})

describe('pinned settings', () => {
  it('return 64-bit integers as numbers', async () => {
    const [row] = await queryRows<WideIntegers>(store.client, WIDE_INTEGERS_QUERY)

    expect(row?.total).toBe(10)
    expect(row?.wide).toBe(TWO_TO_THE_40)
    expect(row?.negative).toBe(-5)
    expect(row?.summed).toBe(45)
  })

  it('differ from the server default', async () => {
    // ClickHouse quotes Int64 and UInt64 in JSON formats by default (ClickHouse JSON format
    // docs), so on a server without the pin the same query returns strings.
    const result = await store.client.query({
      query: WIDE_INTEGERS_QUERY,
      format: 'JSONEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
    })
    const [row] = await result.json<WideIntegers>()

    expect(row?.total).toBe('10')
    expect(row?.wide).toBe('1099511627776')
    expect(row?.negative).toBe('-5')
    expect(row?.summed).toBe('45')
  })
})

describe('openStore', () => {
  it('rejects a second process', async () => {
    const path = join(folder, 'clickhouse')
    const { code, stderr } = await openInChild(path)

    expect(code).toBe(LOCKED_EXIT_CODE)
    expect(stderr).toContain('StoreLockedError: ')
    expect(stderr).toContain(`data folder ${path}:`)
    expect(stderr).toContain(`in use by process ${process.pid}`)
  })
})
