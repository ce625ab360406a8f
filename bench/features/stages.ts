/**
 * Stage probes: parts and variants of the feature query, each run inside
 * chDB with `FORMAT Null` so no rows reach Node. The differences between
 * their times show which stage costs what. Three probes are fixed reference
 * queries over `events`. The rest are cut out of, or edited into, the current
 * `buildFeatureQuery` text, so they follow changes to it. A probe whose part
 * is missing from the current query is reported as skipped.
 */
import type { ClickHouseClient } from '@clickhouse/client'
import { listTimeZones } from '../../src/features/compute.ts'
import { buildFeatureQuery, zoneLiteral } from '../../src/features/sql.ts'
import { measure, median, mib, type Measurement } from './measure.ts'
import {
  aliasedSubquery,
  firstFromSubquery,
  leadingWith,
  replaceAll,
  withoutFinalOrderBy,
  withSingleZone,
} from './sql-parts.ts'

export interface Probe {
  name: string
  description: string
  /** SQL without a FORMAT clause, or undefined when the part it needs is missing from the current query. */
  sql: string | undefined
}

const BEFORE_CUTOFF = `occurred_at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')
  AND occurred_at < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`

/** Columns that the catalogue's counts, classification and times read from `events`. */
const USED_COLUMNS =
  'contact_key, message_id, type, occurred_at, user_agent, machine_open, bounce_kind'

/**
 * Engine settings worth trying on the feature query, as (probe suffix,
 * SETTINGS clause). `events` is sorted by contact_key first, so both
 * aggregation levels can aggregate in order of the key.
 */
const SETTING_VARIANTS: [string, string][] = [
  ['in_order', 'optimize_aggregation_in_order = 1'],
  ['sorting_merge_join', "join_algorithm = 'full_sorting_merge'"],
]

