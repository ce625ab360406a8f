import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseSendGrid } from '../../../src/events/sendgrid.ts'
import { PayloadParseError, type NormalizedEvent } from '../../../src/events/types.ts'
import { normalizedEvent } from '../../helpers/events.ts'

const FIXTURE = new URL('../../fixtures/esp/sendgrid-event-webhook-batch.json', import.meta.url)

const MESSAGE_A = 'FAKEmsgA0001.filterdrecv-7f9c-1-67CD3E68-12.0'
const MESSAGE_B = 'FAKEmsgB0002.filterdrecv-7f9c-1-67CD3E68-13.0'
const IPHONE_UA =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148'
const CHROME_96_UA =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.110 Safari/537.36'

/** Builds an event with empty defaults for the fields most records lack, then `fields`. */
function event(fields: Partial<NormalizedEvent>): NormalizedEvent {
  return normalizedEvent({
    provider: 'sendgrid',
    contactKey: 'alex.doe+news@example.com',
    messageId: MESSAGE_A,
    type: 'send',
    ...fields,
  })
}

/** The fixture's events in body order. Record [15] repeats [3] and is dropped. */
const EXPECTED: NormalizedEvent[] = [
  event({
    eventId: 'Y2xpY2staHVtYW4tMDAwMS1leGFtcGxl',
    campaignId: 'spring-sale', // campaign_ref, as there is no campaign_id
    type: 'click',
    occurredAtMs: 1741504500000, // 2025-03-09T07:15:00Z
    url: 'https://shop.example.com/spring?utm_source=email&utm_campaign=spring-sale',
    userAgent: IPHONE_UA,
    ip: '198.51.100.61',
  }),
  event({
    eventId: 'cHJvY2Vzc2VkLTAwMDEtZXhhbXBsZS1mYWtl',
    campaignId: 'spring-sale', // campaign_ref comes before singlesend_id
    type: 'send',
    occurredAtMs: 1741501800000, // 06:30:00Z
  }),
  event({
    eventId: 'ZGVmZXJyZWQtMDAwMS1leGFtcGxlLWZha2U',
    campaignId: 'newsletter', // first category
    type: 'deferred',
    occurredAtMs: 1741501804000,
  }),
  event({
    eventId: 'ZGVsaXZlcmVkLTAtMDAwMS1leGFtcGxlLWZha2U',
    campaignId: 'spring-sale',
    type: 'delivered',
    occurredAtMs: 1741502110000,
    // `ip` on a delivery is SendGrid's sending IP, so it is not kept.
  }),
  event({
    eventId: 'b3Blbi1tYWNoaW5lLTAwMDEtZXhhbXBsZQ',
    campaignId: 'newsletter',
    type: 'open',
    occurredAtMs: 1741502112000,
    userAgent: 'Mozilla/5.0',
    ip: '203.0.113.17',
    machineOpen: true,
  }),
  event({
    eventId: 'Y2xpY2stc2Nhbm5lci0wMDAyLWEtZXhhbXBsZQ',
    contactKey: 'zoe.mueller@example.net',
    campaignId: 'newsletter', // category as a plain string
    messageId: MESSAGE_B,
    type: 'click',
    occurredAtMs: 1741502133000,
    url: 'https://shop.example.com/spring',
    userAgent: CHROME_96_UA,
    ip: '192.0.2.201',
  }),
  event({
    eventId: 'Y2xpY2stc2Nhbm5lci0wMDAyLWItZXhhbXBsZQ',
    contactKey: 'zoe.mueller@example.net',
    campaignId: 'newsletter',
    messageId: MESSAGE_B,
    type: 'click',
    occurredAtMs: 1741502133000,
    url: 'https://shop.example.com/unsubscribe-preferences',
    userAgent: CHROME_96_UA,
    ip: '192.0.2.201',
  }),
  event({
    eventId: 'ZGVsaXZlcmVkLTAtMDAwMi1leGFtcGxlLWZha2U',
    contactKey: 'zoe.mueller@example.net',
    campaignId: 'newsletter',
    messageId: MESSAGE_B,
    type: 'delivered',
    occurredAtMs: 1741502130000,
  }),
  event({
    eventId: 'b3Blbi1odW1hbi0wMDAxLWV4YW1wbGUtZmFrZQ',
    campaignId: 'newsletter',
    type: 'open',
    occurredAtMs: 1741504440000,
    userAgent: IPHONE_UA,
    ip: '198.51.100.61',
  }),
  event({
    eventId: 'Ym91bmNlLTAwMDMtZXhhbXBsZS1mYWtlLWlk',
    contactKey: 'no-such-user@example.org',
    campaignId: 'newsletter',
    messageId: 'FAKEmsgC0003.filterdrecv-7f9c-1-67CD3E68-14.0',
    type: 'bounce',
    occurredAtMs: 1741501806000,
    bounceKind: 'hard',
  }),
  event({
    eventId: 'YmxvY2tlZC0wMDA0LWV4YW1wbGUtZmFrZS1pZA',
    contactKey: 'blocked.user@example.org',
    messageId: 'FAKEmsgD0004.filterdrecv-7f9c-1-67CD3E68-15.0',
    type: 'bounce',
    occurredAtMs: 1741501807000,
    bounceKind: 'soft',
  }),
  event({
    eventId: 'ZHJvcHBlZC0wMDA1LWV4YW1wbGUtZmFrZS1pZA',
    contactKey: 'old.bounce@example.org',
    campaignId: 'newsletter',
    messageId: 'FAKEmsgE0005.filterdrecv-7f9c-1-67CD3E68-16.0',
    type: 'dropped',
    occurredAtMs: 1741501801000,
  }),
  event({
    eventId: 'c3BhbXJlcG9ydC0wMDAyLWV4YW1wbGUtZmFrZQ',
    contactKey: 'zoe.mueller@example.net',
    campaignId: 'newsletter',
    messageId: MESSAGE_B,
    type: 'complaint',
    occurredAtMs: 1741502700000,
  }),
  event({
    // No sg_event_id, so the id is the sha256 content hash prefix.
    eventId: 'bbee580a80efb8da6bafcfb93a19ac55',
    contactKey: 'quiet.reader@example.com',
    campaignId: 'newsletter',
    messageId: 'FAKEmsgF0006.filterdrecv-7f9c-1-67CD3E68-17.0',
    type: 'unsubscribe',
    occurredAtMs: 1741503000000,
  }),
  event({
    eventId: 'Z3JvdXBfdW5zdWJzY3JpYmUtMDAwNi1leGFtcGxl',
    contactKey: 'quiet.reader@example.com',
    messageId: 'FAKEmsgF0006.filterdrecv-7f9c-1-67CD3E68-17.0',
    type: 'unsubscribe',
    occurredAtMs: 1741503005000,
    // The unsubscribe page URL is not kept, because only clicks carry a URL.
    userAgent:
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15',
    ip: '198.51.100.88',
  }),
]

