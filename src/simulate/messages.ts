/**
 * The events of one campaign message to one contact: send, optional deferral, delivery or
 * bounce, machine opens and scanner clicks, human opens and clicks, unsubscribes and complaints.
 */
import type { Rng } from '../ml/random.ts'
import type { Campaign } from './campaigns.ts'
import { churnMs, type Contact } from './contacts.ts'
import { APPLE_PROXY_USER_AGENT, LINK_SCANNER_USER_AGENT, pickAppleProxyIp } from './devices.ts'
import { openProbability } from './engagement.ts'
import { MessageRecorder, type SimEvent } from './events.ts'
import { DAY_MS, MINUTE_MS, SECOND_MS, type SimulationWindow } from './options.ts'
import { PERSONAS } from './personas.ts'
import { drawReadingSpan, drawTimeInSpan } from './reading-times.ts'
import { chance, logUniform, uniform } from './sampling.ts'

/** Sends of one campaign spread over this span after its start. */
export const SEND_SPREAD_MS = 15 * MINUTE_MS
export const SOFT_BOUNCE_RATE = 0.012
export const HARD_BOUNCE_RATE = 0.0003
export const DEFERRAL_RATE = 0.02
/** Maximum delay from delivery to an Apple privacy proxy prefetch. */
export const MAX_PROXY_DELAY_MS = 4 * MINUTE_MS
/** Probability that a clicking reader follows one more link of the message. */
const EXTRA_CLICK_PROBABILITY = 0.3
/** Shortest gap between a first and a second human open. */
const MIN_SECOND_OPEN_GAP_MS = MINUTE_MS

/** Per-contact state that carries over from one campaign to the next. */
export interface ContactState {
  /** Nothing is sent to the contact from this instant on (hard bounce, unsubscribe, complaint). */
  suppressedFromMs: number
}

export interface MessageContext {
  contact: Contact
  state: ContactState
  campaign: Campaign
  window: SimulationWindow
  rng: Rng
}

function suppress(state: ContactState, fromMs: number): void {
  state.suppressedFromMs = Math.min(state.suppressedFromMs, fromMs)
}

/** Records the delivery attempt and returns the delivery time, or null when the message bounced. */
function recordDelivery(context: MessageContext, recorder: MessageRecorder): number | null {
  const { contact, rng, state } = context
  const sentMs = recorder.sentMs
  const draw = rng.next()
  const hard = contact.invalidAddress || draw < HARD_BOUNCE_RATE
  if (hard || draw < HARD_BOUNCE_RATE + SOFT_BOUNCE_RATE) {
    const bounceMs = sentMs + logUniform(rng, SECOND_MS, MINUTE_MS)
    recorder.record('bounce', bounceMs, { bounceKind: hard ? 'hard' : 'soft' })
    if (hard) suppress(state, bounceMs)
    return null
  }
  let readyMs = sentMs
  if (chance(rng, DEFERRAL_RATE)) {
    const deferredMs = sentMs + logUniform(rng, 5 * SECOND_MS, MINUTE_MS)
    recorder.record('deferred', deferredMs)
    readyMs = deferredMs + logUniform(rng, 5 * MINUTE_MS, 2 * 60 * MINUTE_MS)
  }
  const deliveredMs = Math.floor(readyMs + logUniform(rng, SECOND_MS, 40 * SECOND_MS))
  return recorder.record('delivered', deliveredMs) ? deliveredMs : null
}

/** Records the Apple proxy prefetch and the link scanner's clicks that follow every delivery. */
function recordMachineActivity(
  context: MessageContext,
  recorder: MessageRecorder,
  deliveredMs: number,
): void {
  const { contact, campaign, rng } = context
  if (contact.appleMail) {
    recorder.record('open', deliveredMs + logUniform(rng, 2 * SECOND_MS, MAX_PROXY_DELAY_MS), {
      actor: 'apple_proxy',
      userAgent: APPLE_PROXY_USER_AGENT,
      ip: pickAppleProxyIp(rng),
    })
  }
  if (!contact.linkScanner) return
  campaign.links.forEach((url, linkIndex) => {
    const offsetMs = SECOND_MS * (1 + (linkIndex + rng.next()) / campaign.links.length)
    recorder.record('click', deliveredMs + offsetMs, {
      actor: 'link_scanner',
      userAgent: LINK_SCANNER_USER_AGENT,
      ip: contact.scannerIp,
      url,
      linkIndex,
    })
  })
}

