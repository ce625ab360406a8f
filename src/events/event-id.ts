/**
 * Content hash ids for events whose provider sends no event id (Postmark opens, SES, our generic
 * formats without `event_id`). The same content posted twice gets the same id, so the store can
 * drop the repeat by `eventId`.
 */
import { createHash } from 'node:crypto'
import type { NormalizedEvent, Provider } from './types.ts'

/**
 * Number of hex digits kept from the sha256 digest. 32 digits are 128 bits, enough to make
 * accidental collisions negligible.
 */
export const CONTENT_ID_HEX_LENGTH = 32

/** The normalized fields that identify an event's content. */
export type EventContent = Pick<
  NormalizedEvent,
  'contactKey' | 'type' | 'occurredAtMs' | 'campaignId' | 'messageId' | 'url'
>

/**
 * Returns the sha256 hex prefix over `provider` and the content fields.
 *
 * The fields are serialized as a JSON array in a fixed order, which is unambiguous because
 * JSON quotes and escapes every string. User agent, IP and the flags describe an event rather
 * than identify it, so they are left out.
 */
export function contentEventId(provider: Provider, content: EventContent): string {
  const canonical = JSON.stringify([
    provider,
    content.contactKey,
    content.type,
    content.occurredAtMs,
    content.campaignId,
    content.messageId,
    content.url,
  ])
  const digest = createHash('sha256').update(canonical, 'utf8').digest('hex')
  return digest.slice(0, CONTENT_ID_HEX_LENGTH)
}
