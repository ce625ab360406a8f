/**
 * Local time in the feature query: daylight saving changes in Warsaw and New
 * York, the half-hour offset of Kolkata, hour boundaries, and the default
 * zone for contacts without one. Every local time below is worked out by hand
 * in the comment next to its event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NormalizedEvent } from '../../src/events/types.ts'
import { computeFeatures, type FeatureMatrix } from '../../src/features/compute.ts'
import type { Store } from '../../src/store/client.ts'
import { storeContacts, storeEvents } from '../../src/store/events.ts'
import { createEventFactory, openTempStore, type TempStore, valuesOf } from '../helpers/features.ts'

const AS_OF = Date.UTC(2025, 3, 1) // 2025-04-01T00:00Z

const makeEvent = createEventFactory({
  idPrefix: 't',
  campaignId: 'clock',
  ip: '192.0.2.30',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.9.0',
  url: 'https://shop.example.com/',
})

let messages = 0
function event(
  contactKey: string,
  type: NormalizedEvent['type'],
  iso: string,
  extra: Partial<NormalizedEvent> = {},
): NormalizedEvent {
  // A message per event, with no delivery, so no machine rule applies.
  messages += 1
  return makeEvent(contactKey, `m${messages}`, type, iso, extra)
}

const WARSAW = 'warsaw@example.com'
const NEW_YORK = 'new-york@example.com'
const KOLKATA = 'kolkata@example.com'
const LONDON = 'london@example.com'
const OPPOSITE = 'opposite@example.com'
const NO_RECORD = 'no-record@example.com'
const EMPTY_ZONE = 'empty-zone@example.com'

const EVENTS: NormalizedEvent[] = [
  // Warsaw left summer time (UTC+2 to UTC+1) on 2024-10-27 at 01:00Z, so 00:30Z and 01:30Z
  // are both 02:30 local, on a Sunday.
  event(WARSAW, 'open', '2024-10-27T00:30:00Z'),
  event(WARSAW, 'open', '2024-10-27T01:30:00Z'),
  // It entered summer time (UTC+1 to UTC+2) on 2025-03-30 at 01:00Z: 00:30Z is 01:30 and
  // 01:30Z is 03:30 local, a Sunday again.
  event(WARSAW, 'open', '2025-03-30T00:30:00Z'),
  event(WARSAW, 'open', '2025-03-30T01:30:00Z'),

  // New York entered summer time (UTC-5 to UTC-4) on 2025-03-09 at 07:00Z: 06:30Z is 01:30
  // and 07:30Z is 03:30 local, a Sunday. 2025-03-10T13:15Z is 09:15 on Monday.
  event(NEW_YORK, 'open', '2025-03-09T06:30:00Z'),
  event(NEW_YORK, 'open', '2025-03-09T07:30:00Z'),
  event(NEW_YORK, 'click', '2025-03-10T13:15:00Z'),
  // It left summer time (UTC-4 to UTC-5) on 2024-11-03 at 06:00Z: 05:30Z and 06:30Z are both
  // 01:30 local, a Sunday.
  event(NEW_YORK, 'open', '2024-11-03T05:30:00Z'),
  event(NEW_YORK, 'open', '2024-11-03T06:30:00Z'),

  // Kolkata is UTC+05:30 all year: 18:29Z is 23:59 on Friday 28 March, 18:31Z is 00:01 on
  // Saturday 29 March.
  event(KOLKATA, 'click', '2025-03-28T18:29:00Z'),
  event(KOLKATA, 'open', '2025-03-28T18:31:00Z'),

  // London is UTC+0 in January, so these are the local times on Tuesday 14 January: the last
  // second of the night, the first second of the morning, the last second before night and
  // the first second of the night.
  event(LONDON, 'open', '2025-01-14T04:59:59Z'),
  event(LONDON, 'open', '2025-01-14T05:00:00Z'),
  event(LONDON, 'open', '2025-01-14T21:59:59Z'),
  event(LONDON, 'open', '2025-01-14T22:00:00Z'),
  // 06:00 and 18:00 on Wednesday 15 January in London: half a day apart.
  event(OPPOSITE, 'open', '2025-01-15T06:00:00Z'),
  event(OPPOSITE, 'open', '2025-01-15T18:00:00Z'),

  // Without a zone of their own, these contacts use the default zone. In Asia/Tokyo (UTC+9)
  // 2025-03-20T15:00Z is 00:00 on Friday 21 March and 14:59Z is 23:59 on Thursday 20 March. In
  // America/New_York (UTC-4 by then) they are 11:00 and 10:59 on Thursday.
  event(NO_RECORD, 'open', '2025-03-20T15:00:00Z'),
  event(EMPTY_ZONE, 'open', '2025-03-20T14:59:00Z'),
]

let temp: TempStore
let store: Store
let features: FeatureMatrix

/** Returns the hour shares that are not 0, keyed by the two-digit hour. */
function hourProfile(values: Record<string, number>): Record<string, number> {
  const profile: Record<string, number> = {}
  for (let hour = 0; hour < 24; hour++) {
    const key = String(hour).padStart(2, '0')
    const share = values[`hour_share_${key}`] as number
    if (share !== 0) profile[key] = share
  }
  return profile
}

