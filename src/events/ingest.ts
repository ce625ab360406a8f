import type { ClickHouseClient } from '@clickhouse/client'
import { storeEvents, storeRejects } from '../store/events.ts'
import { parsePayload } from './adapters.ts'
import type { Provider } from './types.ts'

export interface IngestCounts {
  stored: number
  duplicates: number
  rejected: number
  ignored: number
}

export const emptyCounts = (): IngestCounts => ({ stored: 0, duplicates: 0, rejected: 0, ignored: 0 })

export function addCounts(total: IngestCounts, part: IngestCounts): IngestCounts {
  total.stored += part.stored
  total.duplicates += part.duplicates
  total.rejected += part.rejected
  total.ignored += part.ignored
  return total
}

const INSERT_CHUNK = 20_000

/**
 * Parses one request body or file with the provider's adapter, stores its
 * valid events and records its rejects. Throws `PayloadParseError`, storing
 * nothing, when the body cannot be parsed at all.
 */
export async function ingestBody(
  client: ClickHouseClient,
  provider: Provider,
  body: string,
  source: string,
): Promise<IngestCounts> {
  const result = parsePayload(provider, body)
  const counts = { ...emptyCounts(), rejected: result.rejects.length, ignored: result.ignored }

  for (let start = 0; start < result.events.length; start += INSERT_CHUNK) {
    const stored = await storeEvents(client, result.events.slice(start, start + INSERT_CHUNK))
    counts.stored += stored.stored
    counts.duplicates += stored.duplicates
  }
  await storeRejects(client, result.rejects, source)
  return counts
}
