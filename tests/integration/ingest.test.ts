import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/index.ts'
import { parsePayload } from '../../src/events/adapters.ts'
import { importContactsCsv } from '../../src/events/contacts.ts'
import { addCounts, emptyCounts, ingestBody } from '../../src/events/ingest.ts'
import { PayloadParseError, type Provider } from '../../src/events/types.ts'
import { openStore, queryRows, type Store } from '../../src/store/client.ts'
import { countRows, makeTempDir, readFixture, readFixtureBodies } from '../helpers/integration.ts'

/**
 * Events of the SendGrid fixture by type. Its 16 records give 15 events, because the last
 * one repeats the sg_event_id of an earlier `delivered` record. The bounces are one bounce
 * and one blocked, and one of the two unsubscribes has no sg_event_id.
 */
const SENDGRID_EVENTS_BY_TYPE: Record<string, number> = {
  bounce: 2,
  click: 3,
  complaint: 1,
  deferred: 1,
  delivered: 2,
  dropped: 1,
  open: 2,
  send: 1,
  unsubscribe: 2,
}
const SENDGRID_EVENTS = 15
// The batch has one more record: it repeats a delivered event's sg_event_id.
const SENDGRID_REPEATS = 1

interface ArrayFixture {
  file: string
  provider: Provider
  /** Events over all bodies, counting a repeat in another body each time. */
  events: number
  /** Distinct events over all bodies, counted by hand from the fixture. */
  distinct: number
  rejected: number
  ignored: number
}

const ARRAY_FIXTURES: ArrayFixture[] = [
  // Records 1 to 12 give 13 events because the Bounce has two recipients. The Delivery arrives
  // twice more, as an SNS retry and from the identity feed, so 13 of the 15 are distinct. The
  // Rendering Failure is rejected and the SubscriptionConfirmation is ignored.
  {
    file: 'ses-sns-requests.json',
    provider: 'ses',
    events: 15,
    distinct: 13,
    rejected: 1,
    ignored: 1,
  },
  // 12 bodies, the last repeats the `delivered` event id of the second.
  {
    file: 'mailgun-webhook-requests.json',
    provider: 'mailgun',
    events: 12,
    distinct: 11,
    rejected: 0,
    ignored: 0,
  },
  // 10 bodies: a bounce without Email is rejected, one SubscriptionChange (a resubscribe) is
  // ignored, and the last Open repeats the content of an earlier one.
  {
    file: 'postmark-webhook-requests.json',
    provider: 'postmark',
    events: 8,
    distinct: 7,
    rejected: 1,
    ignored: 1,
  },
]

interface ContactRow {
  contact_key: string
  time_zone: string
  created_at: string
}

interface RejectRow {
  provider: string
  path: string
  reason: string
  raw: string
}

let folder: string
let store: Store

beforeAll(async () => {
  folder = await makeTempDir('ingest-test')
  store = await openStore(loadConfig({ SEGMENTS_CHDB_PATH: join(folder, 'clickhouse') }).clickhouse)
})

afterAll(async () => {
  await store?.close()
  if (folder) await rm(folder, { recursive: true, force: true })
})

