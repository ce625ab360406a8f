/**
 * Formats simulated events as the SNS HTTPS POST bodies that carry Amazon SES event-publishing
 * records: a `Notification` envelope whose `Message` is the JSON text of the SES record. Record
 * fields follow the SES developer guide's event-publishing contents (`eventType`, `mail`, and
 * `delivery`, `bounce`, `open`, `click` and so on).
 *
 * The frequent records (send, delivery, open, click) and the envelope are built as JSON text
 * with templates, for speed, and the `mail` object is built once per message. Ids and
 * timestamps, which use fixed alphabets, are inserted as they are. Every other string goes
 * through JSON.stringify, so the text stays valid JSON whatever the value contains.
 *
 * NOTE: `Signature` is placeholder text and `SigningCertURL` points at example.com, so a
 * receiver that verifies SNS signatures rejects these bodies. Verification must be off for them.
 */
import type { Campaign } from './campaigns.ts'
import type { Contact } from './contacts.ts'
import type { SimEvent } from './events.ts'
import {
  hash32,
  placeholderSignature,
  sesFeedbackId,
  sesMessageId,
  snsMessageId,
  type RunKeys,
} from './ids.ts'
import { DAY_MS } from './options.ts'

const ACCOUNT_ID = '111122223333'
const TOPIC_ARN = `arn:aws:sns:us-east-1:${ACCOUNT_ID}:ses-engagement-events`
const SOURCE = 'Example News <news@mail.example.com>'
const SOURCE_ARN = `arn:aws:ses:us-east-1:${ACCOUNT_ID}:identity/mail.example.com`
const SIGNING_CERT_URL =
  'https://sns.us-east-1.example.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem'
const UNSUBSCRIBE_URL =
  'https://sns.us-east-1.example.com/?Action=Unsubscribe&SubscriptionArn=' +
  `${TOPIC_ARN}:5f1c2a6e-0000-4000-8000-00000000c0de`
const REPORTING_MTA = 'a8-50.smtp-out.us-east-1.example.net'
/** Delay from the event to the SNS publish, below this many milliseconds. */
const MAX_PUBLISH_DELAY_MS = 900

const EVENT_TYPES: Record<SimEvent['type'], string> = {
  send: 'Send',
  deferred: 'DeliveryDelay',
  delivered: 'Delivery',
  bounce: 'Bounce',
  open: 'Open',
  click: 'Click',
  unsubscribe: 'Subscription',
  complaint: 'Complaint',
}

const quote = JSON.stringify as (value: string) => string

const ENVELOPE_TOPIC_FIELDS = `,"TopicArn":${quote(TOPIC_ARN)},"Subject":"Amazon SES Email Event Notification"`
const ENVELOPE_URL_FIELDS = `,"SigningCertURL":${quote(SIGNING_CERT_URL)},"UnsubscribeURL":${quote(UNSUBSCRIBE_URL)}`
const MAIL_SOURCE_FIELDS = `,"source":${quote(SOURCE)},"sourceArn":${quote(SOURCE_ARN)},"sendingAccountId":"${ACCOUNT_ID}"`

const TWO_DIGITS = Array.from({ length: 60 }, (_, n) => String(n).padStart(2, '0'))
const THREE_DIGITS = Array.from({ length: 1000 }, (_, n) => String(n).padStart(3, '0'))
const dayPrefixes = new Map<number, string>()

/** Formats UTC milliseconds like Date.toISOString, caching the date part of each day. */
export function isoTimestamp(ms: number): string {
  const day = Math.floor(ms / DAY_MS)
  let prefix = dayPrefixes.get(day)
  if (prefix === undefined) {
    prefix = new Date(day * DAY_MS).toISOString().slice(0, 11)
    dayPrefixes.set(day, prefix)
  }
  const msOfDay = ms - day * DAY_MS
  const hours = Math.floor(msOfDay / 3_600_000)
  const minutes = Math.floor(msOfDay / 60_000) % 60
  const seconds = Math.floor(msOfDay / 1000) % 60
  return (
    `${prefix}${TWO_DIGITS[hours]}:${TWO_DIGITS[minutes]}:${TWO_DIGITS[seconds]}` +
    `.${THREE_DIGITS[Math.floor(msOfDay) % 1000]}Z`
  )
}

function bounceObject(event: SimEvent, contact: Contact, feedbackId: string): object {
  const hard = event.bounceKind === 'hard'
  return {
    bounceType: hard ? 'Permanent' : 'Transient',
    bounceSubType: hard ? 'General' : 'MailboxFull',
    bouncedRecipients: [
      {
        emailAddress: contact.key,
        action: 'failed',
        status: hard ? '5.1.1' : '4.2.2',
        diagnosticCode: hard ? 'smtp; 550 5.1.1 user unknown' : 'smtp; 452 4.2.2 mailbox full',
      },
    ],
    timestamp: isoTimestamp(event.timeMs),
    feedbackId,
    reportingMTA: `dns; ${REPORTING_MTA}`,
  }
}

function deliveryDelayObject(event: SimEvent, contact: Contact): object {
  return {
    timestamp: isoTimestamp(event.timeMs),
    delayType: 'TransientCommunicationFailure',
    expirationTime: isoTimestamp(event.message.sentMs + DAY_MS),
    delayedRecipients: [
      {
        emailAddress: contact.key,
        status: '4.4.1',
        diagnosticCode: 'smtp; 421 4.4.1 Unable to connect to remote host',
      },
    ],
  }
}

