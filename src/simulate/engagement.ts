/** Open probability of a contact over time: persona trend, decline before churn, and churn. */
import { churnMs, type Contact } from './contacts.ts'
import { DAY_MS, type SimulationWindow } from './options.ts'
import {
  HONEYMOON_DAYS,
  HONEYMOON_FACTOR,
  PERSONAS,
  PRE_CHURN_DAYS,
  PRE_CHURN_FLOOR,
} from './personas.ts'

/** Highest open probability of any message, so even the keenest reader skips some. */
const MAX_OPEN_PROBABILITY = 0.97

function fadingFactor(contact: Contact, atMs: number, stopMs: number): number {
  const span = stopMs - contact.engagementStartMs
  if (span <= 0) return 0
  return Math.max(0, (stopMs - atMs) / span)
}

function preChurnFactor(atMs: number, stopMs: number): number {
  const daysLeft = (stopMs - atMs) / DAY_MS
  if (daysLeft >= PRE_CHURN_DAYS) return 1
  return PRE_CHURN_FLOOR + (1 - PRE_CHURN_FLOOR) * (daysLeft / PRE_CHURN_DAYS)
}

/**
 * Returns the factor on the contact's base open rate at `atMs`. It is 0 from the churn day on.
 * Before that, it falls linearly to 0 for fading contacts and declines over the weeks before a
 * random churn. New contacts get a boost in their first weeks after signup.
 */
export function engagementFactor(contact: Contact, atMs: number, window: SimulationWindow): number {
  const stopMs = churnMs(contact, window)
  if (atMs >= stopMs) return 0
  const trend = PERSONAS[contact.persona].trend
  if (trend === 'fading') return fadingFactor(contact, atMs, stopMs)
  let factor = stopMs === Infinity ? 1 : preChurnFactor(atMs, stopMs)
  if (trend === 'honeymoon' && atMs - contact.createdAtMs < HONEYMOON_DAYS * DAY_MS) {
    factor *= HONEYMOON_FACTOR
  }
  return factor
}

/** Returns the probability that a message delivered at `atMs` gets a human open. */
export function openProbability(
  contact: Contact,
  atMs: number,
  openAppeal: number,
  window: SimulationWindow,
): number {
  const p = contact.openRate * openAppeal * engagementFactor(contact, atMs, window)
  return Math.min(MAX_OPEN_PROBABILITY, p)
}
