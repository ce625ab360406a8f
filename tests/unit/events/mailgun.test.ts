import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseMailgun } from '../../../src/events/mailgun.ts'
import { PayloadParseError, type NormalizedEvent } from '../../../src/events/types.ts'
import { normalizedEvent } from '../../helpers/events.ts'

const FIXTURE = new URL('../../fixtures/esp/mailgun-webhook-requests.json', import.meta.url)
const REQUESTS: Array<{ 'event-data': Record<string, unknown> }> = JSON.parse(
  readFileSync(FIXTURE, 'utf8'),
)

const IPHONE_UA =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148'

/** Builds a Mailgun event with the fields all fixture records share, then `fields`. */
function event(fields: Partial<NormalizedEvent>): NormalizedEvent {
  return normalizedEvent({
    provider: 'mailgun',
    contactKey: 'alex.doe+news@example.com',
    campaignId: 'spring-sale', // tags[0], as user-variables has no campaign_id
    messageId: '20250309063000.1.FAKE0000000001@mail.example.com',
    type: 'send',
    ...fields,
  })
}

const DELIVERED = event({
  eventId: 'D3l1v3r3dFAKE000000001',
  type: 'delivered',
  occurredAtMs: 1741501805153, // 1741501805.153125 s
})

/** The one event of each fixture request, fed as its own body. Float seconds round to ms. */
const EXPECTED: NormalizedEvent[] = [
  event({ eventId: 'Acc3pt3dFAKE0000000001', type: 'send', occurredAtMs: 1741501800218 }),
  DELIVERED,
  event({
    eventId: 'F41l3dP3rmFAKE00000001',
    contactKey: 'gone.one@example.org',
    type: 'bounce', // failed, severity permanent, reason bounce
    occurredAtMs: 1741501806390, // 1741501806.389832 s
    bounceKind: 'hard',
  }),
  event({
    eventId: 'F41l3dT3mpFAKE00000001',
    contactKey: 'full.box@example.org',
    type: 'deferred', // failed, severity temporary
    occurredAtMs: 1741501807660,
  }),
  event({
    eventId: '0p3n3dAppl3FAKE0000001',
    type: 'open',
    occurredAtMs: 1741501808090,
    userAgent: 'Mozilla/5.0',
    ip: '203.0.113.17',
    machineOpen: true, // client-info.bot "apple"
  }),
  event({
    eventId: '0p3n3dGma1lFAKE0000001',
    type: 'open',
    occurredAtMs: 1741501809500,
    userAgent:
      'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)',
    ip: '192.0.2.66',
    machineOpen: true, // client-info.bot "gmail"
  }),
  event({
    // bot "generic" marks a scanner, but the flag exists only for opens.
    eventId: 'Cl1ck3dB0tFAKE00000001',
    type: 'click',
    occurredAtMs: 1741501809950,
    url: 'https://shop.example.com/spring',
    userAgent:
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.136 Safari/537.36',
    ip: '192.0.2.201',
  }),
  event({
    eventId: '0p3n3dHum4nFAKE0000001',
    type: 'open',
    occurredAtMs: 1741504440512,
    userAgent: IPHONE_UA,
    ip: '198.51.100.61',
  }),
  event({
    eventId: 'Cl1ck3dHum4nFAKE000001',
    type: 'click',
    occurredAtMs: 1741504500003,
    url: 'https://shop.example.com/spring?utm_source=email',
    userAgent: IPHONE_UA,
    ip: '198.51.100.61',
  }),
  event({
    eventId: 'C0mpl41n3dFAKE00000001',
    contactKey: 'zoe.mueller@example.net',
    type: 'complaint',
    occurredAtMs: 1741507200050,
  }),
  event({
    eventId: 'Unsub5cr1b3dFAKE000001',
    contactKey: 'quiet.reader@example.com',
    type: 'unsubscribe',
    occurredAtMs: 1741506600421,
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0',
    ip: '198.51.100.88',
  }),
  // [11] is a retry of [1] with the same event id, which the store drops.
  DELIVERED,
]

/** A body whose event-data is the accepted fixture event with `changes` applied. */
function bodyWith(changes: Record<string, unknown>): string {
  const template = REQUESTS[0]
  return JSON.stringify({ ...template, 'event-data': { ...template?.['event-data'], ...changes } })
}

