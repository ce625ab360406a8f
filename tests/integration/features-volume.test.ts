/**
 * Volume, rate, campaign, delay, recency and health features against
 * hand-computed values, with events on the window boundaries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NormalizedEvent } from '../../src/events/types.ts'
import { OPEN_DELAY_CAP_MINUTES } from '../../src/features/catalogue.ts'
import { computeFeatures, type FeatureMatrix } from '../../src/features/compute.ts'
import type { Store } from '../../src/store/client.ts'
import { storeEvents } from '../../src/store/events.ts'
import { createEventFactory, openTempStore, type TempStore, valuesOf } from '../helpers/features.ts'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const AS_OF = Date.UTC(2025, 3, 1) // 2025-04-01T00:00Z
const ago = (ms: number) => AS_OF - ms

const makeEvent = createEventFactory({
  idPrefix: 'v',
  ip: '192.0.2.50',
  userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)',
  url: 'https://news.example.com/story',
})

function event(
  contactKey: string,
  messageId: string,
  campaignId: string,
  type: NormalizedEvent['type'],
  atMs: number,
  extra: Partial<NormalizedEvent> = {},
): NormalizedEvent {
  return makeEvent(contactKey, messageId, type, atMs, { campaignId, ...extra })
}

const WINDOWS = 'windows@example.com'
const SLOW = 'slow@example.com'
const EARLY_OPEN = 'early-open@example.com'
const HEALTH = 'health@example.com'
const UNSUBSCRIBED = 'unsubscribed@example.com'

const EVENTS: NormalizedEvent[] = [
  // m1 and m2 share campaign c1. m1 is delivered exactly 7 days before the cutoff, the first
  // instant of the 7-day window, and m2 one millisecond earlier, but opened inside it.
  event(WINDOWS, 'm1', 'c1', 'delivered', ago(7 * DAY)),
  event(WINDOWS, 'm1', 'c1', 'open', ago(7 * DAY) + HOUR),
  event(WINDOWS, 'm2', 'c1', 'delivered', ago(7 * DAY) - 1),
  event(WINDOWS, 'm2', 'c1', 'open', ago(6 * DAY)),
  // m3 and m4 have no campaign id, so each counts as a campaign of its own.
  event(WINDOWS, 'm3', '', 'delivered', ago(20 * DAY)),
  event(WINDOWS, 'm3', '', 'open', ago(20 * DAY) + 2 * HOUR),
  event(WINDOWS, 'm3', '', 'click', ago(20 * DAY) + 2 * HOUR + MINUTE),
  // m4 is clicked without an open, as when images are blocked.
  event(WINDOWS, 'm4', '', 'delivered', ago(40 * DAY)),
  event(WINDOWS, 'm4', '', 'click', ago(40 * DAY) + HOUR),
  // m5 lies before every window.
  event(WINDOWS, 'm5', 'c2', 'delivered', ago(100 * DAY)),
  event(WINDOWS, 'm5', 'c2', 'open', ago(100 * DAY) + HOUR),

  // Opened 8 days after delivery: the delay is capped.
  event(SLOW, 'm1', 'c1', 'delivered', ago(30 * DAY)),
  event(SLOW, 'm1', 'c1', 'open', ago(22 * DAY)),

  // The open's timestamp is 30 seconds before the delivery's: the delay is 0, not negative.
  event(EARLY_OPEN, 'm1', 'c1', 'delivered', ago(10 * DAY)),
  event(EARLY_OPEN, 'm1', 'c1', 'open', ago(10 * DAY) - 30_000),

  event(HEALTH, 'm1', 'c1', 'send', ago(5 * DAY) - MINUTE),
  event(HEALTH, 'm1', 'c1', 'deferred', ago(5 * DAY)),
  event(HEALTH, 'm1', 'c1', 'delivered', ago(5 * DAY) + HOUR),
  event(HEALTH, 'm2', 'c1', 'dropped', ago(4 * DAY)),
  event(HEALTH, 'm3', 'c1', 'bounce', ago(3 * DAY), { bounceKind: 'soft' }),
  event(HEALTH, 'm4', 'c1', 'bounce', ago(2 * DAY), { bounceKind: 'hard' }),
  event(HEALTH, 'm1', 'c1', 'complaint', ago(1 * DAY)),
  // A hard bounce 120 days ago sets the flag but is outside the 90-day count.
  event(HEALTH, 'm5', 'c0', 'bounce', ago(120 * DAY), { bounceKind: 'hard' }),

  event(UNSUBSCRIBED, 'm1', 'c0', 'unsubscribe', ago(200 * DAY)),
]

let temp: TempStore
let store: Store
let features: FeatureMatrix

beforeAll(async () => {
  temp = await openTempStore('features-volume')
  store = temp.store
  await storeEvents(store.client, EVENTS)
  features = await computeFeatures(store.client, AS_OF, 'UTC')
})

afterAll(() => temp.close())

describe('volume and rates', () => {
  it('counts each window', () => {
    const v = valuesOf(features, WINDOWS)
    expect([v.delivered_7d, v.delivered_30d, v.delivered_90d]).toEqual([1, 3, 4])
    expect([v.opens_7d, v.opens_30d, v.opens_90d]).toEqual([2, 3, 3])
    expect([v.clicks_7d, v.clicks_30d, v.clicks_90d]).toEqual([0, 1, 2])
    expect([v.sends_7d, v.sends_30d, v.sends_90d]).toEqual([0, 0, 0])
  })

  it('counts campaigns with a fallback', () => {
    const v = valuesOf(features, WINDOWS)
    // c1 (m1 and m2), then m3 by its message id; c2 is older than 90 days.
    expect([v.opened_campaigns_7d, v.opened_campaigns_30d, v.opened_campaigns_90d]).toEqual([
      1, 2, 2,
    ])
    // m3, then m4, each by message id.
    expect([v.clicked_campaigns_7d, v.clicked_campaigns_30d, v.clicked_campaigns_90d]).toEqual([
      0, 1, 2,
    ])
  })

  it('rates messages by delivery window', () => {
    const v = valuesOf(features, WINDOWS)
    // Delivered in 7 days: m1. In 30: m1, m2, m3. In 90: m1 to m4.
    expect([v.open_rate_7d, v.open_rate_30d, v.open_rate_90d]).toEqual([1, 1, 3 / 4])
    expect([v.click_rate_7d, v.click_rate_30d, v.click_rate_90d]).toEqual([0, 1 / 3, 1 / 2])
    // A click counts the message as read, so m4 enters the click-to-open denominator.
    expect([v.click_to_open_rate_7d, v.click_to_open_rate_30d, v.click_to_open_rate_90d]).toEqual([
      0,
      1 / 3,
      2 / 4,
    ])
  })
})

describe('delay, recency and trend', () => {
  it('takes the median open delay', () => {
    // m1: 60 min, m2: 1 day and 1 ms, m3: 120 min. m4 has no open, m5 is too old.
    expect(valuesOf(features, WINDOWS).median_open_delay_minutes).toBeCloseTo(120, 12)
  })

  it('caps and clamps the open delay', () => {
    expect(valuesOf(features, SLOW).median_open_delay_minutes).toBe(OPEN_DELAY_CAP_MINUTES)
    expect(valuesOf(features, EARLY_OPEN).median_open_delay_minutes).toBe(0)
  })

  it('measures days since each event', () => {
    const v = valuesOf(features, WINDOWS)
    expect(v.days_since_last_open).toBe(6)
    expect(v.days_since_last_click).toBeCloseTo((20 * DAY - 2 * HOUR - MINUTE) / DAY, 12)
    expect(v.days_since_last_engagement).toBe(6)
    // Deliveries count as sends: the last is m1, 7 days ago.
    expect(v.days_since_last_send).toBe(7)
    expect(v.tenure_days).toBe(100)
  })

  it('compares the last 30 days with the 30 before', () => {
    // Opens of m1, m2 and m3 and the click of m3 against the click of m4: (4 - 1) / (4 + 1).
    expect(valuesOf(features, WINDOWS).engagement_trend).toBeCloseTo(0.6, 12)
  })
})

describe('health', () => {
  it('counts bounces, complaints, deferrals and drops', () => {
    const v = valuesOf(features, HEALTH)
    expect(v.bounces_90d).toBe(2)
    expect(v.hard_bounces_90d).toBe(1)
    expect(v.soft_bounces_90d).toBe(1)
    expect(v.complaints_90d).toBe(1)
    expect(v.deferrals_90d).toBe(1)
    expect(v.drops_90d).toBe(1)
    expect(v.hard_bounced).toBe(1)
    expect(v.unsubscribed).toBe(1)
    expect(v.sends_7d).toBe(1)
    expect(v.delivered_7d).toBe(1)
  })

  it('keeps the unsubscribe flag for good', () => {
    const v = valuesOf(features, UNSUBSCRIBED)
    expect(v.unsubscribed).toBe(1)
    expect(v.complaints_90d).toBe(0)
    expect(v.hard_bounced).toBe(0)
  })
})
