import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseSes } from '../../../src/events/ses.ts'
import { PayloadParseError, type NormalizedEvent } from '../../../src/events/types.ts'
import { normalizedEvent } from '../../helpers/events.ts'

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/esp/${name}`, import.meta.url), 'utf8')

const REQUESTS: unknown[] = JSON.parse(fixture('ses-sns-requests.json'))

/** Returns a new copy of the SES event record inside the SNS request at `index`. */
function sesRecord(index: number) {
  return JSON.parse((REQUESTS[index] as { Message: string }).Message)
}

const MESSAGE_A = '0100019577aa0001-aaaaaaaa-1111-4aaa-8aaa-000000000001-000000'
const MESSAGE_B = '0100019577aa0002-bbbbbbbb-2222-4bbb-8bbb-000000000002-000000'
const MESSAGE_C = '0100019577aa0003-cccccccc-3333-4ccc-8ccc-000000000003-000000'
const IPHONE_UA =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148'

/** Builds an SES event with the fields most records share, then `fields`. */
function event(fields: Partial<NormalizedEvent>): NormalizedEvent {
  return normalizedEvent({
    provider: 'ses',
    contactKey: 'alex.doe+news@example.com',
    campaignId: 'spring-sale',
    messageId: MESSAGE_A,
    type: 'send',
    ...fields,
  })
}

/*
 * Event ids are sha256 prefixes over ["ses", contact, type, ms, "", message id, url], worked out
 * outside this code base. The campaign is left out of SES ids on purpose.
 */
const SEND = event({ eventId: '1ebdbfecaa4070fe587e1aa9b2cc66f4', occurredAtMs: 1741501800104 })
const DELIVERY = event({
  eventId: '43cd3cdb42497a0cd884d0846eba577a',
  type: 'delivered',
  occurredAtMs: 1741501805881, // 2025-03-09T06:30:05.881Z
})
const MACHINE_OPEN = event({
  eventId: 'ca4b2771b4cb14edd1e08ef5dfd8652a',
  type: 'open',
  occurredAtMs: 1741501809020,
  userAgent: 'Mozilla/5.0',
  ip: '203.0.113.17',
})

/** Expected outcome of each element of ses-sns-requests.json, fed as its own body. */
const EXPECTED: Array<{ events: NormalizedEvent[]; ignored: number; rejects?: string[] }> = [
  // [0] A SubscriptionConfirmation is ignored, even though its Message is not JSON.
  { events: [], ignored: 1 },
  { events: [SEND], ignored: 0 },
  { events: [DELIVERY], ignored: 0 },
  // SES does not mark machine opens, so this Apple proxy open stays false.
  { events: [MACHINE_OPEN], ignored: 0 },
  {
    events: [
      event({
        eventId: 'deba0d6aab24d994fe814cfe323f2d83',
        type: 'click',
        occurredAtMs: 1741501809950,
        url: 'https://shop.example.com/spring',
        userAgent:
          'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/80.0.3987.132 Safari/537.36',
        ip: '192.0.2.201',
      }),
    ],
    ignored: 0,
  },
  {
    events: [
      event({
        eventId: 'c7a70144abc6003f00092769c91441b8',
        type: 'open',
        occurredAtMs: 1741504440512, // 07:14:00.512Z
        userAgent: IPHONE_UA,
        ip: '198.51.100.61',
      }),
    ],
    ignored: 0,
  },
  {
    events: [
      event({
        eventId: '864d7e9b91fb6abd241e45472f1225c0',
        type: 'click',
        occurredAtMs: 1741504500003,
        url: 'https://shop.example.com/spring?utm_source=email',
        userAgent: IPHONE_UA,
        ip: '198.51.100.61',
      }),
    ],
    ignored: 0,
  },
  // [7] A permanent bounce gives one event per bounced recipient, not per destination.
  {
    events: [
      event({
        eventId: '83daee830636ce3ae514a4e69c407b5e',
        contactKey: 'gone.one@example.org',
        messageId: MESSAGE_B,
        type: 'bounce',
        occurredAtMs: 1741501807412,
        bounceKind: 'hard',
      }),
      event({
        eventId: '46d96ff0dcd5e83a97ffd723d29b03fa',
        contactKey: 'gone.two@example.org',
        messageId: MESSAGE_B,
        type: 'bounce',
        occurredAtMs: 1741501807412,
        bounceKind: 'hard',
      }),
    ],
    ignored: 0,
  },
  {
    events: [
      event({
        eventId: '19b0fdcf877e3dea85df53b366d85a82',
        contactKey: 'full.box@example.org',
        messageId: MESSAGE_C,
        type: 'bounce',
        occurredAtMs: 1741588260000, // 2025-03-10T06:31:00Z
        bounceKind: 'soft',
      }),
    ],
    ignored: 0,
  },
  {
    events: [
      event({
        // The feedback loop's user agent is the ISP's, not the recipient's, and is not kept.
        eventId: '313cbb4b621f2f474828d3647ad255d7',
        contactKey: 'zoe.mueller@example.net',
        messageId: MESSAGE_B,
        type: 'complaint',
        occurredAtMs: 1741507331000, // 08:02:11Z
      }),
    ],
    ignored: 0,
  },
  {
    events: [
      event({
        eventId: '9982ac5a3045a3144f6a16c9ef6fc5ef',
        contactKey: 'virus.test@example.com',
        messageId: '0100019577aa0004-00000000-7777-4000-8000-000000000007-000000',
        type: 'dropped',
        occurredAtMs: 1741501800104, // a Reject has no time of its own, so mail.timestamp
      }),
    ],
    ignored: 0,
  },
  {
    events: [
      event({
        eventId: 'c93622c3cc9949f1dda16bc44a1c5b1d',
        contactKey: 'full.box@example.org',
        messageId: MESSAGE_C,
        type: 'deferred',
        occurredAtMs: 1741502400095, // 06:40:00.095Z
      }),
    ],
    ignored: 0,
  },
  {
    events: [
      event({
        eventId: '1b1d063b9f68946457cbc8c5c1f034d1',
        type: 'unsubscribe',
        occurredAtMs: 1741504817910, // 07:20:17.910Z
      }),
    ],
    ignored: 0,
  },
  // [13] A Rendering Failure is rejected, so an operator sees the broken template.
  {
    events: [],
    ignored: 0,
    rejects: [
      'Message.failure',
      'failure: template "spring-sale-v2" failed to render, so SES sent no email ' +
        "(Attribute 'first_name' is not present in the rendering data.)",
    ],
  },
  // [14] An SNS retry of [2] has the same content, so the same id, and the store drops it.
  { events: [DELIVERY], ignored: 0 },
  // [15] The identity notification of the same delivery has no tags, so no campaign, but the
  // same id.
  { events: [{ ...DELIVERY, campaignId: '' }], ignored: 0 },
]

describe('ses adapter', () => {
  it('covers every fixture request', () => {
    expect(REQUESTS).toHaveLength(EXPECTED.length)
  })

  EXPECTED.forEach((expected, index) => {
    it(`maps request [${index}]`, () => {
      const result = parseSes(JSON.stringify(REQUESTS[index]))
      expect(result.events).toEqual(expected.events)
      expect(result.ignored).toBe(expected.ignored)
      const rejects = result.rejects.map((reject) => [reject.path, reject.reason])
      expect(rejects).toEqual(expected.rejects ? [expected.rejects] : [])
    })
  })

  it('maps the open notification file', () => {
    const result = parseSes(fixture('ses-sns-open-notification.json'))
    expect(result).toEqual({ events: [MACHINE_OPEN], rejects: [], ignored: 0, duplicates: 0 })
  })

  it('accepts a bare event record', () => {
    const result = parseSes(JSON.stringify(sesRecord(2)))
    expect(result).toEqual({ events: [DELIVERY], rejects: [], ignored: 0, duplicates: 0 })
  })

  it('accepts an array of bare records', () => {
    const records = [1, 2, 14].map(sesRecord)
    const result = parseSes(JSON.stringify(records))
    // [14] repeats [2] within one body, so it is returned once.
    expect(result.events).toEqual([SEND, DELIVERY])
  })

  it('ignores UnsubscribeConfirmation', () => {
    const body = JSON.stringify({ Type: 'UnsubscribeConfirmation', Message: 'not json' })
    expect(parseSes(body)).toEqual({ events: [], rejects: [], ignored: 1, duplicates: 0 })
  })

  it('ignores the SNS test notification', () => {
    const message = JSON.stringify({ notificationType: 'AmazonSnsSubscriptionSucceeded' })
    const body = JSON.stringify({ Type: 'Notification', Message: message })
    expect(parseSes(body)).toEqual({ events: [], rejects: [], ignored: 1, duplicates: 0 })
  })

  it('ignores an opt-in-only subscription change', () => {
    const record = sesRecord(12)
    record.subscription.newTopicPreferences = {
      unsubscribeAll: false,
      topicSubscriptionStatus: [{ topicName: 'weekly-deals', subscriptionStatus: 'OptIn' }],
    }
    expect(parseSes(JSON.stringify(record))).toEqual({
      events: [],
      rejects: [],
      ignored: 1,
      duplicates: 0,
    })
  })

  it('reads campaign_id before campaign', () => {
    const record = sesRecord(1)
    record.mail.tags.campaign_id = ['cid-7']
    expect(parseSes(JSON.stringify(record)).events[0]?.campaignId).toBe('cid-7')
    delete record.mail.tags
    expect(parseSes(JSON.stringify(record)).events[0]?.campaignId).toBe('')
  })
})

describe('ses adapter rejects', () => {
  const bounce = sesRecord(7)

  it('rejects only the bad recipient', () => {
    bounce.bounce.bouncedRecipients[1].emailAddress = 'not-an-address'
    const result = parseSes(JSON.stringify([bounce]))
    expect(result.events.map((item) => item.contactKey)).toEqual(['gone.one@example.org'])
    expect(result.rejects.map(({ path, reason }) => ({ path, reason }))).toEqual([
      {
        path: '[0].bounce.bouncedRecipients[1].emailAddress',
        reason:
          'bounce.bouncedRecipients[1].emailAddress: expected an email address, received "not-an-address"',
      },
    ])
  })

  it('names the field of bad records', () => {
    const good = sesRecord(2)
    const badTime = { ...good, delivery: { ...good.delivery, timestamp: 'yesterday' } }
    const noMail = { ...good, mail: undefined }
    const unknown = { ...good, eventType: 'Teleport' }
    const result = parseSes(JSON.stringify([badTime, good, noMail, unknown, 'text']))
    expect(result.events).toEqual([DELIVERY])
    expect(result.rejects.map(({ path, reason }) => [path, reason])).toEqual([
      [
        '[0].delivery.timestamp',
        'delivery.timestamp: expected an ISO 8601 time with an offset, received "yesterday"',
      ],
      ['[2].mail', 'mail: missing, expected the SES mail object'],
      [
        '[3].eventType',
        'eventType: unknown event type "Teleport", expected one of Send, Delivery, Open, Click, ' +
          'Bounce, Complaint, Reject, DeliveryDelay, Subscription, AmazonSnsSubscriptionSucceeded',
      ],
      ['[4]', 'expected an SNS message or an SES event record, received "text"'],
    ])
  })

  it('rejects a non-JSON Message', () => {
    const body = JSON.stringify({ Type: 'Notification', Message: 'hello' })
    const result = parseSes(body)
    expect(result.rejects).toEqual([
      {
        provider: 'ses',
        path: 'Message',
        reason: 'Message: expected an SES event record as JSON text, received "hello"',
        raw: body,
      },
    ])
  })

  it('rejects an unknown SNS type', () => {
    const result = parseSes(JSON.stringify({ Type: 'Telegram' }))
    expect(result.rejects[0]?.path).toBe('Type')
    expect(result.rejects[0]?.reason).toBe(
      'Type: expected an SNS message type (Notification, SubscriptionConfirmation or ' +
        'UnsubscribeConfirmation), received "Telegram"',
    )
  })

  it('rejects an object that is neither', () => {
    const result = parseSes(JSON.stringify({ hello: 'world' }))
    expect(result.rejects[0]?.path).toBe('')
    expect(result.rejects[0]?.reason).toMatch(/^expected an SNS message \(a Type field\)/)
  })
})

describe('ses adapter body errors', () => {
  it('throws for invalid JSON', () => {
    expect(() => parseSes('{"Type": ')).toThrow(PayloadParseError)
    expect(() => parseSes('Type=Notification')).toThrow(/^SES body is not valid JSON: /)
  })

  it('throws for a scalar body', () => {
    expect(() => parseSes('"Notification"')).toThrow(
      'SES body must be an SNS message, an SES event record or an array of them',
    )
  })
})
