/**
 * SendGrid Event Webhook adapter. One POST body is a JSON array of event objects, with custom
 * args (`campaign_id`, `contact_id`, …) as top-level fields of each event.
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
import { PayloadParseError, type AdapterResult, type EventType } from './types.ts'

/** SendGrid event names and our event types. */
const EVENT_NAMES: EventNameMap = {
  processed: 'send',
  delivered: 'delivered',
  open: 'open',
  click: 'click',
  bounce: 'bounce',
  dropped: 'dropped',
  deferred: 'deferred',
  spamreport: 'complaint',
  unsubscribe: 'unsubscribe',
  group_unsubscribe: 'unsubscribe',
  // A resubscribe has no event type of ours.
  group_resubscribe: null,
}

const category = z.union(
  [z.string(), z.array(z.string())],
  expecting('a string or an array of strings'),
)

const sendGridEvent = z.object({
  email: emailAddress(),
  timestamp: unixSeconds(),
  sg_event_id: optionalText(),
  sg_message_id: optionalText(),
  url: optionalText(),
  useragent: optionalText(),
  ip: optionalText(),
  sg_machine_open: z.unknown().optional(),
  type: optionalText(),
  campaign_id: optionalId(),
  campaign_ref: optionalId(),
  singlesend_id: optionalId(),
  marketing_campaign_id: optionalId(),
  category: category.optional(),
})

const sendGridClick = sendGridEvent.extend({ url: requiredText('a URL') })

type SendGridEvent = z.infer<typeof sendGridEvent>

function campaignOf(event: SendGridEvent): string {
  const categories = typeof event.category === 'string' ? [event.category] : event.category
  return firstNonEmpty(
    event.campaign_id,
    event.campaign_ref,
    event.singlesend_id,
    event.marketing_campaign_id,
    categories?.[0],
  )
}

/**
 * Some unsubscribe events arrive without `sg_event_id`. Those get a content hash id, which an
 * empty `eventId` requests.
 */
function toEvent(event: SendGridEvent, type: EventType): EventFields {
  return {
    eventId: event.sg_event_id,
    contactKey: event.email,
    campaignId: campaignOf(event),
    messageId: event.sg_message_id,
    type,
    occurredAtMs: event.timestamp,
    url: event.url,
    userAgent: event.useragent,
    ip: event.ip,
    machineOpen: event.sg_machine_open === true,
    // `type` is "bounce" for a permanent rejection and "blocked" for a temporary one. Without
    // `type` a bounce counts as hard, because SendGrid defines a bounce as permanent.
    bounceKind: event.type === 'blocked' ? 'soft' : 'hard',
  }
}

function addRecord(collector: ResultCollector, record: unknown, index: number): void {
  const base = `[${index}]`
  const raw = () => safeJson(record)
  if (!isJsonObject(record)) {
    collector.reject(base, expectedMessage('an event object', record), raw)
    return
  }

  const type = lookupEventType(collector, EVENT_NAMES, record.event, { base, field: 'event', raw })
  if (type === undefined) return

  const schema = type === 'click' ? sendGridClick : sendGridEvent
  const event = collector.parseRecord(schema, record, base, raw)
  if (event !== undefined) collector.addEvent(toEvent(event, type))
}

/** Parses one SendGrid Event Webhook body. Throws `PayloadParseError` unless it is a JSON array. */
export function parseSendGrid(body: string): AdapterResult {
  const records = parseJsonBody('sendgrid', body)
  if (!Array.isArray(records)) {
    const message = `${PROVIDER_NAMES.sendgrid} body must be a JSON array of events`
    throw new PayloadParseError('sendgrid', message)
  }
  const collector = new ResultCollector('sendgrid')
  records.forEach((record, index) => addRecord(collector, record, index))
  return collector.result()
}
