import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NormalizedEvent } from '../../src/events/types.ts'
import { FEATURE_NAMES } from '../../src/features/catalogue.ts'
import { computeFeatures, type FeatureMatrix } from '../../src/features/compute.ts'
import { churnLabels } from '../../src/features/labels.ts'
import { openStore, type Store } from '../../src/store/client.ts'
import { storeContacts, storeEvents } from '../../src/store/events.ts'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const AS_OF = Date.UTC(2025, 3, 1) // 2025-04-01T00:00Z

let sequence = 0
function event(
  contactKey: string,
  messageId: string,
  type: NormalizedEvent['type'],
  iso: string,
  extra: Partial<NormalizedEvent> = {},
): NormalizedEvent {
  sequence += 1
  return {
    eventId: `e${sequence}`,
    provider: 'jsonl',
    contactKey,
    campaignId: 'spring',
    messageId,
    type,
    occurredAtMs: Date.parse(iso),
    url: type === 'click' ? 'https://shop.example.com/' : '',
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)',
    ip: '192.0.2.10',
    machineOpen: false,
    bounceKind: '',
    ...extra,
  }
}

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
]

let dir: string
let store: Store

function valuesOf(features: FeatureMatrix, key: string): Record<string, number> {
  const row = features.contactKeys.indexOf(key)
  expect(row).toBeGreaterThanOrEqual(0)
  const { cols, data } = features.matrix
  return Object.fromEntries(
    features.featureNames.map((name, j) => [name, data[row * cols + j] as number]),
  )
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'features-'))
  store = await openStore({
    chdbPath: dir,
    user: 'default',
    password: '',
    database: 'default',
    url: undefined,
  })
  await storeContacts(store.client, [
    { contactKey: A, timeZone: 'Europe/Warsaw', createdAtMs: Date.UTC(2025, 0, 1) },
    { contactKey: B, timeZone: 'Asia/Kolkata', createdAtMs: Date.UTC(2025, 2, 25) },
  ])
  await storeEvents(store.client, EVENTS)
})

afterAll(async () => {
  await store.close()
  await rm(dir, { recursive: true, force: true })
})

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

  it('ends the horizon exclusively', async () => {
    // The horizon ends exactly at b's click, which therefore does not count.
    const horizonDays = (Date.parse('2025-04-03T06:30:00Z') - AS_OF) / DAY
    const labels = await churnLabels(store.client, [A, B], AS_OF, horizonDays)
    expect(Array.from(labels)).toEqual([0, 1])
  })
})
