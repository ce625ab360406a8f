/**
 * Postmark webhook adapter. One POST body is one JSON object whose `RecordType` names the event
 * (Delivery, Bounce, SpamComplaint, Open, Click, SubscriptionChange).
 *
 * Only bounces and spam complaints carry an id (`ID`). The other records get a content hash id.
 */
import { z } from 'zod'
import {
  emailAddress,
  expecting,
  firstNonEmpty,
  isoTime,
  optionalId,
  optionalText,
  requiredText,
  safeJson,
} from './fields.ts'
import {
  PROVIDER_NAMES,
  ResultCollector,
  isJsonObject,
  lookupEventType,
  parseJsonBody,
  type EventFields,
  type EventNameMap,
  type RawText,
} from './result.ts'
import { PayloadParseError, type AdapterResult, type EventType } from './types.ts'

/** Postmark record types and our event types. Bounce and SubscriptionChange are refined later. */
const RECORD_TYPES: EventNameMap = {
  Delivery: 'delivered',
  Bounce: 'bounce',
  SpamComplaint: 'complaint',
  Open: 'open',
  Click: 'click',
  SubscriptionChange: 'unsubscribe',
}

/**
 * Postmark bounce types and our event types, from Postmark's bounce type list. Replies such
 * as auto-responders and address-change notices mean the message arrived, so they are ignored.
 */
const BOUNCE_TYPES: EventNameMap = {
  HardBounce: 'bounce',
  BadEmailAddress: 'bounce',
  SoftBounce: 'bounce',
  Transient: 'bounce',
  DnsError: 'bounce',
  Blocked: 'bounce',
  SpamNotification: 'bounce',
  VirusNotification: 'bounce',
  DMARCPolicy: 'bounce',
  Unknown: 'bounce',
  // Postmark did not send the message, because the address is deactivated, the sender
  // signature is unconfirmed, or the SMTP API rejected it.
  ManuallyDeactivated: 'dropped',
  Unconfirmed: 'dropped',
  SMTPApiError: 'dropped',
  Unsubscribe: 'unsubscribe',
  SpamComplaint: 'complaint',
  AutoResponder: null,
  AddressChange: null,
  Subscribe: null,
  ChallengeVerification: null,
  OpenRelayTest: null,
  InboundError: null,
}

/** Bounce types that mean the address does not exist. Other bounces are soft. */
const HARD_BOUNCE_TYPES = new Set(['HardBounce', 'BadEmailAddress'])

/** Suppression reasons of a SubscriptionChange and the event each one reports. */
const SUPPRESSION_TYPES: ReadonlyMap<string, EventType> = new Map([
  ['HardBounce', 'bounce'],
  ['SpamComplaint', 'complaint'],
  ['ManualSuppression', 'unsubscribe'],
])

const common = {
  MessageID: optionalText(),
  Tag: optionalText(),
  Metadata: z.record(z.string(), z.unknown(), expecting('an object')).optional(),
}

const engagement = {
  ...common,
  Recipient: emailAddress(),
  ReceivedAt: isoTime(),
  UserAgent: optionalText(),
  Geo: z.object({ IP: optionalText() }, expecting('an object')).optional(),
}

/** Schemas of each record type. Field names differ by type (Recipient or Email, …At). */
const SCHEMAS = {
  Delivery: z.object({ ...common, Recipient: emailAddress(), DeliveredAt: isoTime() }),
  Bounce: z.object({
    ...common,
    ID: optionalId(),
    Type: optionalText(),
    Email: emailAddress(),
    BouncedAt: isoTime(),
  }),
  Open: z.object({ ...engagement, OriginalLink: optionalText() }),
  Click: z.object({ ...engagement, OriginalLink: requiredText('a URL') }),
  SubscriptionChange: z.object({
    ...common,
    Recipient: emailAddress(),
    ChangedAt: isoTime(),
    SuppressSending: z.boolean(expecting('a boolean')),
    SuppressionReason: optionalText(),
  }),
}

type CommonRecord = z.infer<z.ZodObject<typeof common>>
type RequiredFields = Pick<EventFields, 'contactKey' | 'type' | 'occurredAtMs'>

function campaignOf(record: CommonRecord): string {
  const metadata = record.Metadata ?? {}
  const campaignId = optionalId().safeParse(metadata.campaign_id).data
  const campaign = optionalId().safeParse(metadata.campaign).data
  return firstNonEmpty(campaignId, campaign, record.Tag)
}

