import type { ClickHouseClient } from '@clickhouse/client'
import { storeEvents, storeRejects } from '../store/events.ts'
import { parsePayload } from './adapters.ts'
import type { NormalizedEvent, Provider } from './types.ts'

export interface IngestCounts {
  stored: number
  duplicates: number
  rejected: number
  ignored: number
}

export const emptyCounts = (): IngestCounts => ({
  stored: 0,
  duplicates: 0,
  rejected: 0,
  ignored: 0,
})

export function addCounts(total: IngestCounts, part: IngestCounts): IngestCounts {
  total.stored += part.stored
  total.duplicates += part.duplicates
  total.rejected += part.rejected
  total.ignored += part.ignored
  return total
}

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
  const batcher = new IngestBatcher(client)
  await batcher.add(provider, body, source)
  return batcher.finish()
}

/**
 * Ingests many bodies, such as export files, in large batches. Each stored
 * batch costs one look-up of already stored ids, so large batches keep bulk
 * loads fast. The next bodies are parsed while a batch is being written.
 */
export class IngestBatcher {
  private pending: NormalizedEvent[] = []
  private writing: Promise<void> = Promise.resolve()
  private readonly counts = emptyCounts()

  constructor(
    private readonly client: ClickHouseClient,
    private readonly batchEvents = 20_000,
  ) {}

  /** Parses one body; throws `PayloadParseError` for a body that cannot be parsed, storing nothing of it. */
  async add(provider: Provider, body: string, source: string): Promise<void> {
    const result = parsePayload(provider, body)
    this.counts.rejected += result.rejects.length
    this.counts.ignored += result.ignored
    this.counts.duplicates += result.duplicates
    for (const event of result.events) this.pending.push(event)
    await storeRejects(this.client, result.rejects, source)
    if (this.pending.length >= this.batchEvents) await this.startWrite()
  }

  /** Stores what is pending and returns the counts of every body added. */
  async finish(): Promise<IngestCounts> {
    await this.startWrite()
    await this.writing
    return { ...this.counts }
  }

  /** Waits for the previous batch, then starts writing the pending events without waiting for them. */
  private async startWrite(): Promise<void> {
    await this.writing
    const batch = this.pending
    this.pending = []
    if (batch.length === 0) return
    const write = storeEvents(this.client, batch).then((stored) => {
      this.counts.stored += stored.stored
      this.counts.duplicates += stored.duplicates
    })
    // The failure surfaces at the next await of `writing`; this keeps it from being reported as unhandled meanwhile.
    write.catch(() => undefined)
    this.writing = write
  }
}
