import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parsePostmark } from '../../../src/events/postmark.ts'
import { PayloadParseError, type NormalizedEvent } from '../../../src/events/types.ts'
import { normalizedEvent } from '../../helpers/events.ts'

const FIXTURE = new URL('../../fixtures/esp/postmark-webhook-requests.json', import.meta.url)
const REQUESTS: Array<Record<string, unknown>> = JSON.parse(readFileSync(FIXTURE, 'utf8'))

const IPHONE_UA =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148'

/** Builds a Postmark event with the fields most fixture records share, then `fields`. */
function event(fields: Partial<NormalizedEvent>): NormalizedEvent {
  return normalizedEvent({
    provider: 'postmark',
    contactKey: 'alex.doe+news@example.com',
    campaignId: 'spring-sale',
    messageId: '2f1e0b7c-0000-4000-8000-000000000001',
    type: 'delivered',
    ...fields,
  })
}

/*
 * Ids without an `ID` field are sha256 prefixes over
 * ["postmark", contact, type, ms, campaign, message id, url], worked out outside this code base.
 */
const HUMAN_OPEN = event({
  eventId: '19798e6f5dda8f782008179a9110e7a0',
  type: 'open',
  occurredAtMs: 1741504440512, // 03:14:00.512-04:00, after the US switch to daylight time
  userAgent: IPHONE_UA,
  ip: '198.51.100.61',
})

/** Expected outcome of each fixture request, fed as its own body. */
const EXPECTED: Array<{ events: NormalizedEvent[]; ignored: number; reject?: string[] }> = [
  {
    events: [
      event({
        eventId: 'ebeb9d7e3844f59bb3b34a987ab36e19',
        occurredAtMs: 1741501805881, // 01:30:05.8810000-05:00
      }),
    ],
    ignored: 0,
  },
  {
    events: [
      event({
        eventId: '4242424242',
        contactKey: 'gone.one@example.org',
        messageId: '2f1e0b7c-0000-4000-8000-000000000002',
        type: 'bounce',
        occurredAtMs: 1741501806396, // .3963933 rounds to 396 ms
        bounceKind: 'hard',
      }),
    ],
    ignored: 0,
  },
  // [2] An Unsubscribe bounce without Email or BouncedAt cannot name a contact.
  {
    events: [],
    ignored: 0,
    reject: ['Email', 'Email: missing, expected an email address (also invalid: BouncedAt)'],
  },
  {
    // Postmark does not mark machine opens, so this Apple proxy open stays false.
    events: [
      event({
        eventId: '6cd93e5b297b3c8ee17c43e300d8fc4d',
        type: 'open',
        occurredAtMs: 1741501809020,
        userAgent: 'Mozilla/5.0',
        ip: '203.0.113.17',
      }),
    ],
    ignored: 0,
  },
  { events: [HUMAN_OPEN], ignored: 0 },
  {
    events: [
      event({
        eventId: 'd19df5ec5242c5e62b27c97ec85fb6a6',
        type: 'click',
        occurredAtMs: 1741504500003,
        url: 'https://shop.example.com/spring?utm_source=email',
        userAgent: IPHONE_UA,
        ip: '198.51.100.61',
      }),
    ],
    ignored: 0,
  },
  {
    events: [
      event({
        eventId: '4242424244',
        contactKey: 'zoe.mueller@example.net',
        campaignId: 'spring-sale', // Tag, as Metadata has no campaign
        messageId: '2f1e0b7c-0000-4000-8000-000000000004',
        type: 'complaint',
        occurredAtMs: 1741507331000, // 04:02:11-04:00
      }),
    ],
    ignored: 0,
  },
  {
    events: [
      event({
        eventId: 'e67aeb7a80c3c9dda7a2adc04e7bb727',
        type: 'unsubscribe',
        occurredAtMs: 1741504817000, // 07:20:17Z
      }),
    ],
    ignored: 0,
  },
  // [8] SuppressSending false reactivates the address, so the record is ignored.
  { events: [], ignored: 1 },
  // [9] repeats [4], so the content hash id is the same and the store drops it.
  { events: [HUMAN_OPEN], ignored: 0 },
]

const bounceWith = (changes: Record<string, unknown>) =>
  JSON.stringify({ ...REQUESTS[1], ...changes })

