import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NormalizedEvent } from '../../src/events/types.ts'
import { FEATURE_NAMES, OPEN_DELAY_CAP_MINUTES } from '../../src/features/catalogue.ts'
import { computeFeatures, type FeatureMatrix } from '../../src/features/compute.ts'
import { churnLabels } from '../../src/features/labels.ts'
import type { Store } from '../../src/store/client.ts'
import { storeContacts, storeEvents } from '../../src/store/events.ts'
import { createEventFactory, openTempStore, type TempStore, valuesOf } from '../helpers/features.ts'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const AS_OF = Date.UTC(2025, 3, 1) // 2025-04-01T00:00Z

const event = createEventFactory({
  idPrefix: 'e',
  campaignId: 'spring',
  ip: '192.0.2.10',
  userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)',
  url: 'https://shop.example.com/',
})

// Contact a lives in Warsaw, which moved from UTC+1 to UTC+2 on 2025-03-30.
const A = 'a@example.com'
const B = 'b@example.com'
const C = 'c@example.com'
const EVENTS: NormalizedEvent[] = [
  event(A, 'm1', 'send', '2025-03-09T06:30:00Z'),
  event(A, 'm1', 'delivered', '2025-03-09T06:30:05Z'),
  // 23:30 and 23:31 on Sunday in Warsaw (UTC+1): night and weekend.
  event(A, 'm1', 'open', '2025-03-09T22:30:00Z'),
  event(A, 'm1', 'click', '2025-03-09T22:31:00Z'),
  event(A, 'm2', 'send', '2025-03-31T06:30:00Z'),
  event(A, 'm2', 'delivered', '2025-03-31T06:30:05Z'),
  // A privacy-proxy open and a scanner click right at delivery: not human.
  event(A, 'm2', 'open', '2025-03-31T06:30:07Z', { machineOpen: true }),
  event(A, 'm2', 'click', '2025-03-31T06:30:06Z'),
  // 09:30 on Monday in Warsaw after the change to UTC+2 (08:30 had the zone stayed at UTC+1).
  event(A, 'm2', 'open', '2025-03-31T07:30:00Z'),
  // Kolkata is UTC+05:30: 17:45Z is 23:15 on Friday.
  event(B, 'm3', 'delivered', '2025-03-28T12:00:00Z'),
  event(B, 'm3', 'open', '2025-03-28T17:45:00Z'),
  // c has no contact record, so the default zone (UTC) and its first event give its tenure.
  event(C, 'm4', 'delivered', '2025-03-30T00:00:00Z'),
]
// After the cutoff: must change no feature, and decides the churn labels.
const LATER: NormalizedEvent[] = [
  event(A, 'm5', 'delivered', '2025-04-02T06:30:00Z'),
  event(A, 'm5', 'open', '2025-04-02T20:00:00Z'),
  event(B, 'm6', 'click', '2025-04-03T06:30:00Z'),
  event(B, 'm6', 'bounce', '2025-04-04T06:30:00Z', { bounceKind: 'hard' }),
  event(B, 'm6', 'complaint', '2025-04-05T06:30:00Z'),
  // A scanner click and a flagged open: c stays without human engagement.
  event(C, 'm7', 'delivered', '2025-04-02T08:00:00Z'),
  event(C, 'm7', 'click', '2025-04-02T08:00:01Z'),
  event(C, 'm7', 'open', '2025-04-02T08:00:02Z', { machineOpen: true }),
]

let temp: TempStore
let store: Store

beforeAll(async () => {
  temp = await openTempStore('features')
  store = temp.store
  await storeContacts(store.client, [
    { contactKey: A, timeZone: 'Europe/Warsaw', createdAtMs: Date.UTC(2025, 0, 1) },
    { contactKey: B, timeZone: 'Asia/Kolkata', createdAtMs: Date.UTC(2025, 2, 25) },
  ])
  await storeEvents(store.client, EVENTS)
})

afterAll(() => temp.close())

