/**
 * Contacts with little or no data: every value must be finite and, where the
 * contact lacks the events a feature needs, equal the catalogue's `noData`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NormalizedEvent } from '../../src/events/types.ts'
import { FEATURES } from '../../src/features/catalogue.ts'
import { computeFeatures, type FeatureMatrix } from '../../src/features/compute.ts'
import type { Store } from '../../src/store/client.ts'
import { storeContacts, storeEvents } from '../../src/store/events.ts'
import { createEventFactory, openTempStore, type TempStore, valuesOf } from '../helpers/features.ts'

const DAY = 86_400_000
const AS_OF = Date.UTC(2025, 3, 1) // 2025-04-01T00:00Z

const event = createEventFactory({
  idPrefix: 'n',
  campaignId: 'quiet',
  ip: '192.0.2.40',
  userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)',
  url: 'https://shop.example.com/a',
})

const RECORD_ONLY = 'record-only@example.com'
const SENDS_ONLY = 'sends-only@example.com'
const BOUNCES_ONLY = 'bounces-only@example.com'
const MACHINE_OPENS_ONLY = 'machine-opens-only@example.com'
const SCANNER_CLICKS_ONLY = 'scanner-clicks-only@example.com'
const LATER_WITH_RECORD = 'later-with-record@example.com'
const LATER_ONLY = 'later-only@example.com'
const CREATED_LATER = 'created-later@example.com'

const SEND_AT = AS_OF - 2.5 * DAY
const HARD_BOUNCE_AT = AS_OF - 12 * DAY
const FIRST_MACHINE_OPEN_AT = AS_OF - 20 * DAY
const SCANNER_AT = AS_OF - 40 * DAY

const EVENTS: NormalizedEvent[] = [
  event(SENDS_ONLY, 'm1', 'send', SEND_AT),
  event(BOUNCES_ONLY, 'm1', 'bounce', HARD_BOUNCE_AT, { bounceKind: 'hard' }),
  event(BOUNCES_ONLY, 'm2', 'bounce', AS_OF - 11 * DAY, { bounceKind: 'soft' }),
  // A flagged open and an Apple proxy open, with no delivery events.
  event(MACHINE_OPENS_ONLY, 'm1', 'open', FIRST_MACHINE_OPEN_AT, { machineOpen: true }),
  event(MACHINE_OPENS_ONLY, 'm2', 'open', AS_OF - 19 * DAY, { userAgent: 'Mozilla/5.0' }),
  // Two links of one message within a second: a scanner burst.
  event(SCANNER_CLICKS_ONLY, 'm1', 'click', SCANNER_AT, { url: 'https://shop.example.com/a' }),
  event(SCANNER_CLICKS_ONLY, 'm1', 'click', SCANNER_AT + 1000, {
    url: 'https://shop.example.com/b',
  }),
]

// Everything a contact with a full history would have, all after the cutoff.
const LATER: NormalizedEvent[] = [LATER_WITH_RECORD, LATER_ONLY].flatMap((key) => [
  event(key, 'm9', 'send', AS_OF),
  event(key, 'm9', 'delivered', AS_OF + 1000),
  event(key, 'm9', 'open', AS_OF + DAY),
  event(key, 'm9', 'click', AS_OF + DAY + 60_000),
  event(key, 'm9', 'bounce', AS_OF + 2 * DAY, { bounceKind: 'hard' }),
  event(key, 'm9', 'unsubscribe', AS_OF + 3 * DAY),
])

/** Features that differ from `noData` for each contact, with their hand-computed values. */
const EXPECTED: Record<string, Record<string, number>> = {
  [RECORD_ONLY]: { tenure_days: 31 },
  [SENDS_ONLY]: {
    sends_7d: 1,
    sends_30d: 1,
    sends_90d: 1,
    days_since_last_send: 2.5,
    tenure_days: 2.5,
  },
  [BOUNCES_ONLY]: {
    bounces_90d: 2,
    hard_bounces_90d: 1,
    soft_bounces_90d: 1,
    hard_bounced: 1,
    tenure_days: 12,
  },
  [MACHINE_OPENS_ONLY]: {
    raw_opens_90d: 2,
    machine_opens_90d: 2,
    machine_open_share: 1,
    tenure_days: 20,
  },
  [SCANNER_CLICKS_ONLY]: {
    raw_clicks_90d: 2,
    scanner_clicks_90d: 2,
    scanner_click_share: 1,
    tenure_days: 40,
  },
  [LATER_WITH_RECORD]: { tenure_days: 31 },
}

let temp: TempStore
let store: Store
let features: FeatureMatrix

beforeAll(async () => {
  temp = await openTempStore('features-empty')
  store = temp.store
  const created = AS_OF - 31 * DAY
  await storeContacts(store.client, [
    { contactKey: RECORD_ONLY, timeZone: 'Europe/Warsaw', createdAtMs: created },
    { contactKey: LATER_WITH_RECORD, timeZone: 'America/New_York', createdAtMs: created },
    { contactKey: CREATED_LATER, timeZone: 'Asia/Kolkata', createdAtMs: AS_OF + DAY },
  ])
  await storeEvents(store.client, [...EVENTS, ...LATER])
  features = await computeFeatures(store.client, AS_OF, 'UTC')
})

afterAll(() => temp.close())

describe('features without data', () => {
  it('lists contacts known before the cutoff', () => {
    expect(features.contactKeys).toEqual(Object.keys(EXPECTED).sort())
  })

  it('has only finite values', () => {
    const values = Array.from(features.matrix.data)
    expect(values.length).toBe(Object.keys(EXPECTED).length * FEATURES.length)
    for (const [index, value] of values.entries()) {
      const row = Math.floor(index / FEATURES.length)
      const name = FEATURES[index % FEATURES.length]?.name
      expect(Number.isFinite(value), `${name} of ${features.contactKeys[row]}`).toBe(true)
    }
  })

  it.each(Object.keys(EXPECTED))('gives documented values for %s', (key) => {
    const row = features.contactKeys.indexOf(key)
    expect(row).toBeGreaterThanOrEqual(0)
    const expected = EXPECTED[key] as Record<string, number>
    FEATURES.forEach((feature, j) => {
      const value = features.matrix.data[row * features.matrix.cols + j] as number
      const expectedValue = expected[feature.name] ?? feature.noData
      expect(value, feature.name).toBeCloseTo(expectedValue, 12)
    })
  })
})
