/**
 * Mailgun webhook adapter. One POST body is a JSON object with `signature` and `event-data`
 * fields. Timestamps are float seconds.
 *
 * The `signature` field is not verified here, because that needs the webhook signing key, so
 * the HTTP layer must check it first.
 */
import { z } from 'zod'
import {
  emailAddress,
  expectedMessage,
  expecting,
  firstNonEmpty,
  optionalId,
  optionalText,
  requiredText,
  unixSeconds,
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
} from './result.ts'
import { PayloadParseError, type AdapterResult, type BounceKind, type EventType } from './types.ts'

/** Mailgun event names and our event types. `failed` is refined by `classifyFailure`. */
const EVENT_NAMES: EventNameMap = {
  accepted: 'send',
  rejected: 'dropped',
  delivered: 'delivered',
  failed: 'bounce',
  opened: 'open',
  clicked: 'click',
  unsubscribed: 'unsubscribe',
  complained: 'complaint',
  // Storage and mailing-list events carry no information about a recipient's engagement.
  stored: null,
  list_member_uploaded: null,
  list_member_upload_error: null,
  list_uploaded: null,
}

const eventData = z.object(
  {
    id: optionalText(),
    timestamp: unixSeconds(),
    recipient: emailAddress(),
    tags: z.array(z.unknown(), expecting('an array of tags')).optional(),
    campaigns: z.array(z.unknown(), expecting('an array of campaigns')).optional(),
    'user-variables': z.record(z.string(), z.unknown(), expecting('an object')).optional(),
    message: z
      .object(
        { headers: z.object({ 'message-id': optionalText() }).optional() },
        expecting('an object'),
      )
      .optional(),
    severity: optionalText(),
    reason: optionalText(),
    ip: optionalText(),
    url: optionalText(),
    'client-info': z
      .object({ 'user-agent': optionalText(), bot: optionalText() }, expecting('an object'))
      .optional(),
  },
  expecting('the event-data object'),
)

const mailgunBody = z.object({ 'event-data': eventData })
const mailgunClick = z.object({ 'event-data': eventData.extend({ url: requiredText('a URL') }) })

type EventData = z.infer<typeof eventData>

/**
 * Permanent failure reasons that are no evidence against the address, so they count as soft.
 * Other permanent reasons (`bounce`, `delayed-bounce`, `generic`, unknown ones) count as hard.
 * NOTE: Mailgun publishes no complete list of reasons. These names come from its stats fields
 * and from webhook payloads.
 */
const SOFT_PERMANENT_REASONS = new Set([
  // Mailgun gave up after its retries ran out.
  'old',
  // The recipient's provider blocked the sending IP or domain.
  'espblock',
  'blacklisted',
])

/**
 * Maps a `failed` event to an event type and bounce kind by severity and reason, following
 * Mailgun's event-type docs. `suppress-bounce`, `suppress-unsubscribe` and `suppress-complaint`
 * mean that Mailgun never tried the address because it is on a suppression list.
 */
function classifyFailure(data: EventData): { type: EventType; bounceKind: BounceKind } {
  if (data.severity === 'temporary') return { type: 'deferred', bounceKind: '' }
  if (data.reason.startsWith('suppress-')) return { type: 'dropped', bounceKind: '' }
  const soft = SOFT_PERMANENT_REASONS.has(data.reason)
  return { type: 'bounce', bounceKind: soft ? 'soft' : 'hard' }
}

function campaignOf(data: EventData): string {
  const campaignId = optionalId().safeParse(data['user-variables']?.campaign_id)
  const tag = data.tags?.[0]
  const campaign = data.campaigns?.[0]
  const campaignRecordId = isJsonObject(campaign) ? optionalId().safeParse(campaign.id) : undefined
  return firstNonEmpty(
    campaignId.data,
    typeof tag === 'string' ? tag : undefined,
    campaignRecordId?.data,
  )
}

function toEvent(data: EventData, type: EventType, bounceKind: BounceKind): EventFields {
  const client = data['client-info']
  return {
    eventId: data.id,
    contactKey: data.recipient,
    campaignId: campaignOf(data),
    messageId: data.message?.headers?.['message-id'] ?? '',
    type,
    occurredAtMs: data.timestamp,
    url: data.url,
    userAgent: client?.['user-agent'] ?? '',
    ip: data.ip,
    // Mailgun's bot detection names the proxy or scanner (apple, gmail, generic), or is ''.
    machineOpen: (client?.bot ?? '') !== '',
    bounceKind,
  }
}

function addBody(collector: ResultCollector, body: Record<string, unknown>): void {
  const raw = () => safeJson(body)
  const record = body['event-data']
  if (!isJsonObject(record)) {
    collector.reject('event-data', `event-data: ${expectedMessage('an object', record)}`, raw)
    return
  }
  const name = record.event
  const at = { base: '', field: 'event-data.event', raw }
  const mapped = lookupEventType(collector, EVENT_NAMES, name, at)
  if (mapped === undefined) return

  const schema = mapped === 'click' ? mailgunClick : mailgunBody
  const parsed = collector.parseRecord(schema, body, '', raw)
  if (parsed === undefined) return
  const data = parsed['event-data']
  const { type, bounceKind } = name === 'failed' ? classifyFailure(data) : { type: mapped }
  collector.addEvent(toEvent(data, type, bounceKind ?? ''))
}

/** Parses one Mailgun webhook body. Throws `PayloadParseError` unless it is a JSON object. */
export function parseMailgun(body: string): AdapterResult {
  const parsed = parseJsonBody('mailgun', body)
  if (!isJsonObject(parsed)) {
    const message = `${PROVIDER_NAMES.mailgun} body must be a JSON object with an event-data field`
    throw new PayloadParseError('mailgun', message)
  }
  const collector = new ResultCollector('mailgun')
  addBody(collector, parsed)
  return collector.result()
}