describe('mailgun adapter', () => {
  it('covers every fixture request', () => {
    expect(REQUESTS).toHaveLength(EXPECTED.length)
  })

  EXPECTED.forEach((expected, index) => {
    it(`maps request [${index}]`, () => {
      const result = parseMailgun(JSON.stringify(REQUESTS[index]))
      expect(result).toEqual({ events: [expected], rejects: [], ignored: 0, duplicates: 0 })
    })
  })

  it('classifies failed events', () => {
    const cases: Array<[string, string, string, string]> = [
      ['permanent', 'bounce', 'bounce', 'hard'],
      ['permanent', 'delayed-bounce', 'bounce', 'hard'],
      ['permanent', 'generic', 'bounce', 'hard'],
      ['permanent', 'blacklisted', 'bounce', 'soft'],
      ['permanent', 'old', 'bounce', 'soft'],
      ['permanent', 'espblock', 'bounce', 'soft'],
      ['permanent', 'suppress-bounce', 'dropped', ''],
      ['permanent', 'suppress-unsubscribe', 'dropped', ''],
      ['permanent', 'suppress-complaint', 'dropped', ''],
      ['temporary', 'greylisted', 'deferred', ''],
      ['temporary', 'espblock', 'deferred', ''],
    ]
    for (const [severity, reason, type, bounceKind] of cases) {
      const result = parseMailgun(bodyWith({ event: 'failed', severity, reason }))
      expect(result.events[0]?.type, `${severity} ${reason}`).toBe(type)
      expect(result.events[0]?.bounceKind, `${severity} ${reason}`).toBe(bounceKind)
    }
  })

  it('reads campaign ids in priority order', () => {
    const withVariable = bodyWith({ 'user-variables': { campaign_id: 'cid' } })
    expect(parseMailgun(withVariable).events[0]?.campaignId).toBe('cid')
    const withCampaign = bodyWith({ tags: [], campaigns: [{ id: 'mg-7', name: 'Spring' }] })
    expect(parseMailgun(withCampaign).events[0]?.campaignId).toBe('mg-7')
    expect(parseMailgun(bodyWith({ tags: [] })).events[0]?.campaignId).toBe('')
  })

  it('ignores storage events', () => {
    expect(parseMailgun(bodyWith({ event: 'stored' }))).toEqual({
      events: [],
      rejects: [],
      ignored: 1,
      duplicates: 0,
    })
  })

  it('maps rejected to dropped', () => {
    expect(parseMailgun(bodyWith({ event: 'rejected' })).events[0]?.type).toBe('dropped')
  })
})

describe('mailgun adapter rejects', () => {
  const cases: Array<[string, Record<string, unknown>, string, string]> = [
    [
      'missing recipient',
      { recipient: undefined },
      'event-data.recipient',
      'event-data.recipient: missing, expected an email address',
    ],
    [
      'bad timestamp',
      { timestamp: 'yesterday' },
      'event-data.timestamp',
      'event-data.timestamp: expected a Unix time in seconds, received "yesterday"',
    ],
    [
      'unknown event',
      { event: 'teleported' },
      'event-data.event',
      'event-data.event: unknown event type "teleported", expected one of accepted, rejected, ' +
        'delivered, failed, opened, clicked, unsubscribed, complained, stored, ' +
        'list_member_uploaded, list_member_upload_error, list_uploaded',
    ],
    [
      'click without url',
      { event: 'clicked' },
      'event-data.url',
      'event-data.url: missing, expected a URL',
    ],
  ]

  for (const [name, changes, path, reason] of cases) {
    it(`rejects a ${name}`, () => {
      const body = bodyWith(changes)
      const result = parseMailgun(body)
      expect(result.events).toEqual([])
      expect(result.rejects).toEqual([{ provider: 'mailgun', path, reason, raw: body }])
    })
  }

  it('rejects a body without event-data', () => {
    const result = parseMailgun(JSON.stringify({ signature: {} }))
    expect(result.rejects[0]?.path).toBe('event-data')
    expect(result.rejects[0]?.reason).toBe('event-data: missing, expected an object')
  })
})

describe('mailgun adapter body errors', () => {
  it('throws for a form-encoded body', () => {
    expect(() => parseMailgun('event=delivered&recipient=a%40example.com')).toThrow(
      PayloadParseError,
    )
    expect(() => parseMailgun('event=delivered')).toThrow(/^Mailgun body is not valid JSON: /)
  })

  it('throws for an array body', () => {
    expect(() => parseMailgun('[]')).toThrow(
      'Mailgun body must be a JSON object with an event-data field',
    )
  })
})
