/**
 * The send schedule: newsletters every Tuesday and Friday, and on Sundays of every other week,
 * all at 14:00 UTC, plus a promo in about 40% of weeks on a random other day at 17:00 UTC.
 */
import type { Rng } from '../ml/random.ts'
import { DAY_MS, type SimulationWindow } from './options.ts'
import { chance, pickOne, uniform } from './sampling.ts'

export type CampaignKind = 'newsletter' | 'promo'

export interface Campaign {
  index: number
  /** Campaign id sent as a custom argument or message tag, for example `nl-2025-01-07`. */
  id: string
  kind: CampaignKind
  /** When the send starts, UTC milliseconds. Messages go out over the next 15 minutes. */
  sendAtMs: number
  /** SendGrid categories. */
  categories: string[]
  subject: string
  links: string[]
  /** Factor on every recipient's open probability. */
  openAppeal: number
  /** Factor on every recipient's click probability. */
  clickAppeal: number
}

const HOUR_MS = 3_600_000
const NEWSLETTER_HOUR_UTC = 14
const PROMO_HOUR_UTC = 17
const PROMO_WEEK_SHARE = 0.4
/** Latest send start before the end of the window, so every send has time to be delivered. */
const LAST_SEND_BEFORE_END_MS = 2 * HOUR_MS
const PROMO_THEMES = ['winter-sale', 'new-arrivals', 'clearance', 'loyalty', 'flash-sale']

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10)
}

function isNewsletterDay(dayMs: number, week: number): boolean {
  const weekday = new Date(dayMs).getUTCDay()
  return weekday === 2 || weekday === 5 || (weekday === 0 && week % 2 === 1)
}

function newsletter(dayMs: number, rng: Rng): Omit<Campaign, 'index'> {
  const id = `nl-${isoDate(dayMs)}`
  const stories = 3 + rng.int(2)
  const links = Array.from(
    { length: stories },
    (_, story) =>
      `https://news.example.com/${isoDate(dayMs)}/story-${story + 1}` +
      `?utm_source=email&utm_medium=newsletter&utm_campaign=${id}`,
  )
  return {
    id,
    kind: 'newsletter',
    sendAtMs: dayMs + NEWSLETTER_HOUR_UTC * HOUR_MS,
    categories: ['newsletter'],
    subject: `Example News for ${isoDate(dayMs)}`,
    links,
    openAppeal: uniform(rng, 0.85, 1.15),
    clickAppeal: uniform(rng, 0.85, 1.15),
  }
}

function promo(dayMs: number, rng: Rng): Omit<Campaign, 'index'> {
  const theme = pickOne(rng, PROMO_THEMES)
  const id = `promo-${isoDate(dayMs)}`
  const query = `?utm_source=email&utm_medium=promo&utm_campaign=${id}`
  return {
    id,
    kind: 'promo',
    sendAtMs: dayMs + PROMO_HOUR_UTC * HOUR_MS,
    categories: ['promo', theme],
    subject: `Example Shop: ${theme.replaceAll('-', ' ')}`,
    links: [`https://shop.example.com/${theme}${query}`, `https://shop.example.com/${query}`],
    openAppeal: uniform(rng, 0.75, 1.0),
    clickAppeal: uniform(rng, 1.1, 1.5),
  }
}

/** Picks the promo day of a week that starts at `weekStartMs`, or null for a week without one. */
function drawPromoDay(rng: Rng, weekStartMs: number, week: number): number | null {
  if (!chance(rng, PROMO_WEEK_SHARE)) return null
  const candidates: number[] = []
  for (let day = 0; day < 7; day++) {
    const dayMs = weekStartMs + day * DAY_MS
    if (!isNewsletterDay(dayMs, week)) candidates.push(dayMs)
  }
  return pickOne(rng, candidates)
}

/** Builds the campaigns of the window in send order. Weeks count from the window start. */
export function buildCampaigns(window: SimulationWindow, rng: Rng): Campaign[] {
  const drafts: Omit<Campaign, 'index'>[] = []
  // Days start at UTC midnight even when the window starts later in the day.
  const firstDayMs = Math.floor(window.startMs / DAY_MS) * DAY_MS
  const weeks = Math.ceil((window.days + 1) / 7)
  for (let week = 0; week < weeks; week++) {
    const weekStartMs = firstDayMs + week * 7 * DAY_MS
    const promoDayMs = drawPromoDay(rng, weekStartMs, week)
    for (let day = 0; day < 7; day++) {
      const dayMs = weekStartMs + day * DAY_MS
      if (isNewsletterDay(dayMs, week)) drafts.push(newsletter(dayMs, rng))
      if (dayMs === promoDayMs) drafts.push(promo(dayMs, rng))
    }
  }
  const lastSendMs = window.endMs - LAST_SEND_BEFORE_END_MS
  return drafts
    .filter((draft) => draft.sendAtMs >= window.startMs && draft.sendAtMs <= lastSendMs)
    .sort((a, b) => a.sendAtMs - b.sendAtMs)
    .map((draft, index) => ({ ...draft, index }))
}
