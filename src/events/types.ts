/** The event shape every ingest adapter produces and the `events` table stores. */

export const EVENT_TYPES = [
  'send',
  'delivered',
  'open',
  'click',
  'bounce',
  'dropped',
  'deferred',
  'unsubscribe',
  'complaint',
] as const
export type EventType = (typeof EVENT_TYPES)[number]

export const PROVIDERS = ['sendgrid', 'ses', 'mailgun', 'postmark', 'jsonl', 'csv'] as const
export type Provider = (typeof PROVIDERS)[number]

export type BounceKind = 'hard' | 'soft' | ''

export interface NormalizedEvent {
  /** The provider's own event id, or a content hash where the provider has none. */
  eventId: string
  provider: Provider
  /** Lower-cased recipient address, or the caller's own contact id in our generic formats. */
  contactKey: string
  /** Campaign id where the payload names one, otherwise '' . */
  campaignId: string
  /** Provider message id ('' when absent). */
  messageId: string
  type: EventType
  /** Milliseconds since the Unix epoch, UTC. */
  occurredAtMs: number
  /** Clicked URL, '' for other types. */
  url: string
  userAgent: string
  ip: string
  /** True where the provider marks the open as made by a machine (a mail privacy proxy). */
  machineOpen: boolean
  /** Hard or soft for bounces, '' otherwise. */
  bounceKind: BounceKind
}

/** One record an adapter could not turn into an event, kept with the reason. */
export interface IngestReject {
  provider: Provider
  /** Path of the offending field inside the request body, for example `[3].timestamp`. */
  path: string
  reason: string
  /** The offending record as received (JSON text or the CSV line). */
  raw: string
}

export interface AdapterResult {
  events: NormalizedEvent[]
  rejects: IngestReject[]
  /** Records that were valid but carry no engagement event we store (for example SNS subscription confirmations). */
  ignored: number
  /** Records repeating an event id seen earlier in the same body; each id is returned once. */
  duplicates: number
}

/** Thrown when a body cannot be parsed at all; nothing from it is stored. */
export class PayloadParseError extends Error {
  constructor(
    readonly provider: Provider,
    message: string,
  ) {
    super(message)
    this.name = 'PayloadParseError'
  }
}