/** Builds an event from the fields every record type shares and the fields given. */
function eventFrom(
  record: CommonRecord,
  fields: RequiredFields & Partial<EventFields>,
): EventFields {
  return {
    eventId: '',
    campaignId: campaignOf(record),
    messageId: record.MessageID,
    url: '',
    userAgent: '',
    ip: '',
    // Postmark does not mark opens made by mail privacy proxies.
    machineOpen: false,
    bounceKind: '',
    ...fields,
  }
}

function bounceEvent(
  collector: ResultCollector,
  raw: RawText,
  body: Record<string, unknown>,
): EventFields | undefined {
  const type = lookupEventType(collector, BOUNCE_TYPES, body.Type, { base: '', field: 'Type', raw })
  if (type === undefined) return undefined
  const record = collector.parseRecord(SCHEMAS.Bounce, body, '', raw)
  if (record === undefined) return undefined
  return eventFrom(record, {
    eventId: record.ID,
    contactKey: record.Email,
    type,
    occurredAtMs: record.BouncedAt,
    bounceKind: HARD_BOUNCE_TYPES.has(record.Type) ? 'hard' : 'soft',
  })
}

/**
 * Maps a SubscriptionChange to an event. `SuppressSending: false` reactivates the address,
 * which has no event type of ours, so it is ignored. Postmark also sends one when a hard bounce
 * or a spam complaint suppresses the address, and broadcast streams report bounces only this
 * way, so those reasons map to a bounce or a complaint rather than an unsubscribe.
 * NOTE: a stream that sends both the Bounce and the SubscriptionChange webhook stores such a
 * bounce twice, under two ids.
 */
function subscriptionEvent(
  collector: ResultCollector,
  raw: RawText,
  body: unknown,
): EventFields | undefined {
  const record = collector.parseRecord(SCHEMAS.SubscriptionChange, body, '', raw)
  if (record === undefined) return undefined
  if (!record.SuppressSending) {
    collector.ignore()
    return undefined
  }
  return eventFrom(record, {
    contactKey: record.Recipient,
    // A missing or unknown reason counts as an unsubscribe.
    type: SUPPRESSION_TYPES.get(record.SuppressionReason) ?? 'unsubscribe',
    occurredAtMs: record.ChangedAt,
    bounceKind: 'hard',
  })
}

function engagementEvent(
  collector: ResultCollector,
  raw: RawText,
  body: unknown,
  type: EventType,
): EventFields | undefined {
  const schema = type === 'click' ? SCHEMAS.Click : SCHEMAS.Open
  const record = collector.parseRecord(schema, body, '', raw)
  if (record === undefined) return undefined
  return eventFrom(record, {
    contactKey: record.Recipient,
    type,
    occurredAtMs: record.ReceivedAt,
    url: record.OriginalLink,
    userAgent: record.UserAgent,
    ip: record.Geo?.IP ?? '',
  })
}

function deliveryEvent(
  collector: ResultCollector,
  raw: RawText,
  body: unknown,
): EventFields | undefined {
  const record = collector.parseRecord(SCHEMAS.Delivery, body, '', raw)
  if (record === undefined) return undefined
  return eventFrom(record, {
    contactKey: record.Recipient,
    type: 'delivered',
    occurredAtMs: record.DeliveredAt,
  })
}

/** Returns the record's event, or `undefined` after it was rejected or ignored. */
function recordEvent(
  collector: ResultCollector,
  body: Record<string, unknown>,
): EventFields | undefined {
  const raw = () => safeJson(body)
  const at = { base: '', field: 'RecordType', raw }
  const type = lookupEventType(collector, RECORD_TYPES, body.RecordType, at)
  if (type === 'delivered') return deliveryEvent(collector, raw, body)
  if (type === 'bounce' || type === 'complaint') return bounceEvent(collector, raw, body)
  if (type === 'open' || type === 'click') return engagementEvent(collector, raw, body, type)
  if (type === 'unsubscribe') return subscriptionEvent(collector, raw, body)
  return undefined
}

/** Parses one Postmark webhook body. Throws `PayloadParseError` unless it is a JSON object. */
export function parsePostmark(body: string): AdapterResult {
  const parsed = parseJsonBody('postmark', body)
  if (!isJsonObject(parsed)) {
    const message = `${PROVIDER_NAMES.postmark} body must be a JSON object with a RecordType field`
    throw new PayloadParseError('postmark', message)
  }
  const collector = new ResultCollector('postmark')
  const event = recordEvent(collector, parsed)
  if (event !== undefined) collector.addEvent(event)
  return collector.result()
}