describe('sendgrid adapter', () => {
  const result = parseSendGrid(readFileSync(FIXTURE, 'utf8'))

  it('maps every fixture record', () => {
    expect(result.events).toHaveLength(EXPECTED.length)
    EXPECTED.forEach((expected, index) => {
      expect(result.events[index], `event ${index}`).toEqual(expected)
    })
  })

  it('keeps the fixture free of rejects', () => {
    expect(result.rejects).toEqual([])
    expect(result.ignored).toBe(0)
  })

  it('drops a repeated sg_event_id', () => {
    // The fixture's last record repeats a delivered event's sg_event_id.
    expect(result.duplicates).toBe(1)
    const ids = result.events.map((item) => item.eventId)
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids.filter((id) => id === 'ZGVsaXZlcmVkLTAtMDAwMS1leGFtcGxlLWZha2U')).toHaveLength(1)
  })

  it('maps a machine open by sg_machine_open', () => {
    const opens = result.events.filter((item) => item.type === 'open')
    expect(opens.map((item) => item.machineOpen)).toEqual([true, false])
  })

  it('ignores group_resubscribe', () => {
    const resubscribe = { email: 'a@example.com', timestamp: 1741503005, asm_group_id: 42 }
    const body = JSON.stringify([{ ...resubscribe, event: 'group_resubscribe' }])
    expect(parseSendGrid(body)).toEqual({ events: [], rejects: [], ignored: 1, duplicates: 0 })
  })

  it('reads campaign ids in priority order', () => {
    const base = { email: 'a@example.com', timestamp: 1741501800, event: 'processed' }
    const body = JSON.stringify([
      { ...base, sg_event_id: 'e1', campaign_id: 'cid', campaign_ref: 'ref', category: 'cat' },
      { ...base, sg_event_id: 'e2', singlesend_id: 'ss', marketing_campaign_id: 7 },
      { ...base, sg_event_id: 'e3', marketing_campaign_id: 7, category: ['cat'] },
      { ...base, sg_event_id: 'e4', category: ['first', 'second'] },
      { ...base, sg_event_id: 'e5' },
    ])
    const campaigns = parseSendGrid(body).events.map((item) => item.campaignId)
    expect(campaigns).toEqual(['cid', 'ss', '7', 'first', ''])
  })

  it('counts an untyped bounce as hard', () => {
    const body = JSON.stringify([
      { email: 'a@example.com', timestamp: 1741501806, event: 'bounce', sg_event_id: 'b1' },
    ])
    expect(parseSendGrid(body).events[0]?.bounceKind).toBe('hard')
  })
})