/** Builds the probes from the current feature query for the given zones. */
export function buildProbes(zones: string[], defaultZone: string): Probe[] {
  const full = buildFeatureQuery({ zones, defaultZone })
  const withClause = leadingWith(full)
  const aggregate = aliasedSubquery(full, 'a')
  const aggregateInput = aggregate === undefined ? undefined : firstFromSubquery(aggregate)
  const prefixed = (body: string | undefined) =>
    body === undefined ? undefined : `${withClause}${body}`
  const zoneLiterals = zones.filter((zone) => zone !== defaultZone).map(zoneLiteral)
  const singleZone = (sql: string | undefined) =>
    sql === undefined || zoneLiterals.length === 0 ? undefined : withSingleZone(sql, zoneLiterals)
  const withoutUniqExact = (sql: string | undefined) =>
    sql === undefined ? undefined : replaceAll(sql, /uniqExactIf\(\s*[\w.]+\s*,\s*/g, 'countIf(')

  return [
    {
      name: 'scan',
      description: `read the columns most features need (${USED_COLUMNS})`,
      sql: `SELECT ${USED_COLUMNS} FROM events WHERE ${BEFORE_CUTOFF}`,
    },
    {
      name: 'group_by_contact',
      description: 'bare GROUP BY contact_key with count()',
      sql: `SELECT contact_key, count() FROM events WHERE ${BEFORE_CUTOFF} GROUP BY contact_key`,
    },
    {
      name: 'group_by_message',
      description: 'bare GROUP BY (contact_key, message_id) with the delivery time',
      sql: `SELECT contact_key, message_id, minIf(toUnixTimestamp64Milli(occurred_at), type = 'delivered') AS delivered_ms
        FROM events WHERE ${BEFORE_CUTOFF} GROUP BY contact_key, message_id`,
    },
    {
      name: 'group_by_message_hash',
      description: 'group_by_message keyed by one UInt64 hash of (contact_key, message_id)',
      sql: `SELECT cityHash64(contact_key, message_id) AS message_key,
          minIf(toUnixTimestamp64Milli(occurred_at), type = 'delivered') AS delivered_ms
        FROM events WHERE ${BEFORE_CUTOFF} GROUP BY message_key`,
    },
    {
      name: 'group_by_message_in_order',
      description: 'group_by_message with optimize_aggregation_in_order = 1',
      sql: `SELECT contact_key, message_id, minIf(toUnixTimestamp64Milli(occurred_at), type = 'delivered') AS delivered_ms
        FROM events WHERE ${BEFORE_CUTOFF} GROUP BY contact_key, message_id
        SETTINGS optimize_aggregation_in_order = 1`,
    },
    {
      name: 'aggregate_input',
      description: 'the rows that the per-contact subquery (AS a) reads, without that aggregation',
      sql: prefixed(aggregateInput === undefined ? undefined : `SELECT * FROM (${aggregateInput})`),
    },
    {
      name: 'aggregate',
      description: 'the per-contact subquery (AS a) alone',
      sql: prefixed(aggregate),
    },
    {
      name: 'aggregate_no_uniq',
      description: 'aggregate with each uniqExactIf(x, c) replaced by countIf(c)',
      sql: withoutUniqExact(prefixed(aggregate)),
    },
    {
      name: 'aggregate_one_zone',
      description: 'aggregate with the per-zone multiIf replaced by its fallback branch',
      sql: singleZone(prefixed(aggregate)),
    },
    {
      name: 'full',
      description: 'the whole feature query',
      sql: full,
    },
    {
      name: 'full_one_zone',
      description: 'the whole query with the per-zone multiIf replaced by its fallback branch',
      sql: singleZone(full),
    },
    {
      name: 'full_no_uniq',
      description: 'the whole query with each uniqExactIf(x, c) replaced by countIf(c)',
      sql: withoutUniqExact(full),
    },
    {
      name: 'full_no_order',
      description: 'the whole query without its final ORDER BY',
      sql: withoutFinalOrderBy(full),
    },
    ...SETTING_VARIANTS.map(([name, settings]) => ({
      name: `full_${name}`,
      description: `the whole query with SETTINGS ${settings}`,
      sql: `${full}\nSETTINGS ${settings}`,
    })),
    ...SETTING_VARIANTS.map(([name, settings]) => ({
      name: `aggregate_${name}`,
      description: `aggregate with SETTINGS ${settings}`,
      sql: prefixed(aggregate === undefined ? undefined : `${aggregate}\nSETTINGS ${settings}`),
    })),
  ]
}

export interface ProbeResult {
  probe: Probe
  runs: Measurement<number>[]
  seconds: number
}

/** Runs the SQL with `FORMAT Null` (or the given format) and returns the bytes that came back. */
export async function execDiscarding(
  client: ClickHouseClient,
  sql: string,
  params: Record<string, unknown>,
  format = 'Null',
): Promise<number> {
  const result = await client.exec({ query: `${sql}\nFORMAT ${format}`, query_params: params })
  let bytes = 0
  for await (const chunk of result.stream) bytes += (chunk as Buffer).length
  return bytes
}

/** Runs every probe `repeats` times and prints one line per probe. */
export async function runProbes(
  client: ClickHouseClient,
  defaultZone: string,
  params: Record<string, unknown>,
  repeats: number,
): Promise<ProbeResult[]> {
  const probes = buildProbes(await listTimeZones(client), defaultZone)
  const results: ProbeResult[] = []
  for (const probe of probes) {
    if (probe.sql === undefined) {
      console.log(`stage ${probe.name}: skipped, the current feature query has no such part`)
      continue
    }
    const sql = probe.sql
    const runs: Measurement<number>[] = []
    for (let run = 0; run < repeats; run++) {
      runs.push(await measure(client, () => execDiscarding(client, sql, params)))
    }
    const seconds = median(runs.map((run) => run.seconds))
    const cpu = median(runs.map((run) => run.processCpuSeconds))
    const last = runs[runs.length - 1] as Measurement<number>
    const spills = last.counters.ExternalSortWritePart + last.counters.ExternalAggregationWritePart
    const peakRss = Math.max(...runs.map((run) => run.memory.rss))
    console.log(
      `stage ${probe.name}: ${seconds.toFixed(2)} s, CPU ${cpu.toFixed(2)} s (${(cpu / seconds).toFixed(2)} cores), ` +
        `load average ${last.loadAverage.toFixed(1)}, ${(last.counters.SelectedRows / 1e6).toFixed(1)}M rows read, ` +
        `${spills} spilled parts, peak RSS ${mib(peakRss)}: ${probe.description}`,
    )
    results.push({ probe, runs, seconds })
  }
  return results
}