describe('ingestBody', () => {
  it('stores the SendGrid batch', async () => {
    const body = readFixture('sendgrid-event-webhook-batch.json')
    expect(parsePayload('sendgrid', body).events).toHaveLength(SENDGRID_EVENTS)

    const counts = await ingestBody(store.client, 'sendgrid', body, 'test:sendgrid')
    const byType = await queryRows<{ type: string; events: number }>(
      store.client,
      "SELECT toString(type) AS type, count() AS events FROM events WHERE provider = 'sendgrid' " +
        'GROUP BY type ORDER BY type',
    )

    expect(counts).toEqual({
      stored: SENDGRID_EVENTS,
      duplicates: SENDGRID_REPEATS,
      rejected: 0,
      ignored: 0,
    })
    expect(await countRows(store.client, 'events')).toBe(SENDGRID_EVENTS)
    expect(Object.fromEntries(byType.map((row) => [row.type, row.events]))).toEqual(
      SENDGRID_EVENTS_BY_TYPE,
    )
  })

  it('skips a repeated SendGrid batch', async () => {
    const body = readFixture('sendgrid-event-webhook-batch.json')
    const before = await countRows(store.client, 'events')

    const counts = await ingestBody(store.client, 'sendgrid', body, 'test:sendgrid')

    expect(counts).toEqual({
      stored: 0,
      duplicates: SENDGRID_EVENTS + SENDGRID_REPEATS,
      rejected: 0,
      ignored: 0,
    })
    expect(await countRows(store.client, 'events')).toBe(before)
  })

  it('keeps array fixtures idempotent', async () => {
    for (const fixture of ARRAY_FIXTURES) {
      const bodies = readFixtureBodies(fixture.file)
      const parsedIds = new Set(
        bodies.flatMap((body) => parsePayload(fixture.provider, body).events.map((e) => e.eventId)),
      )
      const where = 'provider = {provider:String}'
      const params = { provider: fixture.provider }

      const first = emptyCounts()
      for (const body of bodies) {
        addCounts(first, await ingestBody(store.client, fixture.provider, body, 'test:first'))
      }
      const afterFirst = await countRows(store.client, 'events', where, params)
      const second = emptyCounts()
      for (const body of bodies) {
        addCounts(second, await ingestBody(store.client, fixture.provider, body, 'test:second'))
      }
      const afterSecond = await countRows(store.client, 'events', where, params)

      const { file, events, distinct, rejected, ignored } = fixture
      expect(parsedIds.size, file).toBe(distinct)
      const duplicates = events - distinct
      expect(first, file).toEqual({ stored: distinct, duplicates, rejected, ignored })
      expect(afterFirst, file).toBe(distinct)
      expect(second, file).toEqual({ stored: 0, duplicates: events, rejected, ignored })
      expect(afterSecond, file).toBe(afterFirst)
    }
  })

  it('splits valid and invalid records', async () => {
    const email = 'mixed@example.com'
    const records = [
      { email, timestamp: 1741600000, event: 'open', sg_event_id: 'mixed-1' },
      { email: 'not an address', timestamp: 1741600001, event: 'open', sg_event_id: 'mixed-2' },
      { email, event: 'click', url: 'https://example.com/', sg_event_id: 'mixed-3' },
      { email, timestamp: 1741600002, event: 'delivered', sg_event_id: 'mixed-4' },
      { email, timestamp: 1741600003, event: 'bounced', sg_event_id: 'mixed-5' },
    ]
    const eventNames =
      'processed, delivered, open, click, bounce, dropped, deferred, spamreport, unsubscribe, ' +
      'group_unsubscribe, group_resubscribe'

    const counts = await ingestBody(store.client, 'sendgrid', JSON.stringify(records), 'test:mixed')
    const stored = await queryRows<{ event_id: string; type: string; occurred_at: string }>(
      store.client,
      "SELECT event_id, type, occurred_at FROM events WHERE contact_key = 'mixed@example.com' " +
        'ORDER BY event_id',
    )
    const rejects = await queryRows<RejectRow>(
      store.client,
      "SELECT provider, path, reason, raw FROM ingest_rejects WHERE source = 'test:mixed' " +
        'ORDER BY path',
    )

    expect(counts).toEqual({ stored: 2, duplicates: 0, rejected: 3, ignored: 0 })
    // 1741600000 s is 27 h 16 min 40 s after 2025-03-09T06:30:00Z (1741501800 s).
    expect(stored).toEqual([
      { event_id: 'mixed-1', type: 'open', occurred_at: '2025-03-10 09:46:40.000' },
      { event_id: 'mixed-4', type: 'delivered', occurred_at: '2025-03-10 09:46:42.000' },
    ])
    expect(rejects).toEqual([
      {
        provider: 'sendgrid',
        path: '[1].email',
        reason: 'email: expected an email address, received "not an address"',
        raw: JSON.stringify(records[1]),
      },
      {
        provider: 'sendgrid',
        path: '[2].timestamp',
        reason: 'timestamp: missing, expected a Unix time in seconds',
        raw: JSON.stringify(records[2]),
      },
      {
        provider: 'sendgrid',
        path: '[4].event',
        reason: `event: unknown event type "bounced", expected one of ${eventNames}`,
        raw: JSON.stringify(records[4]),
      },
    ])
  })

  it('rejects an unparseable body', async () => {
    const eventsBefore = await countRows(store.client, 'events')
    const rejectsBefore = await countRows(store.client, 'ingest_rejects')

    const ingest = ingestBody(store.client, 'sendgrid', '[{"email":', 'test:unparseable')

    await expect(ingest).rejects.toBeInstanceOf(PayloadParseError)
    await expect(ingest).rejects.toThrow(/^SendGrid body is not valid JSON: /)
    expect(await countRows(store.client, 'events')).toBe(eventsBefore)
    expect(await countRows(store.client, 'ingest_rejects')).toBe(rejectsBefore)
  })

  it('rejects a non-array SendGrid body', async () => {
    const eventsBefore = await countRows(store.client, 'events')
    const rejectsBefore = await countRows(store.client, 'ingest_rejects')
    const body = JSON.stringify({ email: 'single@example.com', timestamp: 1741600000 })

    const ingest = ingestBody(store.client, 'sendgrid', body, 'test:object')

    await expect(ingest).rejects.toThrow('SendGrid body must be a JSON array of events')
    expect(await countRows(store.client, 'events')).toBe(eventsBefore)
    expect(await countRows(store.client, 'ingest_rejects')).toBe(rejectsBefore)
  })
})