/** Circular mean (hours) and mean resultant length of local times of day given in hours. */
function circularMean(hours: number[]): { hour: number; length: number } {
  const angles = hours.map((hour) => (2 * Math.PI * hour) / 24)
  const cos = angles.reduce((sum, angle) => sum + Math.cos(angle), 0) / hours.length
  const sin = angles.reduce((sum, angle) => sum + Math.sin(angle), 0) / hours.length
  const hour = ((((Math.atan2(sin, cos) * 12) / Math.PI) % 24) + 24) % 24
  return { hour, length: Math.hypot(cos, sin) }
}

/** Distance between two times of day, in hours, the short way round the clock. */
function clockDistance(a: number, b: number): number {
  const d = Math.abs(a - b) % 24
  return Math.min(d, 24 - d)
}

beforeAll(async () => {
  temp = await openTempStore('features-time')
  store = temp.store
  const created = Date.UTC(2024, 0, 1)
  await storeContacts(store.client, [
    { contactKey: WARSAW, timeZone: 'Europe/Warsaw', createdAtMs: created },
    { contactKey: NEW_YORK, timeZone: 'America/New_York', createdAtMs: created },
    { contactKey: KOLKATA, timeZone: 'Asia/Kolkata', createdAtMs: created },
    { contactKey: LONDON, timeZone: 'Europe/London', createdAtMs: created },
    { contactKey: OPPOSITE, timeZone: 'Europe/London', createdAtMs: created },
    { contactKey: EMPTY_ZONE, timeZone: '', createdAtMs: created },
  ])
  await storeEvents(store.client, EVENTS)
  features = await computeFeatures(store.client, AS_OF, 'Asia/Tokyo')
})

afterAll(() => temp.close())

