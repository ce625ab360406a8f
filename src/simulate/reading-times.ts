/**
 * When a contact reads a message: in the next occurrence of one of its persona's local reading
 * windows after delivery, so delays run from minutes to a day or two (longer for weekend
 * readers who receive mail on a Tuesday).
 */
import type { Rng } from '../ml/random.ts'
import type { Contact } from './contacts.ts'
import {
  OFF_HOURS_WINDOW,
  PERSONA_NAMES,
  PERSONAS,
  type PersonaName,
  type ReadingWindow,
} from './personas.ts'
import { chance, pickWeighted } from './sampling.ts'
import { utcToLocalParts, zonedToUtcMs } from './time-zones.ts'

/** A span of UTC milliseconds, [fromMs, toMs). */
export interface TimeSpan {
  fromMs: number
  toMs: number
}

/** Probability of letting an open window pass unread and waiting for the next one. */
const SKIP_WINDOW_PROBABILITY = 0.2
const MAX_SKIPPED_WINDOWS = 2
/** Local days searched after delivery; enough for a weekend window after two skips. */
const SEARCH_DAYS = 16

const WEIGHTED_WINDOWS = new Map<PersonaName, { weight: number; value: ReadingWindow }[]>(
  PERSONA_NAMES.map((name) => [
    name,
    PERSONAS[name].windows.map((window) => ({ weight: window.weight, value: window })),
  ]),
)

function windowOnDay(contact: Contact, window: ReadingWindow, dayUtc: Date): TimeSpan | null {
  if (!window.weekdays.includes(dayUtc.getUTCDay())) return null
  const year = dayUtc.getUTCFullYear()
  const month = dayUtc.getUTCMonth() + 1
  const day = dayUtc.getUTCDate()
  const startMinute = Math.round((window.startHour + contact.windowShiftHours) * 60)
  const endMinute = Math.round((window.endHour + contact.windowShiftHours) * 60)
  return {
    fromMs: zonedToUtcMs(contact.timeZone, year, month, day, 0, startMinute),
    toMs: zonedToUtcMs(contact.timeZone, year, month, day, 0, endMinute),
  }
}

/**
 * Finds the occurrence of `window` in the contact's zone that is still open after `afterMs`,
 * skipping `skips` occurrences. The span returned starts no earlier than `afterMs`.
 */
export function nextWindowSpan(
  contact: Contact,
  window: ReadingWindow,
  afterMs: number,
  skips: number,
): TimeSpan | null {
  const local = utcToLocalParts(contact.timeZone, afterMs)
  let skipsLeft = skips
  // Day -1 catches a window that started yesterday and runs past midnight.
  for (let offset = -1; offset <= SEARCH_DAYS; offset++) {
    const dayUtc = new Date(Date.UTC(local.year, local.month - 1, local.day + offset))
    const span = windowOnDay(contact, window, dayUtc)
    if (span === null || span.toMs <= afterMs) continue
    if (skipsLeft > 0) {
      skipsLeft -= 1
      continue
    }
    return { fromMs: Math.max(span.fromMs, afterMs), toMs: span.toMs }
  }
  return null
}

/** Draws the window kind of one human open: one of the persona's windows or off-hours noise. */
function pickReadingWindow(rng: Rng, contact: Contact): ReadingWindow {
  if (chance(rng, contact.offHoursShare)) return OFF_HOURS_WINDOW
  return pickWeighted(rng, WEIGHTED_WINDOWS.get(contact.persona) ?? [])
}

/**
 * Draws the span in which the contact reads a message delivered at `deliveredMs`. The first
 * open falls early in the span more often than late, as people read new mail soon after they
 * sit down. Returns null when no window occurs in the searched days.
 */
export function drawReadingSpan(rng: Rng, contact: Contact, deliveredMs: number): TimeSpan | null {
  const window = pickReadingWindow(rng, contact)
  let skips = 0
  while (skips < MAX_SKIPPED_WINDOWS && chance(rng, SKIP_WINDOW_PROBABILITY)) skips += 1
  return nextWindowSpan(contact, window, deliveredMs, skips)
}

/** Draws an instant in the span, weighted toward its start. */
export function drawTimeInSpan(rng: Rng, span: TimeSpan): number {
  const u = rng.next()
  return Math.floor(span.fromMs + (span.toMs - span.fromMs) * u * u)
}