function recordComplaint(context: MessageContext, recorder: MessageRecorder, deliveredMs: number) {
  const { contact, rng, state } = context
  if (!chance(rng, PERSONAS[contact.persona].complaintRate)) return
  const complaintMs = deliveredMs + logUniform(rng, 10 * MINUTE_MS, 2 * DAY_MS)
  recorder.record('complaint', complaintMs, { actor: 'human' })
  suppress(state, complaintMs)
}

/** Picks `count` distinct link positions of the campaign in random order. */
function pickLinkIndexes(rng: Rng, linkCount: number, count: number): number[] {
  const indexes = Array.from({ length: linkCount }, (_, index) => index)
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(linkCount - i)
    const swap = indexes[i] ?? 0
    indexes[i] = indexes[j] ?? 0
    indexes[j] = swap
  }
  return indexes.slice(0, count)
}

/** Records the clicks after a human open and returns the time of the last one. */
function recordHumanClicks(
  context: MessageContext,
  recorder: MessageRecorder,
  openMs: number,
  stopMs: number,
): number {
  const { contact, campaign, rng } = context
  let count = 1
  while (count < campaign.links.length && chance(rng, EXTRA_CLICK_PROBABILITY)) count += 1
  let clickMs = openMs
  for (const linkIndex of pickLinkIndexes(rng, campaign.links.length, count)) {
    clickMs += logUniform(rng, 4 * SECOND_MS, 5 * MINUTE_MS)
    if (clickMs >= stopMs) break
    recorder.record('click', clickMs, {
      actor: 'human',
      userAgent: contact.client.clickUserAgent,
      ip: contact.humanIp,
      url: campaign.links[linkIndex] ?? '',
      linkIndex,
    })
  }
  return clickMs
}

function recordHumanOpen(context: MessageContext, recorder: MessageRecorder, openMs: number) {
  const { contact } = context
  recorder.record('open', openMs, {
    actor: 'human',
    userAgent: contact.client.openUserAgent,
    ip: contact.humanIp,
  })
}

/** Records human opens, clicks and a possible unsubscribe for a delivered message. */
function recordHumanEngagement(
  context: MessageContext,
  recorder: MessageRecorder,
  deliveredMs: number,
): void {
  const { contact, campaign, window, rng, state } = context
  const parameters = PERSONAS[contact.persona]
  if (!chance(rng, openProbability(contact, deliveredMs, campaign.openAppeal, window))) return
  const span = drawReadingSpan(rng, contact, deliveredMs)
  if (span === null) return
  const stopMs = churnMs(contact, window)
  const openMs = drawTimeInSpan(rng, span)
  if (openMs >= stopMs) return
  recordHumanOpen(context, recorder, openMs)
  let lastMs = openMs
  if (chance(rng, parameters.secondOpenRate)) {
    const secondMs = Math.floor(uniform(rng, openMs, span.toMs))
    if (secondMs - openMs >= MIN_SECOND_OPEN_GAP_MS && secondMs < stopMs) {
      recordHumanOpen(context, recorder, secondMs)
    }
  }
  if (chance(rng, Math.min(1, contact.clickRate * campaign.clickAppeal))) {
    lastMs = recordHumanClicks(context, recorder, openMs, stopMs)
  }
  if (chance(rng, parameters.unsubscribeRate)) {
    const unsubscribeMs = lastMs + logUniform(rng, 10 * SECOND_MS, 10 * MINUTE_MS)
    recorder.record('unsubscribe', unsubscribeMs, { actor: 'human' })
    suppress(state, unsubscribeMs)
  }
}

/**
 * Simulates one campaign message to one contact and appends its events inside the window to
 * `events`, in ordinal order. Appends nothing when the contact had not signed up yet or is
 * suppressed.
 */
export function simulateMessage(context: MessageContext, events: SimEvent[]): void {
  const { contact, campaign, window, rng, state } = context
  const sentMs = Math.floor(campaign.sendAtMs + uniform(rng, 0, SEND_SPREAD_MS))
  if (sentMs < contact.createdAtMs || sentMs >= state.suppressedFromMs) return
  const recorder = new MessageRecorder(events, contact.index, campaign.index, sentMs, window.endMs)
  recorder.record('send', sentMs)
  const deliveredMs = recordDelivery(context, recorder)
  if (deliveredMs !== null) {
    recordMachineActivity(context, recorder, deliveredMs)
    recordComplaint(context, recorder, deliveredMs)
    recordHumanEngagement(context, recorder, deliveredMs)
  }
}
