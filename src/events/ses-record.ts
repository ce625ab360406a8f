/**
 * Zod schemas for one SES event record (the `mail` object and the detail object of each event
 * type), shared by the SNS and the bare-record paths of the SES adapter.
 */
import { z } from 'zod'
import { expecting, isoTime, optionalText, requiredText } from './fields.ts'
import type { BounceKind, EventType } from './types.ts'

const addressList = z
  .array(z.unknown(), expecting('an array of email addresses'))
  .min(1, expecting('at least one email address'))

const recipientList = z
  .array(
    z.object({ emailAddress: z.unknown().optional() }, expecting('a recipient object')),
    expecting('an array of recipients'),
  )
  .min(1, expecting('at least one recipient'))

export const mailRecord = z.object({
  mail: z.object(
    {
      timestamp: isoTime(),
      messageId: optionalText(),
      destination: addressList,
      tags: z.record(z.string(), z.unknown()).optional(),
    },
    expecting('the SES mail object'),
  ),
})

export type MailRecord = z.infer<typeof mailRecord>['mail']

/** One recipient address as received, with its path inside the record. */
export interface SesRecipient {
  address: unknown
  path: PropertyKey[]
}

/** Event-specific values. An undefined time or recipient list is taken from `mail` instead. */
export interface SesDetail {
  occurredAtMs?: number
  recipients?: SesRecipient[]
  url?: string
  userAgent?: string
  ip?: string
  bounceKind?: BounceKind
  optOut?: boolean
}

/** Lists the addresses of `mail.destination` or `delivery.recipients`. */
export function addressesAt(path: string[], addresses: unknown[]): SesRecipient[] {
  return addresses.map((address, index) => ({ address, path: [...path, index] }))
}

/** Lists the `emailAddress` of each entry of `bouncedRecipients` and similar lists. */
function entriesAt(path: string[], entries: Array<{ emailAddress?: unknown }>): SesRecipient[] {
  return entries.map((entry, index) => ({
    address: entry.emailAddress,
    path: [...path, index, 'emailAddress'],
  }))
}

const timed = { timestamp: isoTime() }
const detailObject = <T extends z.core.$ZodLooseShape>(shape: T) =>
  z.object(shape, expecting('an object'))

const BOUNCE_KINDS = { Permanent: 'hard', Transient: 'soft', Undetermined: 'soft' } as const

const topicStatus = z.object({ subscriptionStatus: z.unknown().optional() })
const preferences = z
  .object({ unsubscribeAll: z.unknown().optional(), topicSubscriptionStatus: z.array(topicStatus) })
  .partial()

/** Schemas that read the detail object of each event type into an `SesDetail`. */
export const DETAILS: Partial<Record<EventType, z.ZodType<SesDetail>>> = {
  delivered: z
    .object({ delivery: detailObject({ ...timed, recipients: addressList }) })
    .transform(({ delivery }) => ({
      occurredAtMs: delivery.timestamp,
      recipients: addressesAt(['delivery', 'recipients'], delivery.recipients),
    })),
  open: z
    .object({
      open: detailObject({ ...timed, ipAddress: optionalText(), userAgent: optionalText() }),
    })
    .transform(({ open }) => ({
      occurredAtMs: open.timestamp,
      userAgent: open.userAgent,
      ip: open.ipAddress,
    })),
  click: z
    .object({
      click: detailObject({
        ...timed,
        ipAddress: optionalText(),
        userAgent: optionalText(),
        link: requiredText('a URL'),
      }),
    })
    .transform(({ click }) => ({
      occurredAtMs: click.timestamp,
      url: click.link,
      userAgent: click.userAgent,
      ip: click.ipAddress,
    })),
  bounce: z
    .object({
      bounce: detailObject({
        ...timed,
        bounceType: z.enum(
          ['Permanent', 'Transient', 'Undetermined'],
          expecting('Permanent, Transient or Undetermined'),
        ),
        bouncedRecipients: recipientList,
      }),
    })
    .transform(({ bounce }) => ({
      occurredAtMs: bounce.timestamp,
      bounceKind: BOUNCE_KINDS[bounce.bounceType],
      recipients: entriesAt(['bounce', 'bouncedRecipients'], bounce.bouncedRecipients),
    })),
  complaint: z
    .object({ complaint: detailObject({ ...timed, complainedRecipients: recipientList }) })
    .transform(({ complaint }) => ({
      occurredAtMs: complaint.timestamp,
      recipients: entriesAt(['complaint', 'complainedRecipients'], complaint.complainedRecipients),
    })),
  deferred: z
    .object({ deliveryDelay: detailObject({ ...timed, delayedRecipients: recipientList }) })
    .transform(({ deliveryDelay }) => ({
      occurredAtMs: deliveryDelay.timestamp,
      recipients: entriesAt(
        ['deliveryDelay', 'delayedRecipients'],
        deliveryDelay.delayedRecipients,
      ),
    })),
  unsubscribe: z
    .object({
      subscription: detailObject({ ...timed, newTopicPreferences: preferences.optional() }),
    })
    .transform(({ subscription }) => {
      const next = subscription.newTopicPreferences
      // A change that opts out of nothing (a preference-centre opt-in) is not an unsubscribe.
      const optOut =
        next === undefined ||
        next.unsubscribeAll === true ||
        (next.topicSubscriptionStatus ?? []).some((topic) => topic.subscriptionStatus === 'OptOut')
      return { occurredAtMs: subscription.timestamp, optOut }
    }),
}

function firstTag(mail: MailRecord, name: string): string {
  const values = mail.tags?.[name]
  const first: unknown = Array.isArray(values) ? values[0] : undefined
  return typeof first === 'string' ? first : ''
}

/** Returns the campaign id from the `campaign_id` tag, then the `campaign` tag, else ''. */
export function campaignOf(mail: MailRecord): string {
  return firstTag(mail, 'campaign_id') || firstTag(mail, 'campaign')
}
