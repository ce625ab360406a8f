/**
 * Human opens per hour of the week: local time across daylight saving
 * changes and half-hour offsets, the default zone, the machine rules and the
 * cutoff. Every slot below is worked out by hand next to its event; slot =
 * 24 * weekday + hour, with Monday as weekday 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NormalizedEvent } from '../../src/events/types.ts'
import { computeFeatures } from '../../src/features/compute.ts'
import {
  countWeekOpens,
  HOURS_PER_WEEK,
  toDenseWeek,
  type WeekOpenCounts,
} from '../../src/features/send-time.ts'
import type { Store } from '../../src/store/client.ts'
import { storeContacts, storeEvents } from '../../src/store/events.ts'
import { createEventFactory, openTempStore, type TempStore, valuesOf } from '../helpers/features.ts'

const AS_OF = Date.UTC(2025, 3, 1) // 2025-04-01T00:00Z

const makeEvent = createEventFactory({
  idPrefix: 'w',
  campaignId: 'week',
  ip: '192.0.2.40',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.9.0',
  url: 'https://shop.example.com/',
})

let messages = 0
function event(
  contactKey: string,
  type: NormalizedEvent['type'],
  at: string | number,
  extra: Partial<NormalizedEvent> = {},
): NormalizedEvent {
  // A message per event, with no delivery, so no rule that needs a delivery applies.
  messages += 1
  return makeEvent(contactKey, `m${messages}`, type, at, extra)
}

const WARSAW = 'warsaw@example.com'
const NEW_YORK = 'new-york@example.com'
const KOLKATA = 'kolkata@example.com'
const MACHINES = 'machines@example.com'
const EDGE = 'edge@example.com'
const NO_RECORD = 'no-record@example.com'
const CLICKS_ONLY = 'clicks-only@example.com'

const GMAIL_PROXY_AGENT =
  'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)'

const EVENTS: NormalizedEvent[] = [
  // Warsaw left summer time on 2024-10-27 at 01:00Z: 00:30Z and 01:30Z are both 02:30 on
  // Sunday, slot 6 * 24 + 2 = 146. It entered summer time on 2025-03-30 at 01:00Z: 00:30Z is
  // 01:30 (slot 145) and 01:30Z is 03:30 (slot 147), on Sunday again.
  event(WARSAW, 'open', '2024-10-27T00:30:00Z'),
  event(WARSAW, 'open', '2024-10-27T01:30:00Z'),
  event(WARSAW, 'open', '2025-03-30T00:30:00Z'),
  event(WARSAW, 'open', '2025-03-30T01:30:00Z'),

  // New York entered summer time on 2025-03-09 at 07:00Z: 06:30Z is 01:30 (slot 145) and
  // 07:30Z is 03:30 (slot 147) on Sunday. 2025-03-10T13:15Z is 09:15 on Monday (slot 9); the
  // click at the same time is not an open.
  event(NEW_YORK, 'open', '2025-03-09T06:30:00Z'),
  event(NEW_YORK, 'open', '2025-03-09T07:30:00Z'),
  event(NEW_YORK, 'open', '2025-03-10T13:15:00Z'),
  event(NEW_YORK, 'click', '2025-03-10T13:15:00Z'),

  // Kolkata is UTC+05:30: 18:29Z is 23:59 on Friday 28 March (slot 4 * 24 + 23 = 119), 18:31Z
  // is 00:01 on Saturday 29 March (slot 120).
  event(KOLKATA, 'open', '2025-03-28T18:29:00Z'),
  event(KOLKATA, 'open', '2025-03-28T18:31:00Z'),

  // London is UTC+0 in January. Only the last open is human: 10:00 on Tuesday 14 January,
  // slot 34. The first is flagged by the provider, the second comes from Apple's proxy, and
  // the third is a Gmail proxy fetch 5 s after its delivery.
  event(MACHINES, 'open', '2025-01-14T08:00:00Z', { machineOpen: true }),
  event(MACHINES, 'open', '2025-01-14T09:00:00Z', { userAgent: 'Mozilla/5.0' }),
  makeEvent(MACHINES, 'gmail', 'delivered', '2025-01-14T09:30:00Z'),
  makeEvent(MACHINES, 'gmail', 'open', '2025-01-14T09:30:05Z', { userAgent: GMAIL_PROXY_AGENT }),
  event(MACHINES, 'open', '2025-01-14T10:00:00Z'),

  // London is UTC+1 from 30 March, so 1 ms before the cutoff is 00:59 on Tuesday 1 April
  // (slot 24). The open at the cutoff itself does not count.
  event(EDGE, 'open', AS_OF - 1),
  event(EDGE, 'open', AS_OF),

  // No contact record: the default zone, Asia/Tokyo (UTC+9), makes 2025-03-20T15:00Z 00:00 on
  // Friday 21 March (slot 96).
  event(NO_RECORD, 'open', '2025-03-20T15:00:00Z'),

  event(CLICKS_ONLY, 'click', '2025-03-20T15:00:00Z'),
]

let temp: TempStore
let store: Store
let counts: Map<string, WeekOpenCounts>

beforeAll(async () => {
  temp = await openTempStore('features-send-time')
  store = temp.store
  const created = Date.UTC(2024, 0, 1)
  await storeContacts(store.client, [
    { contactKey: WARSAW, timeZone: 'Europe/Warsaw', createdAtMs: created },
    { contactKey: NEW_YORK, timeZone: 'America/New_York', createdAtMs: created },
    { contactKey: KOLKATA, timeZone: 'Asia/Kolkata', createdAtMs: created },
    { contactKey: MACHINES, timeZone: 'Europe/London', createdAtMs: created },
    { contactKey: EDGE, timeZone: 'Europe/London', createdAtMs: created },
    { contactKey: CLICKS_ONLY, timeZone: 'Europe/London', createdAtMs: created },
  ])
  await storeEvents(store.client, EVENTS)
  counts = await countWeekOpens(store.client, AS_OF, 'Asia/Tokyo')
})

afterAll(() => temp.close())

/** Returns the counts as `{ slot: opens }`. */
function bySlot(key: string): Record<number, number> {
  const entry = counts.get(key)
  expect(entry, `${key} has opens`).toBeDefined()
  const { slots, counts: opens } = entry as WeekOpenCounts
  return Object.fromEntries(slots.map((slot, i) => [slot, opens[i] as number]))
}

