/** Simulated events before an ESP writer formats them, and the recorder of one message's events. */

export const SIM_EVENT_TYPES = [
  'send',
  'deferred',
  'delivered',
  'bounce',
  'open',
  'click',
  'unsubscribe',
  'complaint',
] as const
export type SimEventType = (typeof SIM_EVENT_TYPES)[number]

/** The cause of an event: the mail system, the person, or a machine acting on their mailbox. */
export type Actor = 'mail_system' | 'human' | 'apple_proxy' | 'link_scanner'

/** One campaign message to one contact, shared by all of its events. */
export interface SimMessage {
  contactIndex: number
  campaignIndex: number
  /** When the message was sent, the SES `mail.timestamp`. */
  sentMs: number
  /**
   * JSON text that an ESP formatter derived from the message alone, such as the SES `mail`
   * object, kept so that it is built once per message instead of once per event. '' until set.
   */
  formatted: string
}

/** One event of one message, in ESP-neutral form. */
export interface SimEvent {
  type: SimEventType
  /** UTC milliseconds. */
  timeMs: number
  message: SimMessage
  /** Position of the event within its message, which makes event ids unique. */
  ordinal: number
  actor: Actor
  /** User agent of opens and clicks, '' for other types. */
  userAgent: string
  /** Client IP of opens and clicks, '' for other types. */
  ip: string
  /** Clicked URL, '' for other types. */
  url: string
  /** Position of the clicked link in the message, -1 for other types. */
  linkIndex: number
  /** 'hard' or 'soft' for bounces, '' otherwise. */
  bounceKind: 'hard' | 'soft' | ''
}

/** Fields of an event that depend on its type. */
export type EventDetails = Partial<
  Pick<SimEvent, 'actor' | 'userAgent' | 'ip' | 'url' | 'linkIndex' | 'bounceKind'>
>

/** Orders events by time, then campaign, contact and ordinal, so ties break the same way always. */
export function compareEvents(a: SimEvent, b: SimEvent): number {
  return (
    a.timeMs - b.timeMs ||
    a.message.campaignIndex - b.message.campaignIndex ||
    a.message.contactIndex - b.message.contactIndex ||
    a.ordinal - b.ordinal
  )
}

/**
 * Appends the events of one message to `events`. Events after the end of the window are
 * dropped, but they still use up an ordinal, so the ids of the kept events do not depend on the
 * window length.
 */
export class MessageRecorder {
  readonly message: SimMessage
  private nextOrdinal = 0

  constructor(
    private readonly events: SimEvent[],
    contactIndex: number,
    campaignIndex: number,
    sentMs: number,
    private readonly endMs: number,
  ) {
    this.message = { contactIndex, campaignIndex, sentMs, formatted: '' }
  }

  get sentMs(): number {
    return this.message.sentMs
  }

  /** Records an event at `timeMs` and returns whether it falls inside the window. */
  record(type: SimEventType, timeMs: number, details: EventDetails = {}): boolean {
    const ordinal = this.nextOrdinal
    this.nextOrdinal += 1
    if (timeMs > this.endMs) return false
    this.events.push({
      type,
      timeMs: Math.floor(timeMs),
      message: this.message,
      ordinal,
      actor: details.actor ?? 'mail_system',
      userAgent: details.userAgent ?? '',
      ip: details.ip ?? '',
      url: details.url ?? '',
      linkIndex: details.linkIndex ?? -1,
      bounceKind: details.bounceKind ?? '',
    })
    return true
  }
}

/** True for opens and clicks made by the person, not by a privacy proxy or a link scanner. */
export function isHumanEngagement(event: SimEvent): boolean {
  return (event.type === 'open' || event.type === 'click') && event.actor === 'human'
}
