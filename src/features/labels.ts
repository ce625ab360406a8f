import type { ClickHouseClient } from '@clickhouse/client'
import { engagedContactsSql } from './sql.ts'

const DAY_MS = 86_400_000

/**
 * Returns the contacts with a human open or click in the label window
 * (asOf, asOf + horizon], both ends in epoch ms: an engagement at exactly
 * `asOf` does not count and one at exactly `asOf + horizon` does. The
 * complement among eligible contacts is the churn label. Opens and clicks are
 * classified by the same rules as the features.
 *
 * NOTE: features count events strictly before `asOf`, so an event at exactly
 * `asOf` is in neither the features nor the label window.
 */
export async function findEngagedAfter(
  client: ClickHouseClient,
  asOfMs: number,
  horizonDays: number,
): Promise<Set<string>> {
  // Event times have millisecond precision, so (from, to] is [from + 1 ms, to + 1 ms).
  const from = Math.round(asOfMs) + 1
  const to = Math.round(asOfMs + horizonDays * DAY_MS) + 1
  const result = await client.query({
    query: engagedContactsSql(),
    query_params: { from, to },
    format: 'JSONEachRow',
  })
  return new Set((await result.json<{ contact_key: string }>()).map((row) => row.contact_key))
}

/**
 * Churn labels for `contactKeys`: 1 when the contact has no human engagement
 * in (asOf, asOf + horizon].
 */
export async function churnLabels(
  client: ClickHouseClient,
  contactKeys: string[],
  asOfMs: number,
  horizonDays: number,
): Promise<Uint8Array> {
  const engaged = await findEngagedAfter(client, asOfMs, horizonDays)
  return Uint8Array.from(contactKeys, (key) => (engaged.has(key) ? 0 : 1))
}
