import type { ClickHouseClient } from '@clickhouse/client'
import { engagedContactsSql } from './sql.ts'

const DAY_MS = 86_400_000

/**
 * Returns the contacts with a human open or click in [asOf, asOf + horizon):
 * the complement among eligible contacts is the churn label. Opens and clicks
 * are classified by the same rules as the features.
 */
export async function findEngagedAfter(
  client: ClickHouseClient,
  asOfMs: number,
  horizonDays: number,
): Promise<Set<string>> {
  const result = await client.query({
    query: engagedContactsSql(),
    query_params: { from: Math.round(asOfMs), to: Math.round(asOfMs + horizonDays * DAY_MS) },
    format: 'JSONEachRow',
  })
  return new Set((await result.json<{ contact_key: string }>()).map((row) => row.contact_key))
}

/** Churn labels for `contactKeys`: 1 when the contact has no human engagement in the horizon. */
export async function churnLabels(
  client: ClickHouseClient,
  contactKeys: string[],
  asOfMs: number,
  horizonDays: number,
): Promise<Uint8Array> {
  const engaged = await findEngagedAfter(client, asOfMs, horizonDays)
  return Uint8Array.from(contactKeys, (key) => (engaged.has(key) ? 0 : 1))
}