describe('local time', () => {
  it('follows Warsaw across both changes', () => {
    const warsaw = valuesOf(features, WARSAW)
    expect(hourProfile(warsaw)).toEqual({ '01': 0.25, '02': 0.5, '03': 0.25 })
    expect(warsaw.night_share).toBe(1)
    expect(warsaw.weekend_share).toBe(1)
    expect(warsaw.day_of_week_share_sun).toBe(1)
  })

  it('follows New York across both changes', () => {
    const newYork = valuesOf(features, NEW_YORK)
    expect(hourProfile(newYork)).toEqual({ '01': 0.6, '03': 0.2, '09': 0.2 })
    expect(newYork.night_share).toBeCloseTo(0.8, 12)
    expect(newYork.office_share).toBeCloseTo(0.2, 12)
    expect(newYork.morning_share).toBe(0)
    expect(newYork.weekend_share).toBeCloseTo(0.8, 12)
    expect(newYork.day_of_week_share_sun).toBeCloseTo(0.8, 12)
    expect(newYork.day_of_week_share_mon).toBeCloseTo(0.2, 12)
  })

  it('uses the half-hour offset of Kolkata', () => {
    const kolkata = valuesOf(features, KOLKATA)
    expect(hourProfile(kolkata)).toEqual({ '00': 0.5, '23': 0.5 })
    expect(kolkata.night_share).toBe(1)
    expect(kolkata.weekend_share).toBe(0.5)
    expect(kolkata.day_of_week_share_fri).toBe(0.5)
    expect(kolkata.day_of_week_share_sat).toBe(0.5)
  })

  it('splits night and morning at the hour', () => {
    const london = valuesOf(features, LONDON)
    expect(hourProfile(london)).toEqual({ '04': 0.25, '05': 0.25, '21': 0.25, '22': 0.25 })
    expect(london.night_share).toBe(0.5)
    expect(london.morning_share).toBe(0.25)
    expect(london.office_share).toBe(0)
    expect(london.day_of_week_share_tue).toBe(1)
  })

  it('uses the default zone without one', () => {
    expect(features.timeZones[features.contactKeys.indexOf(NO_RECORD)]).toBe('Asia/Tokyo')
    expect(features.timeZones[features.contactKeys.indexOf(EMPTY_ZONE)]).toBe('Asia/Tokyo')
    const noRecord = valuesOf(features, NO_RECORD)
    expect(noRecord.hour_share_00).toBe(1)
    expect(noRecord.day_of_week_share_fri).toBe(1)
    const emptyZone = valuesOf(features, EMPTY_ZONE)
    expect(emptyZone.hour_share_23).toBe(1)
    expect(emptyZone.day_of_week_share_thu).toBe(1)
  })

  it('uses a default zone that contacts also have', async () => {
    const inNewYork = await computeFeatures(store.client, AS_OF, 'America/New_York')
    expect(inNewYork.timeZones[inNewYork.contactKeys.indexOf(NO_RECORD)]).toBe('America/New_York')
    expect(valuesOf(inNewYork, NO_RECORD).hour_share_11).toBe(1)
    expect(valuesOf(inNewYork, EMPTY_ZONE).hour_share_10).toBe(1)
    // Contacts with a zone of their own do not move.
    expect(hourProfile(valuesOf(inNewYork, KOLKATA))).toEqual({ '00': 0.5, '23': 0.5 })
  })
})

describe('circular hour', () => {
  it('averages hours round the clock', () => {
    const newYork = valuesOf(features, NEW_YORK)
    const expected = circularMean([1.5, 3.5, 9.25, 1.5, 1.5])
    expect(newYork.mean_engagement_hour).toBeCloseTo(expected.hour, 9)
    expect(newYork.hour_concentration).toBeCloseTo(expected.length, 9)
  })

  it('wraps at midnight', () => {
    const kolkata = valuesOf(features, KOLKATA)
    // 23:59 and 00:01 average to midnight, not to noon.
    expect(clockDistance(kolkata.mean_engagement_hour ?? NaN, 0)).toBeLessThan(1e-9)
    expect(kolkata.mean_engagement_hour).toBeGreaterThanOrEqual(0)
    expect(kolkata.mean_engagement_hour).toBeLessThan(24)
    expect(kolkata.hour_concentration).toBeCloseTo(Math.cos((2 * Math.PI) / 1440), 12)
  })

  it('is exact for one event', () => {
    const emptyZone = valuesOf(features, EMPTY_ZONE)
    expect(emptyZone.mean_engagement_hour).toBeCloseTo(23 + 59 / 60, 9)
    expect(emptyZone.hour_concentration).toBeCloseTo(1, 12)
  })

  it('averages the London hours', () => {
    const london = valuesOf(features, LONDON)
    const expected = circularMean([5 - 1 / 3600, 5, 22 - 1 / 3600, 22])
    expect(london.hour_concentration).toBeCloseTo(expected.length, 9)
    expect(clockDistance(london.mean_engagement_hour ?? NaN, expected.hour)).toBeLessThan(1e-9)
  })

  it('reports 0 for opposite hours', () => {
    // 06:00 and 18:00 cancel out: no mean direction, so both features are 0.
    const opposite = valuesOf(features, OPPOSITE)
    expect(opposite.hour_concentration).toBeLessThan(1e-9)
    expect(opposite.mean_engagement_hour).toBe(0)
  })
})
