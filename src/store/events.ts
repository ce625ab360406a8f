import type { ClickHouseClient } from '@clickhouse/client'
import type { IngestReject, NormalizedEvent } from '../events/types.ts'

export interface StoreEventsResult {
  /** Events written for the first time. */
  stored: number
  /** Events whose id was already stored or repeated in this batch. */
  duplicates: number
}

/** Formats epoch milliseconds the way a DateTime64(3, 'UTC') column parses them. */
export function toClickHouseTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '')
}

function toRow(event: NormalizedEvent) {
  return {
    event_id: event.eventId,
    provider: event.provider,
    contact_key: event.contactKey,
    campaign_id: event.campaignId,
    message_id: event.messageId,
    type: event.type,
    occurred_at: toClickHouseTime(event.occurredAtMs),
    url: event.url,
    user_agent: event.userAgent,
    ip: event.ip,
    machine_open: event.machineOpen,
    bounce_kind: event.bounceKind,
  }
}

const eventKey = (event: NormalizedEvent) => `${event.provider}\u0000${event.eventId}`

/** Returns the `provider\0event_id` keys of `events` that the table already holds. */
async function findStored(client: ClickHouseClient, events: NormalizedEvent[]): Promise<Set<string>> {
  const contacts = [...new Set(events.map((event) => event.contactKey))]
  const ids = [...new Set(events.map((event) => event.eventId))]
  const result = await client.query({
    // The contact filter uses the primary key, so this reads only those contacts' parts.
    query: `SELECT DISTINCT provider, event_id FROM events
            WHERE contact_key IN {contacts:Array(String)} AND event_id IN {ids:Array(String)}`,
    query_params: { contacts, ids },
    format: 'JSONEachRow',
  })
  const rows = await result.json<{ provider: string; event_id: string }>()
  return new Set(rows.map((row) => `${row.provider}\u0000${row.event_id}`))
}

/**
 * Writes events that are not yet stored. The same provider event id is
 * stored once however often it arrives; for writers racing on the same id the
 * table's ReplacingMergeTree engine collapses the copies when parts merge.
 */
export async function storeEvents(
  client: ClickHouseClient,
  events: NormalizedEvent[],
): Promise<StoreEventsResult> {
  if (events.length === 0) return { stored: 0, duplicates: 0 }

  const stored = await findStored(client, events)
  const fresh: NormalizedEvent[] = []
  for (const event of events) {
    const key = eventKey(event)
    if (stored.has(key)) continue
    stored.add(key)
    fresh.push(event)
  }

  if (fresh.length > 0) {
    await client.insert({
      table: 'events',
      values: fresh.map(toRow),
      format: 'JSONEachRow',
    })
  }
  return { stored: fresh.length, duplicates: events.length - fresh.length }
}

/** Appends rejected records with their reasons to `ingest_rejects`. */
export async function storeRejects(
  client: ClickHouseClient,
  rejects: IngestReject[],
  source: string,
): Promise<void> {
  if (rejects.length === 0) return
  await client.insert({
    table: 'ingest_rejects',
    values: rejects.map((reject) => ({ ...reject, source })),
    format: 'JSONEachRow',
  })
}

export interface ContactRecord {
  contactKey: string
  timeZone: string
  createdAtMs: number
}

/** Upserts contact attributes (the latest write of a key wins). */
export async function storeContacts(client: ClickHouseClient, contacts: ContactRecord[]): Promise<void> {
  if (contacts.length === 0) return
  await client.insert({
    table: 'contacts',
    values: contacts.map((contact) => ({
      contact_key: contact.contactKey,
      time_zone: contact.timeZone,
      created_at: toClickHouseTime(contact.createdAtMs),
    })),
    format: 'JSONEachRow',
  })
}
