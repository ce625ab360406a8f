/**
 * Amazon SES adapter. A body is one SNS HTTPS message whose `Message` is an SES event record as
 * JSON text, or a bare SES event record, or a JSON array of either. Both event publishing
 * records (`eventType`) and identity feedback notifications (`notificationType`) are read.
 *
 * SNS signatures are not verified here, so the HTTP layer must check them first.
 */
import { z } from 'zod'
import { contentEventId } from './event-id.ts'
import { Invalid, expectedMessage, parseEmail, safeJson } from './fields.ts'
import {
  PROVIDER_NAMES,
  ResultCollector,
  bodyRecords,
  isJsonObject,
  joinPath,
  lookupEventType,
  parseJsonBody,
  type EventNameMap,
  type RawText,
} from './result.ts'
import {
  DETAILS,
  addressesAt,
  campaignOf,
  mailRecord,
  type MailRecord,
  type SesDetail,
} from './ses-record.ts'
import { PayloadParseError, type AdapterResult, type EventType } from './types.ts'

/** SES event names and our event types. Rendering failures are rejected before this lookup. */
const EVENT_NAMES: EventNameMap = {
  Send: 'send',
  Delivery: 'delivered',
  Open: 'open',
  Click: 'click',
  Bounce: 'bounce',
  Complaint: 'complaint',
  Reject: 'dropped',
  DeliveryDelay: 'deferred',
  Subscription: 'unsubscribe',
  // The test notification SES sends when an identity's feedback topic is set up.
  AmazonSnsSubscriptionSucceeded: null,
}

const RENDERING_FAILURE = 'Rendering Failure'

/** The schema for Send and Reject, which carry no detail that we read. */
const noDetail = z.object({}).transform((): SesDetail => ({}))

/** SNS message types that carry no SES event. The HTTP layer confirms subscriptions itself. */
const SNS_CONTROL_TYPES = new Set(['SubscriptionConfirmation', 'UnsubscribeConfirmation'])

/** The collector and the position of a record in the body, for rejects. */
interface RecordContext {
  collector: ResultCollector
  base: string
  raw: RawText
}

function rejectRenderingFailure(context: RecordContext, record: Record<string, unknown>): void {
  const failure = isJsonObject(record.failure) ? record.failure : {}
  const template = typeof failure.templateName === 'string' ? failure.templateName : ''
  const detail = typeof failure.errorMessage === 'string' ? failure.errorMessage : 'no message'
  const problem = `template ${JSON.stringify(template)} failed to render, so SES sent no email`
  const reason = `failure: ${problem} (${detail})`
  context.collector.reject(joinPath(context.base, ['failure']), reason, context.raw)
}

/**
 * Adds one event per recipient, each with a content hash id because SES records carry no
 * event id. The hash leaves the campaign out because identity notifications have no
 * `mail.tags`, and the same delivery reported by both feeds must get the same id. The SES
 * message id already makes the content unique, and an SNS retry of a record gets the same id.
 */
function addPerRecipient(
  context: RecordContext,
  type: EventType,
  mail: MailRecord,
  detail: SesDetail,
): void {
  const recipients = detail.recipients ?? addressesAt(['mail', 'destination'], mail.destination)
  for (const recipient of recipients) {
    const contactKey = parseEmail(recipient.address)
    if (contactKey instanceof Invalid) {
      const reason = `${joinPath('', recipient.path)}: ${contactKey.message}`
      context.collector.reject(joinPath(context.base, recipient.path), reason, context.raw)
      continue
    }
    const content = {
      contactKey,
      campaignId: '',
      messageId: mail.messageId,
      type,
      occurredAtMs: detail.occurredAtMs ?? mail.timestamp,
      url: detail.url ?? '',
    }
    context.collector.addEvent({
      ...content,
      eventId: contentEventId('ses', content),
      campaignId: campaignOf(mail),
      userAgent: detail.userAgent ?? '',
      ip: detail.ip ?? '',
      // SES does not mark opens made by mail privacy proxies.
      machineOpen: false,
      bounceKind: detail.bounceKind ?? '',
    })
  }
}

function addSesRecord(context: RecordContext, record: Record<string, unknown>): void {
  const field = 'eventType' in record ? 'eventType' : 'notificationType'
  if (record[field] === RENDERING_FAILURE) return rejectRenderingFailure(context, record)
  const at = { base: context.base, field, raw: context.raw }
  const type = lookupEventType(context.collector, EVENT_NAMES, record[field], at)
  if (type === undefined) return

  const mail = mailRecord.safeParse(record)
  const detail = (DETAILS[type] ?? noDetail).safeParse(record)
  if (!mail.success || !detail.success) {
    const issues = [...(mail.error?.issues ?? []), ...(detail.error?.issues ?? [])]
    return context.collector.rejectIssues(context.base, issues, context.raw)
  }
  if (detail.data.optOut === false) return context.collector.ignore()
  addPerRecipient(context, type, mail.data.mail, detail.data)
}

function parseMessage(message: unknown): Record<string, unknown> | undefined {
  if (typeof message !== 'string') return undefined
  try {
    const parsed: unknown = JSON.parse(message)
    return isJsonObject(parsed) ? parsed : undefined
  } catch {
    return undefined
  }
}

function addSnsMessage(context: RecordContext, envelope: Record<string, unknown>): void {
  const { collector, base, raw } = context
  if (typeof envelope.Type === 'string' && SNS_CONTROL_TYPES.has(envelope.Type)) {
    return collector.ignore()
  }
  if (envelope.Type !== 'Notification') {
    const expected = 'Notification, SubscriptionConfirmation or UnsubscribeConfirmation'
    const reason = `Type: ${expectedMessage(`an SNS message type (${expected})`, envelope.Type)}`
    return collector.reject(joinPath(base, ['Type']), reason, raw)
  }
  const messageBase = joinPath(base, ['Message'])
  const record = parseMessage(envelope.Message)
  if (record === undefined) {
    const expected = expectedMessage('an SES event record as JSON text', envelope.Message)
    const reason = `Message: ${expected}`
    return collector.reject(messageBase, reason, raw)
  }
  addSesRecord({ collector, base: messageBase, raw }, record)
}

function addElement(collector: ResultCollector, record: unknown, base: string): void {
  const raw = () => safeJson(record)
  const context = { collector, base, raw }
  if (!isJsonObject(record)) {
    collector.reject(base, expectedMessage('an SNS message or an SES event record', record), raw)
  } else if ('Type' in record) {
    addSnsMessage(context, record)
  } else if ('eventType' in record || 'notificationType' in record) {
    addSesRecord(context, record)
  } else {
    const reason =
      'expected an SNS message (a Type field) or an SES event record (an eventType field)'
    collector.reject(base, reason, raw)
  }
}

/**
 * Parses one SES body. Throws `PayloadParseError` unless it is JSON holding an object or an
 * array.
 */
export function parseSes(body: string): AdapterResult {
  const parsed = parseJsonBody('ses', body)
  if (!isJsonObject(parsed) && !Array.isArray(parsed)) {
    const expected = 'an SNS message, an SES event record or an array of them'
    const message = `${PROVIDER_NAMES.ses} body must be ${expected}`
    throw new PayloadParseError('ses', message)
  }
  const collector = new ResultCollector('ses')
  for (const { base, record } of bodyRecords(parsed)) addElement(collector, record, base)
  return collector.result()
}