describe('postmark adapter', () => {
  it('covers every fixture request', () => {
    expect(REQUESTS).toHaveLength(EXPECTED.length)
  })

  EXPECTED.forEach((expected, index) => {
    it(`maps request [${index}]`, () => {
      const result = parsePostmark(JSON.stringify(REQUESTS[index]))
      expect(result.events).toEqual(expected.events)
      expect(result.ignored).toBe(expected.ignored)
      const rejects = result.rejects.map((reject) => [reject.path, reject.reason])
      expect(rejects).toEqual(expected.reject ? [expected.reject] : [])
    })
  })

  it('classifies bounce types', () => {
    const cases: Array<[string, string, string]> = [
      ['HardBounce', 'bounce', 'hard'],
      ['BadEmailAddress', 'bounce', 'hard'],
      ['SoftBounce', 'bounce', 'soft'],
      ['Transient', 'bounce', 'soft'],
      ['DnsError', 'bounce', 'soft'],
      ['Blocked', 'bounce', 'soft'],
      ['ManuallyDeactivated', 'dropped', ''],
      ['Unsubscribe', 'unsubscribe', ''],
      ['SpamComplaint', 'complaint', ''],
    ]
    for (const [bounceType, type, bounceKind] of cases) {
      const result = parsePostmark(bounceWith({ Type: bounceType }))
      expect(result.events[0]?.type, bounceType).toBe(type)
      expect(result.events[0]?.bounceKind, bounceType).toBe(bounceKind)
    }
  })

  it('ignores an auto-responder', () => {
    const result = parsePostmark(bounceWith({ Type: 'AutoResponder', Email: undefined }))
    expect(result).toEqual({ events: [], rejects: [], ignored: 1, duplicates: 0 })
  })

  it('maps suppression reasons', () => {
    const cases: Array<[string, string, string]> = [
      ['HardBounce', 'bounce', 'hard'],
      ['SpamComplaint', 'complaint', ''],
      ['ManualSuppression', 'unsubscribe', ''],
    ]
    for (const [reason, type, bounceKind] of cases) {
      const body = JSON.stringify({ ...REQUESTS[7], SuppressionReason: reason })
      const result = parsePostmark(body)
      expect(result.events[0]?.type, reason).toBe(type)
      expect(result.events[0]?.bounceKind, reason).toBe(bounceKind)
    }
  })

  it('reads Metadata campaign_id first', () => {
    const body = JSON.stringify({ ...REQUESTS[0], Metadata: { campaign_id: 'cid', campaign: 'x' } })
    expect(parsePostmark(body).events[0]?.campaignId).toBe('cid')
  })
})

describe('postmark adapter rejects', () => {
  it('rejects an unknown record type', () => {
    const body = JSON.stringify({ ...REQUESTS[0], RecordType: 'Teleport' })
    expect(parsePostmark(body).rejects).toEqual([
      {
        provider: 'postmark',
        path: 'RecordType',
        reason:
          'RecordType: unknown event type "Teleport", expected one of Delivery, Bounce, ' +
          'SpamComplaint, Open, Click, SubscriptionChange',
        raw: body,
      },
    ])
  })

  it('rejects a bad timestamp', () => {
    const body = JSON.stringify({ ...REQUESTS[0], DeliveredAt: '2025-03-09 01:30' })
    expect(parsePostmark(body).rejects[0]?.reason).toBe(
      'DeliveredAt: expected an ISO 8601 time with an offset, received "2025-03-09 01:30"',
    )
  })

  it('rejects a time without offset', () => {
    const body = JSON.stringify({ ...REQUESTS[3], ReceivedAt: '2025-03-09T01:30:09.02' })
    expect(parsePostmark(body).rejects[0]?.path).toBe('ReceivedAt')
  })

  it('rejects a click without link', () => {
    const body = JSON.stringify({ ...REQUESTS[5], OriginalLink: '' })
    expect(parsePostmark(body).rejects[0]?.reason).toBe('OriginalLink: expected a URL, received ""')
  })
})

describe('postmark adapter body errors', () => {
  it('throws for invalid JSON', () => {
    expect(() => parsePostmark('{RecordType: Open}')).toThrow(PayloadParseError)
    expect(() => parsePostmark('')).toThrow(/^Postmark body is not valid JSON: /)
  })

  it('throws for an array body', () => {
    expect(() => parsePostmark('[{}]')).toThrow(
      'Postmark body must be a JSON object with a RecordType field',
    )
  })
})
