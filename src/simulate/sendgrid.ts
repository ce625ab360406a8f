/**
 * Formats simulated events as SendGrid Event Webhook records (one JSON object per event, posted
 * in arrays). Field names follow SendGrid's Event Webhook reference: `processed`, `deferred`,
 * `delivered`, `bounce` (`type` 'bounce' for hard, 'blocked' for soft), `open`
 * (`sg_machine_open`), `click`, `unsubscribe` and `spamreport`, with the custom argument
 * `campaign_id` at the top level.
 *
 * Records are built as JSON text with templates, because JSON.stringify of whole objects was the
 * largest cost of a run, and the fields shared by a message's events are built once per message.
 * Every string value goes through JSON.stringify, so the text is valid JSON whatever it contains.
 */
import type { Campaign } from './campaigns.ts'
import type { Contact } from './contacts.ts'
import { SENDING_IP } from './devices.ts'
import type { SimEvent, SimEventType } from './events.ts'
import { sendgridEventId, sendgridMessageId, type RunKeys } from './ids.ts'

const EVENT_NAMES: Record<SimEventType, string> = {
  send: 'processed',
  deferred: 'deferred',
  delivered: 'delivered',
  bounce: 'bounce',
  open: 'open',
  click: 'click',
  unsubscribe: 'unsubscribe',
  complaint: 'spamreport',
}

const quote = JSON.stringify as (value: string) => string

/** Fields of the JSON text after the leading comma, from an object with fixed values. */
function fixedFields(fields: Record<string, string | number>): string {
  return `,${JSON.stringify(fields).slice(1, -1)}`
}

const DEFERRED_FIELDS = fixedFields({
  response: '451 4.7.1 Greylisted, try again later',
  attempt: '1',
})
const DELIVERED_FIELDS = fixedFields({ ip: SENDING_IP, response: '250 2.0.0 OK', tls: 1 })
const HARD_BOUNCE_FIELDS = fixedFields({
  ip: SENDING_IP,
  type: 'bounce',
  status: '5.1.1',
  reason: '550 5.1.1 The email account that you tried to reach does not exist.',
  bounce_classification: 'Invalid Address',
})
const SOFT_BOUNCE_FIELDS = fixedFields({
  ip: SENDING_IP,
  type: 'blocked',
  status: '4.2.2',
  reason: '452 4.2.2 The email account that you tried to reach is over quota.',
  bounce_classification: 'Mailbox Unavailable',
})

function smtpId(messageId: string): string {
  return `<${messageId.split('.')[0]}@ismtpd0001p1iad2.example.net>`
}

/**
 * Returns the fields that depend on the event type, each preceded by a comma. `messageId` is
 * needed for send events only.
 */
function typeFields(event: SimEvent, messageId: string): string {
  switch (event.type) {
    case 'send':
      return `,"smtp-id":${quote(smtpId(messageId))}`
    case 'deferred':
      return DEFERRED_FIELDS
    case 'delivered':
      return DELIVERED_FIELDS
    case 'bounce':
      return event.bounceKind === 'hard' ? HARD_BOUNCE_FIELDS : SOFT_BOUNCE_FIELDS
    case 'open':
      return (
        `,"useragent":${quote(event.userAgent)},"ip":${quote(event.ip)}` +
        `,"sg_machine_open":${event.actor === 'apple_proxy'},"sg_content_type":"html"`
      )
    case 'click':
      return (
        `,"useragent":${quote(event.userAgent)},"ip":${quote(event.ip)}` +
        `,"url":${quote(event.url)},"url_offset":{"index":${event.linkIndex},"type":"html"}`
      )
    case 'unsubscribe':
    case 'complaint':
      return ''
  }
}

/** Formats the fields shared by all events of a message, which the message caches. */
function messageFields(messageId: string, campaign: Campaign): string {
  return (
    `,"sg_message_id":${quote(messageId)}` +
    `,"category":${JSON.stringify(campaign.categories)},"campaign_id":${quote(campaign.id)}}`
  )
}

/** Formats one event as the JSON text of a SendGrid Event Webhook record. */
export function formatSendGridEvent(
  event: SimEvent,
  contact: Contact,
  campaign: Campaign,
  keys: RunKeys,
): string {
  const { message } = event
  // The message id is needed for the cache and for send events, which come first.
  const messageId =
    message.formatted === '' || event.type === 'send' ? sendgridMessageId(keys, message) : ''
  if (message.formatted === '') message.formatted = messageFields(messageId, campaign)
  const eventId = sendgridEventId(keys, message, event.ordinal)
  return (
    `{"email":${quote(contact.key)},"timestamp":${Math.floor(event.timeMs / 1000)}` +
    `,"event":"${EVENT_NAMES[event.type]}","sg_event_id":${quote(eventId)}` +
    `${typeFields(event, messageId)}${message.formatted}`
  )
}