describe('computeFeatures', () => {
  it('returns every contact with every feature', async () => {
    const features = await computeFeatures(store.client, AS_OF, 'UTC')
    expect(features.contactKeys).toEqual([A, B, C])
    expect(features.timeZones).toEqual(['Europe/Warsaw', 'Asia/Kolkata', 'UTC'])
    expect(features.featureNames).toEqual(FEATURE_NAMES)
    expect(features.matrix.rows).toBe(3)
    expect(features.matrix.cols).toBe(FEATURE_NAMES.length)
  })

  it('counts human activity by hand', async () => {
    const a = valuesOf(await computeFeatures(store.client, AS_OF, 'UTC'), A)
    expect(a.sends_90d).toBe(2)
    expect(a.delivered_90d).toBe(2)
    expect(a.opens_90d).toBe(2)
    expect(a.clicks_90d).toBe(1)
    expect(a.open_rate_90d).toBe(1)
    expect(a.click_rate_90d).toBe(0.5)
    expect(a.machine_open_share).toBeCloseTo(1 / 3, 12)
    expect(a.scanner_click_share).toBe(0.5)
  })

  it('uses local time across a DST change', async () => {
    const a = valuesOf(await computeFeatures(store.client, AS_OF, 'UTC'), A)
    expect(a.night_share).toBeCloseTo(2 / 3, 12)
    expect(a.weekend_share).toBeCloseTo(2 / 3, 12)
    expect(a.office_share).toBeCloseTo(1 / 3, 12)
    expect(a.morning_share).toBe(0)
    expect(a.hour_share_23).toBeCloseTo(2 / 3, 12)
    expect(a.hour_share_09).toBeCloseTo(1 / 3, 12)
    expect(a.hour_share_08).toBe(0)
  })

  it('uses a half-hour zone', async () => {
    const b = valuesOf(await computeFeatures(store.client, AS_OF, 'UTC'), B)
    expect(b.hour_share_23).toBe(1)
    expect(b.night_share).toBe(1)
    expect(b.weekend_share).toBe(0)
    expect(b.tenure_days).toBe(7)
  })

  it('computes recency, tenure and trend', async () => {
    const a = valuesOf(await computeFeatures(store.client, AS_OF, 'UTC'), A)
    expect(a.days_since_last_engagement).toBeCloseTo(
      (AS_OF - Date.parse('2025-03-31T07:30:00Z')) / DAY,
      12,
    )
    expect(a.days_since_last_send).toBeCloseTo(
      (AS_OF - Date.parse('2025-03-31T06:30:05Z')) / DAY,
      12,
    )
    expect(a.tenure_days).toBe(90)
    expect(a.engagement_trend).toBe(1)
  })

  it('gives defined values without activity', async () => {
    const c = valuesOf(await computeFeatures(store.client, AS_OF, 'UTC'), C)
    expect(c.delivered_90d).toBe(1)
    expect(c.open_rate_90d).toBe(0)
    expect(c.night_share).toBe(0)
    expect(c.days_since_last_engagement).toBe(365)
    expect(c.days_since_last_send).toBe(2)
    expect(c.tenure_days).toBe(2)
    expect(c.engagement_trend).toBe(0)
    for (const value of Object.values(c)) expect(Number.isFinite(value)).toBe(true)
  })

  it('counts each window by hand', async () => {
    const a = valuesOf(await computeFeatures(store.client, AS_OF, 'UTC'), A)
    // m2 falls in the last 7 days, m1 and m2 in the last 30 and 90.
    expect([a.sends_7d, a.sends_30d, a.sends_90d]).toEqual([1, 2, 2])
    expect([a.delivered_7d, a.delivered_30d, a.delivered_90d]).toEqual([1, 2, 2])
    expect([a.opens_7d, a.opens_30d]).toEqual([1, 2])
    expect([a.clicks_7d, a.clicks_30d]).toEqual([0, 1])
    expect([a.opened_campaigns_7d, a.opened_campaigns_90d]).toEqual([1, 1])
    expect([a.clicked_campaigns_7d, a.clicked_campaigns_90d]).toEqual([0, 1])
    expect([a.open_rate_7d, a.open_rate_30d]).toEqual([1, 1])
    expect([a.click_rate_7d, a.click_rate_30d]).toEqual([0, 0.5])
    expect([a.click_to_open_rate_7d, a.click_to_open_rate_90d]).toEqual([0, 0.5])
    expect(a.raw_opens_90d).toBe(3)
    expect(a.machine_opens_90d).toBe(1)
    expect(a.raw_clicks_90d).toBe(2)
    expect(a.scanner_clicks_90d).toBe(1)
  })

  it('computes delays and recency by hand', async () => {
    const features = await computeFeatures(store.client, AS_OF, 'UTC')
    const a = valuesOf(features, A)
    // m1: 06:30:05 to 22:30:00 is 959 min 55 s; m2: 06:30:05 to 07:30:00 is 59 min 55 s.
    expect(a.median_open_delay_minutes).toBeCloseTo((959 + 55 / 60 + (59 + 55 / 60)) / 2, 9)
    expect(a.days_since_last_open).toBeCloseTo(16.5 / 24, 12)
    expect(a.days_since_last_click).toBeCloseTo(
      (AS_OF - Date.parse('2025-03-09T22:31:00Z')) / DAY,
      12,
    )
    const b = valuesOf(features, B)
    // 12:00 to 17:45 UTC.
    expect(b.median_open_delay_minutes).toBe(345)
    expect(b.days_since_last_click).toBe(365)
    const c = valuesOf(features, C)
    expect(c.median_open_delay_minutes).toBe(OPEN_DELAY_CAP_MINUTES)
    expect(c.days_since_last_open).toBe(365)
  })

  it('profiles days and hours by hand', async () => {
    const features = await computeFeatures(store.client, AS_OF, 'UTC')
    const a = valuesOf(features, A)
    // 23:30 and 23:31 on Sunday, 09:30 on Monday, Warsaw time.
    expect(a.day_of_week_share_sun).toBeCloseTo(2 / 3, 12)
    expect(a.day_of_week_share_mon).toBeCloseTo(1 / 3, 12)
    const angles = [23.5, 23 + 31 / 60, 9.5].map((hour) => (2 * Math.PI * hour) / 24)
    const cos = angles.reduce((sum, angle) => sum + Math.cos(angle), 0) / 3
    const sin = angles.reduce((sum, angle) => sum + Math.sin(angle), 0) / 3
    const meanHour = ((((Math.atan2(sin, cos) * 12) / Math.PI) % 24) + 24) % 24
    expect(a.mean_engagement_hour).toBeCloseTo(meanHour, 9)
    expect(a.hour_concentration).toBeCloseTo(Math.hypot(cos, sin), 9)
    const b = valuesOf(features, B)
    // 23:15 on Friday in Kolkata.
    expect(b.day_of_week_share_fri).toBe(1)
    expect(b.mean_engagement_hour).toBeCloseTo(23.25, 9)
    expect(b.hour_concentration).toBeCloseTo(1, 12)
    const c = valuesOf(features, C)
    expect(c.mean_engagement_hour).toBe(0)
    expect(c.hour_concentration).toBe(0)
  })

  it('filters by contact key', async () => {
    const features = await computeFeatures(store.client, AS_OF, 'UTC', [B, 'nobody@example.com'])
    expect(features.contactKeys).toEqual([B])
  })

  it('ignores events after the cutoff', async () => {
    const before = await computeFeatures(store.client, AS_OF, 'UTC')
    await storeEvents(store.client, LATER)
    const after = await computeFeatures(store.client, AS_OF, 'UTC')
    expect(after.contactKeys).toEqual(before.contactKeys)
    expect(Array.from(after.matrix.data)).toEqual(Array.from(before.matrix.data))
  })
})

describe('churnLabels', () => {
  it('labels contacts without engagement', async () => {
    await storeEvents(store.client, LATER)
    const labels = await churnLabels(store.client, [A, B, C], AS_OF, 30)
    expect(Array.from(labels)).toEqual([0, 0, 1])
  })

  it('ends the horizon inclusively', async () => {
    // The horizon ends exactly at b's click, which therefore counts; 1 ms earlier it does not.
    const horizonDays = (Date.parse('2025-04-03T06:30:00Z') - AS_OF) / DAY
    const labels = await churnLabels(store.client, [A, B], AS_OF, horizonDays)
    expect(Array.from(labels)).toEqual([0, 0])
    const shorter = await churnLabels(store.client, [A, B], AS_OF, horizonDays - 1 / DAY)
    expect(Array.from(shorter)).toEqual([0, 1])
  })
})
