import type { ClickHouseClient } from '@clickhouse/client'
import { EVENT_TYPES } from '../events/types.ts'

export interface Migration {
  version: number
  name: string
  statements: string[]
}

const eventTypeEnum = EVENT_TYPES.map((type, index) => `'${type}' = ${index + 1}`).join(', ')

/**
 * Schema changes in order. Each statement is idempotent, so a migration that
 * was interrupted, or run by two processes at once, can run again.
 */
export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'events',
    statements: [
      // Rows with the same provider event id collapse on merge; ingestion also
      // skips ids already stored, so reads need no FINAL for sequential writers.
      `CREATE TABLE IF NOT EXISTS events (
        event_id String,
        provider LowCardinality(String),
        contact_key String,
        campaign_id String,
        message_id String,
        type Enum8(${eventTypeEnum}),
        occurred_at DateTime64(3, 'UTC'),
        url String,
        user_agent String,
        ip String,
        machine_open Bool,
        bounce_kind LowCardinality(String),
        ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
      )
      ENGINE = ReplacingMergeTree
      PARTITION BY toYYYYMM(occurred_at)
      ORDER BY (contact_key, provider, event_id)`,
    ],
  },
  {
    version: 2,
    name: 'contacts',
    statements: [
      `CREATE TABLE IF NOT EXISTS contacts (
        contact_key String,
        time_zone LowCardinality(String),
        created_at DateTime64(3, 'UTC'),
        updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
      )
      ENGINE = ReplacingMergeTree(updated_at)
      ORDER BY contact_key`,
    ],
  },
  {
    version: 3,
    name: 'ingest_rejects',
    statements: [
      `CREATE TABLE IF NOT EXISTS ingest_rejects (
        received_at DateTime64(3, 'UTC') DEFAULT now64(3),
        provider LowCardinality(String),
        source String,
        path String,
        reason String,
        raw String
      )
      ENGINE = MergeTree
      ORDER BY (provider, received_at)`,
    ],
  },
  {
    version: 4,
    name: 'score_log',
    statements: [
      // One row per scored contact, written in batches by inference/score-log.ts.
      // Each batch is inserted with insert_deduplication_token set to its batch id.
      // A MergeTree that is not replicated skips a repeated token only when
      // non_replicated_deduplication_window is above 0. With it, a batch replayed
      // from the spool after an insert whose reply was lost is stored once.
      `CREATE TABLE IF NOT EXISTS score_log (
        scored_at DateTime64(3, 'UTC'),
        request_id String,
        contact_key Nullable(String),
        as_of Nullable(DateTime64(3, 'UTC')),
        model_name LowCardinality(String),
        model_version LowCardinality(String),
        persona_id Int32,
        persona_distance Float64,
        churn_probability Float64,
        churn_band LowCardinality(String),
        result String,
        feature_names_hash LowCardinality(String),
        features Array(Float64)
      )
      ENGINE = MergeTree
      PARTITION BY toYYYYMM(scored_at)
      ORDER BY (model_name, model_version, scored_at)
      SETTINGS non_replicated_deduplication_window = 1000`,
    ],
  },
]

const LEDGER = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version UInt32,
  name String,
  applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version`

/** Applies every migration not yet recorded in `schema_migrations`; returns the versions applied. */
export async function applyMigrations(
  client: ClickHouseClient,
  migrations: Migration[] = MIGRATIONS,
): Promise<number[]> {
  await client.command({ query: LEDGER })
  const result = await client.query({
    query: 'SELECT DISTINCT version FROM schema_migrations',
    format: 'JSONEachRow',
  })
  const done = new Set((await result.json<{ version: number }>()).map((row) => row.version))
  const applied: number[] = []

  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (done.has(migration.version)) continue
    for (const statement of migration.statements) await client.command({ query: statement })
    await client.insert({
      table: 'schema_migrations',
      values: [{ version: migration.version, name: migration.name }],
      format: 'JSONEachRow',
    })
    applied.push(migration.version)
  }
  return applied
}