describe('sendgrid adapter rejects', () => {
  const good = { email: 'a@example.com', timestamp: 1741501800, event: 'delivered' }
  const records = [
    { ...good, sg_event_id: 'ok-1' },
    { ...good, sg_event_id: 'no-email', email: undefined },
    { ...good, sg_event_id: 'bad-email', email: 'not an address' },
    { ...good, sg_event_id: 'bad-time', timestamp: 'yesterday' },
    { ...good, sg_event_id: 'ms-time', timestamp: 1741501800000 },
    { ...good, sg_event_id: 'bad-type', event: 'teleported' },
    { ...good, sg_event_id: 'ok-2', event: 'open' },
    { ...good, sg_event_id: 'no-url', event: 'click' },
    42,
  ]
  const result = parseSendGrid(JSON.stringify(records))

  it('keeps the valid records', () => {
    expect(result.events.map((item) => item.eventId)).toEqual(['ok-1', 'ok-2'])
  })

  it('names each reject path and reason', () => {
    const rejects = result.rejects.map(({ path, reason }) => ({ path, reason }))
    expect(rejects).toEqual([
      { path: '[1].email', reason: 'email: missing, expected an email address' },
      {
        path: '[2].email',
        reason: 'email: expected an email address, received "not an address"',
      },
      {
        path: '[3].timestamp',
        reason: 'timestamp: expected a Unix time in seconds, received "yesterday"',
      },
      {
        path: '[4].timestamp',
        reason:
          'timestamp: expected a time between 2000-01-01 and 2100-01-01 UTC, received 1741501800000',
      },
      {
        path: '[5].event',
        reason:
          'event: unknown event type "teleported", expected one of processed, delivered, open, ' +
          'click, bounce, dropped, deferred, spamreport, unsubscribe, group_unsubscribe, group_resubscribe',
      },
      { path: '[7].url', reason: 'url: missing, expected a URL' },
      { path: '[8]', reason: 'expected an event object, received 42' },
    ])
  })

  it('keeps the raw record text', () => {
    expect(result.rejects[2]?.raw).toBe(JSON.stringify(records[3]))
    expect(result.rejects.every((reject) => reject.provider === 'sendgrid')).toBe(true)
  })

  it('rejects an inherited property name', () => {
    const body = JSON.stringify([{ ...good, event: 'toString' }])
    expect(parseSendGrid(body).rejects[0]?.path).toBe('[0].event')
  })

  it('lists further invalid fields', () => {
    const body = JSON.stringify([{ event: 'open', timestamp: 'soon' }])
    expect(parseSendGrid(body).rejects[0]?.reason).toBe(
      'email: missing, expected an email address (also invalid: timestamp)',
    )
  })
})

describe('sendgrid adapter body errors', () => {
  it('throws for invalid JSON', () => {
    expect(() => parseSendGrid('[{"email": "a@example.com",')).toThrow(PayloadParseError)
    expect(() => parseSendGrid('[{"email": nope}]')).toThrow(/^SendGrid body is not valid JSON: /)
  })

  it('throws for a non-array body', () => {
    expect(() => parseSendGrid('{"email":"a@example.com"}')).toThrow(
      'SendGrid body must be a JSON array of events',
    )
  })

  it('accepts an empty array', () => {
    expect(parseSendGrid('[]')).toEqual({ events: [], rejects: [], ignored: 0, duplicates: 0 })
  })
})

describe('sendgrid adapter with deep nesting', () => {
  it('rejects a deeply nested record', () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`
    const good =
      '{"email":"ok@example.com","timestamp":1741504500,"event":"open","sg_event_id":"g1"}'
    const bad = `{"email":"x","timestamp":1741504500,"event":"open","sg_event_id":"b1","extra":${deep}}`
    const result = parseSendGrid(`[${good},${bad}]`)
    expect(result.events.map((event) => event.eventId)).toEqual(['g1'])
    expect(result.rejects).toHaveLength(1)
    expect(result.rejects[0]?.path).toBe('[1].email')
  })
})