describe('importContactsCsv', () => {
  it('rejects a header with wrong columns', async () => {
    const before = await countRows(store.client, 'contacts')
    const body = 'email,tz,created_at\nada@example.com,UTC,2025-01-06T08:00:00Z\n'
    await expect(importContactsCsv(store.client, body, 'test:header')).rejects.toThrow(
      'Contacts CSV header has missing contact_key, time_zone and unknown "email", "tz"; ' +
        'expected the columns contact_key,time_zone,created_at',
    )
    expect(await countRows(store.client, 'contacts')).toBe(before)
  })

  it('rejects bad zone and time', async () => {
    const lines = [
      'contact_key,time_zone,created_at',
      'Ada@Example.com,Europe/Warsaw,2025-01-06T08:00:00Z',
      'bob@example.com,Mars/Olympus_Mons,2025-01-07T08:00:00Z',
      'cy@example.com,Asia/Tokyo,2025-02-30T00:00:00Z',
      'dee@example.com,,2025-01-08T09:30:00+02:00',
    ]

    const result = await importContactsCsv(store.client, `${lines.join('\n')}\n`, 'test:contacts')
    const contacts = await queryRows<ContactRow>(
      store.client,
      'SELECT contact_key, time_zone, created_at FROM contacts ORDER BY contact_key',
    )
    const rejects = await queryRows<RejectRow>(
      store.client,
      "SELECT provider, path, reason, raw FROM ingest_rejects WHERE source = 'test:contacts' " +
        'ORDER BY path',
    )

    expect(result.stored).toBe(2)
    expect(result.rejects.map((reject) => reject.path)).toEqual(['[1].time_zone', '[2].created_at'])
    expect(contacts).toEqual([
      {
        contact_key: 'ada@example.com',
        time_zone: 'Europe/Warsaw',
        created_at: '2025-01-06 08:00:00.000',
      },
      // 09:30 at +02:00 is 07:30 UTC.
      { contact_key: 'dee@example.com', time_zone: '', created_at: '2025-01-08 07:30:00.000' },
    ])
    expect(rejects).toEqual([
      {
        provider: 'csv',
        path: '[1].time_zone',
        reason:
          'time_zone: expected an IANA time zone such as Europe/Warsaw, ' +
          'received "Mars/Olympus_Mons"',
        raw: lines[2],
      },
      {
        provider: 'csv',
        path: '[2].created_at',
        reason:
          'created_at: expected an ISO 8601 time with an offset from 2000 to 2099, ' +
          'received "2025-02-30T00:00:00Z"',
        raw: lines[3],
      },
    ])
  })
})