describe('week open counts', () => {
  it('follows Warsaw across both changes', () => {
    expect(bySlot(WARSAW)).toEqual({ 145: 1, 146: 2, 147: 1 })
  })

  it('counts opens, not clicks', () => {
    expect(bySlot(NEW_YORK)).toEqual({ 9: 1, 145: 1, 147: 1 })
  })

  it('uses the half-hour offset of Kolkata', () => {
    expect(bySlot(KOLKATA)).toEqual({ 119: 1, 120: 1 })
  })

  it('leaves out machine opens', () => {
    expect(bySlot(MACHINES)).toEqual({ 34: 1 })
  })

  it('stops before the cutoff', () => {
    expect(bySlot(EDGE)).toEqual({ 24: 1 })
  })

  it('uses the default zone without a record', () => {
    expect(bySlot(NO_RECORD)).toEqual({ 96: 1 })
  })

  it('has no row without a human open', () => {
    expect(counts.has(CLICKS_ONLY)).toBe(false)
    expect([...counts.keys()].sort()).toEqual(
      [WARSAW, NEW_YORK, KOLKATA, MACHINES, EDGE, NO_RECORD].sort(),
    )
  })

  it('lists slots in ascending order', () => {
    for (const [key, entry] of counts) {
      expect(entry.slots, key).toEqual([...entry.slots].sort((a, b) => a - b))
    }
  })

  it('reads only the keys asked for', async () => {
    const some = await countWeekOpens(store.client, AS_OF, 'Asia/Tokyo', [
      KOLKATA,
      'nobody@example.com',
    ])
    expect([...some.keys()]).toEqual([KOLKATA])
    expect(some.get(KOLKATA)).toEqual(counts.get(KOLKATA))
  })

  it('agrees with the hour shares', async () => {
    // For contacts with opens and no clicks, the counts summed over the days of the week and
    // divided by their total are the hour_share_* features.
    const features = await computeFeatures(store.client, AS_OF, 'Asia/Tokyo')
    for (const key of [WARSAW, KOLKATA, MACHINES, EDGE, NO_RECORD]) {
      const dense = toDenseWeek(counts.get(key) as WeekOpenCounts)
      const total = dense.reduce((sum, value) => sum + value, 0)
      const values = valuesOf(features, key)
      for (let hour = 0; hour < 24; hour++) {
        let opens = 0
        for (let slot = hour; slot < HOURS_PER_WEEK; slot += 24) opens += dense[slot] as number
        const name = `hour_share_${String(hour).padStart(2, '0')}`
        expect(opens / total, `${key} ${name}`).toBeCloseTo(values[name] as number, 12)
      }
    }
  })
})