function subscriptionObject(event: SimEvent, campaign: Campaign): object {
  const topicName = campaign.kind === 'promo' ? 'promotions' : 'newsletter'
  return {
    contactList: 'example-news',
    timestamp: isoTimestamp(event.timeMs),
    source: 'UnsubscribeHeader',
    newTopicPreferences: {
      unsubscribeAll: true,
      topicSubscriptionStatus: [{ topicName, subscriptionStatus: 'OptOut' }],
    },
    oldTopicPreferences: {
      unsubscribeAll: false,
      topicSubscriptionStatus: [{ topicName, subscriptionStatus: 'OptIn' }],
    },
  }
}

function complaintObject(event: SimEvent, contact: Contact, feedbackId: string): object {
  return {
    complainedRecipients: [{ emailAddress: contact.key }],
    timestamp: isoTimestamp(event.timeMs),
    feedbackId,
    userAgent: 'ExampleISP Feedback Loop (V0.01)',
    complaintFeedbackType: 'abuse',
    arrivalDate: isoTimestamp(event.timeMs - 1000),
  }
}

function deliveryJson(event: SimEvent, contact: Contact): string {
  return (
    `{"timestamp":"${isoTimestamp(event.timeMs)}"` +
    `,"processingTimeMillis":${event.timeMs - event.message.sentMs}` +
    `,"recipients":[${quote(contact.key)}],"smtpResponse":"250 2.0.0 OK"` +
    `,"reportingMTA":${quote(REPORTING_MTA)}}`
  )
}

function openJson(event: SimEvent): string {
  return (
    `{"ipAddress":${quote(event.ip)},"timestamp":"${isoTimestamp(event.timeMs)}"` +
    `,"userAgent":${quote(event.userAgent)}}`
  )
}

function clickJson(event: SimEvent): string {
  return (
    `{"ipAddress":${quote(event.ip)},"link":${quote(event.url)}` +
    `,"linkTags":{"link_name":["link-${event.linkIndex + 1}"]}` +
    `,"timestamp":"${isoTimestamp(event.timeMs)}","userAgent":${quote(event.userAgent)}}`
  )
}

/** Returns `"name":{...}`, the record's event-specific object such as `delivery`, as JSON text. */
function eventObjectJson(
  event: SimEvent,
  contact: Contact,
  campaign: Campaign,
  keys: RunKeys,
): string {
  switch (event.type) {
    case 'send':
      return '"send":{}'
    case 'deferred':
      return `"deliveryDelay":${JSON.stringify(deliveryDelayObject(event, contact))}`
    case 'delivered':
      return `"delivery":${deliveryJson(event, contact)}`
    case 'bounce': {
      const feedbackId = sesFeedbackId(keys, event.message, event.ordinal, event.timeMs)
      return `"bounce":${JSON.stringify(bounceObject(event, contact, feedbackId))}`
    }
    case 'open':
      return `"open":${openJson(event)}`
    case 'click':
      return `"click":${clickJson(event)}`
    case 'unsubscribe':
      return `"subscription":${JSON.stringify(subscriptionObject(event, campaign))}`
    case 'complaint': {
      const feedbackId = sesFeedbackId(keys, event.message, event.ordinal, event.timeMs)
      return `"complaint":${JSON.stringify(complaintObject(event, contact, feedbackId))}`
    }
  }
}

function mailJson(event: SimEvent, contact: Contact, campaign: Campaign, keys: RunKeys): string {
  const { message } = event
  return (
    `{"timestamp":"${isoTimestamp(message.sentMs)}"` +
    `,"messageId":${quote(sesMessageId(keys, message))}` +
    `${MAIL_SOURCE_FIELDS},"destination":[${quote(contact.key)}]` +
    `,"tags":{"campaign_id":[${quote(campaign.id)}]` +
    `,"category":${JSON.stringify(campaign.categories)}}}`
  )
}

/** Escapes JSON text for use inside a JSON string, without the surrounding quotes. */
function escapeForString(json: string): string {
  return quote(json).slice(1, -1)
}

const ESCAPED_RECORD_STARTS = Object.fromEntries(
  Object.entries(EVENT_TYPES).map(([type, name]) => [
    type,
    escapeForString(`{"eventType":"${name}","mail":`),
  ]),
) as Record<SimEvent['type'], string>

/**
 * Returns the SES record of the event as escaped JSON text, ready to sit between the quotes of
 * the SNS `Message` field. The escaped `mail` object is cached on the message.
 */
function escapedSesRecord(
  event: SimEvent,
  contact: Contact,
  campaign: Campaign,
  keys: RunKeys,
): string {
  const { message } = event
  if (message.formatted === '') {
    message.formatted = escapeForString(mailJson(event, contact, campaign, keys))
  }
  const eventObject = escapeForString(eventObjectJson(event, contact, campaign, keys))
  return `${ESCAPED_RECORD_STARTS[event.type]}${message.formatted},${eventObject}}`
}

/**
 * Formats the JSON text of the SNS Notification body that carries one event. The publish time
 * follows the event by under a second but never passes `endMs`, so every timestamp stays inside
 * the window.
 */
export function formatSnsNotification(
  event: SimEvent,
  contact: Contact,
  campaign: Campaign,
  keys: RunKeys,
  endMs: number,
): string {
  const { message, ordinal } = event
  const delayMs = hash32(keys.padding, message.contactIndex, ordinal) % MAX_PUBLISH_DELAY_MS
  const publishedMs = Math.min(endMs, event.timeMs + delayMs)
  return (
    `{"Type":"Notification","MessageId":"${snsMessageId(keys, message, ordinal)}"` +
    `${ENVELOPE_TOPIC_FIELDS},"Message":"${escapedSesRecord(event, contact, campaign, keys)}"` +
    `,"Timestamp":"${isoTimestamp(publishedMs)}","SignatureVersion":"1"` +
    `,"Signature":"${placeholderSignature(keys, message, ordinal)}"${ENVELOPE_URL_FIELDS}}`
  )
}
