/**
 * The human and machine rules of src/features/sql.ts: for each rule, a
 * contact whose events the rule flags and a near miss that it leaves human.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NormalizedEvent } from '../../src/events/types.ts'
import { computeFeatures, type FeatureMatrix } from '../../src/features/compute.ts'
import { churnLabels } from '../../src/features/labels.ts'
import {
  GOOGLE_PREFETCH_SECONDS,
  SCANNER_BURST_SECONDS,
  SCANNER_DELIVERY_SECONDS,
} from '../../src/features/sql.ts'
import type { Store } from '../../src/store/client.ts'
import { storeEvents } from '../../src/store/events.ts'
import { createEventFactory, openTempStore, type TempStore, valuesOf } from '../helpers/features.ts'

const SECOND = 1000
const DAY = 86_400_000
const AS_OF = Date.UTC(2025, 3, 1) // 2025-04-01T00:00Z
const DELIVERED = Date.UTC(2025, 2, 10, 10) // 2025-03-10T10:00Z

const DESKTOP_CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36'
const APPLE_MAIL_IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148'
const GOOGLE_PROXY =
  'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)'

const event = createEventFactory({
  idPrefix: 'r',
  campaignId: 'rules',
  ip: '192.0.2.20',
  userAgent: DESKTOP_CHROME,
  url: 'https://shop.example.com/a',
})

const delivered = (contactKey: string, messageId: string, atMs = DELIVERED) =>
  event(contactKey, messageId, 'delivered', atMs)

const LINK_A = { url: 'https://shop.example.com/a' }
const LINK_B = { url: 'https://shop.example.com/b' }

const EVENTS: NormalizedEvent[] = [
  // Provider flag: the same open is a machine open only with the flag.
  delivered('flag-yes@example.com', 'm1'),
  event('flag-yes@example.com', 'm1', 'open', DELIVERED + 2 * 3_600_000, { machineOpen: true }),
  delivered('flag-no@example.com', 'm1'),
  event('flag-no@example.com', 'm1', 'open', DELIVERED + 2 * 3_600_000),

  // Apple Mail Privacy Protection: the bare user agent is a machine even hours after delivery,
  // while Apple Mail's own user agent, which also starts with Mozilla/5.0, is human even at once.
  delivered('apple-yes@example.com', 'm1'),
  event('apple-yes@example.com', 'm1', 'open', DELIVERED + 3 * 3_600_000, {
    userAgent: 'Mozilla/5.0',
  }),
  delivered('apple-no@example.com', 'm1'),
  event('apple-no@example.com', 'm1', 'open', DELIVERED + 5 * SECOND, {
    userAgent: APPLE_MAIL_IPHONE,
  }),

  // Gmail's image proxy: a prefetch within the limit of delivery, either side, is a machine.
  delivered('google-yes@example.com', 'm1'),
  event('google-yes@example.com', 'm1', 'open', DELIVERED + GOOGLE_PREFETCH_SECONDS * SECOND, {
    userAgent: GOOGLE_PROXY,
  }),
  delivered('google-yes@example.com', 'm2'),
  event('google-yes@example.com', 'm2', 'open', DELIVERED - 2 * SECOND, {
    userAgent: GOOGLE_PROXY,
  }),
  // One second past the limit, hours later, or with no delivery to compare: a person reading.
  delivered('google-no@example.com', 'm1'),
  event('google-no@example.com', 'm1', 'open', DELIVERED + (GOOGLE_PREFETCH_SECONDS + 1) * SECOND, {
    userAgent: GOOGLE_PROXY,
  }),
  delivered('google-no@example.com', 'm2'),
  event('google-no@example.com', 'm2', 'open', DELIVERED + 3 * 3_600_000, {
    userAgent: GOOGLE_PROXY,
  }),
  event('google-no@example.com', 'm3', 'open', DELIVERED, { userAgent: GOOGLE_PROXY }),

  // Link scanner at delivery: within the limit either side.
  delivered('scan-yes@example.com', 'm1'),
  event('scan-yes@example.com', 'm1', 'click', DELIVERED + SCANNER_DELIVERY_SECONDS * SECOND),
  delivered('scan-yes@example.com', 'm2'),
  event('scan-yes@example.com', 'm2', 'click', DELIVERED - 2 * SECOND),
  delivered('scan-no@example.com', 'm1'),
  event('scan-no@example.com', 'm1', 'click', DELIVERED + (SCANNER_DELIVERY_SECONDS + 1) * SECOND),

  // Link scanner burst: two different links of one message within the limit of each other.
  delivered('burst-yes@example.com', 'm1'),
  event('burst-yes@example.com', 'm1', 'click', DELIVERED + 3_600_000, LINK_A),
  event(
    'burst-yes@example.com',
    'm1',
    'click',
    DELIVERED + 3_600_000 + SCANNER_BURST_SECONDS * SECOND,
    LINK_B,
  ),
  // Near misses: different links just too far apart, a double click on one link, and two
  // links close together but in different messages.
  delivered('burst-no@example.com', 'm1'),
  event('burst-no@example.com', 'm1', 'click', DELIVERED + 3_600_000, LINK_A),
  event(
    'burst-no@example.com',
    'm1',
    'click',
    DELIVERED + 3_600_000 + (SCANNER_BURST_SECONDS + 1) * SECOND,
    LINK_B,
  ),
  delivered('burst-no@example.com', 'm2'),
  event('burst-no@example.com', 'm2', 'click', DELIVERED + 7_200_000, LINK_A),
  event('burst-no@example.com', 'm2', 'click', DELIVERED + 7_200_000 + 500, LINK_A),
  delivered('burst-no@example.com', 'm3'),
  event('burst-no@example.com', 'm3', 'click', DELIVERED + 7_200_000 + 1000, LINK_B),

  // Only events before the cutoff classify those before it: the delivery and the second link
  // come after the cutoff, so as of the cutoff both early clicks are human.
  event('cutoff-delivery@example.com', 'm1', 'click', AS_OF - SECOND),
  delivered('cutoff-delivery@example.com', 'm1', AS_OF + SECOND),
  event('cutoff-burst@example.com', 'm1', 'click', AS_OF - 500, LINK_A),
  event('cutoff-burst@example.com', 'm1', 'click', AS_OF + 500, LINK_B),

  // Churn labels use the same rules, with the delivery just before the label window.
  delivered('label-scanner@example.com', 'm1', AS_OF - SECOND),
  event('label-scanner@example.com', 'm1', 'click', AS_OF + SECOND),
  delivered('label-human@example.com', 'm1', AS_OF - SECOND),
  event('label-human@example.com', 'm1', 'click', AS_OF + SCANNER_DELIVERY_SECONDS * SECOND),
  event('label-burst@example.com', 'm1', 'click', AS_OF + DAY, LINK_A),
  event('label-burst@example.com', 'm1', 'click', AS_OF + DAY + SECOND, LINK_B),
  event('label-google@example.com', 'm1', 'delivered', AS_OF - SECOND),
  event('label-google@example.com', 'm1', 'open', AS_OF + 5 * SECOND, { userAgent: GOOGLE_PROXY }),
]

let temp: TempStore
let store: Store
let asOf: FeatureMatrix
let dayLater: FeatureMatrix

beforeAll(async () => {
  temp = await openTempStore('features-rules')
  store = temp.store
  await storeEvents(store.client, EVENTS)
  asOf = await computeFeatures(store.client, AS_OF, 'UTC')
  dayLater = await computeFeatures(store.client, AS_OF + DAY, 'UTC')
})

afterAll(() => temp.close())

describe('open rules', () => {
  it('trusts the provider flag', () => {
    const flagged = valuesOf(asOf, 'flag-yes@example.com')
    expect(flagged.opens_90d).toBe(0)
    expect(flagged.machine_opens_90d).toBe(1)
    expect(flagged.machine_open_share).toBe(1)
    const plain = valuesOf(asOf, 'flag-no@example.com')
    expect(plain.opens_90d).toBe(1)
    expect(plain.machine_opens_90d).toBe(0)
  })

  it('flags the bare Apple proxy agent', () => {
    const proxy = valuesOf(asOf, 'apple-yes@example.com')
    expect(proxy.opens_90d).toBe(0)
    expect(proxy.machine_opens_90d).toBe(1)
    expect(proxy.open_rate_90d).toBe(0)
    const appleMail = valuesOf(asOf, 'apple-no@example.com')
    expect(appleMail.opens_90d).toBe(1)
    expect(appleMail.machine_opens_90d).toBe(0)
  })

  it('flags Gmail proxy prefetches only', () => {
    const prefetch = valuesOf(asOf, 'google-yes@example.com')
    expect(prefetch.opens_90d).toBe(0)
    expect(prefetch.machine_opens_90d).toBe(2)
    expect(prefetch.raw_opens_90d).toBe(2)
    const read = valuesOf(asOf, 'google-no@example.com')
    expect(read.opens_90d).toBe(3)
    expect(read.machine_opens_90d).toBe(0)
    expect(read.open_rate_90d).toBe(1)
  })
})

describe('click rules', () => {
  it('flags clicks at delivery', () => {
    const scanned = valuesOf(asOf, 'scan-yes@example.com')
    expect(scanned.clicks_90d).toBe(0)
    expect(scanned.scanner_clicks_90d).toBe(2)
    expect(scanned.scanner_click_share).toBe(1)
    expect(scanned.click_rate_90d).toBe(0)
    const person = valuesOf(asOf, 'scan-no@example.com')
    expect(person.clicks_90d).toBe(1)
    expect(person.scanner_clicks_90d).toBe(0)
    expect(person.click_rate_90d).toBe(1)
  })

  it('flags bursts over different links', () => {
    const burst = valuesOf(asOf, 'burst-yes@example.com')
    expect(burst.clicks_90d).toBe(0)
    expect(burst.scanner_clicks_90d).toBe(2)
    const person = valuesOf(asOf, 'burst-no@example.com')
    expect(person.clicks_90d).toBe(5)
    expect(person.scanner_clicks_90d).toBe(0)
    expect(person.raw_clicks_90d).toBe(5)
  })
})

describe('classification in time', () => {
  it('ignores deliveries after the cutoff', () => {
    expect(valuesOf(asOf, 'cutoff-delivery@example.com').clicks_90d).toBe(1)
    const later = valuesOf(dayLater, 'cutoff-delivery@example.com')
    expect(later.clicks_90d).toBe(0)
    expect(later.scanner_clicks_90d).toBe(1)
  })

  it('ignores burst partners after the cutoff', () => {
    const before = valuesOf(asOf, 'cutoff-burst@example.com')
    expect(before.clicks_90d).toBe(1)
    expect(before.raw_clicks_90d).toBe(1)
    const later = valuesOf(dayLater, 'cutoff-burst@example.com')
    expect(later.clicks_90d).toBe(0)
    expect(later.scanner_clicks_90d).toBe(2)
  })

  it('labels churn with the same rules', async () => {
    const keys = [
      'label-scanner@example.com',
      'label-human@example.com',
      'label-burst@example.com',
      'label-google@example.com',
    ]
    const labels = await churnLabels(store.client, keys, AS_OF, 30)
    // Only the click 4 s after delivery is human: the others are a scanner at delivery, a
    // scanner burst and a Gmail prefetch 6 s after delivery.
    expect(Array.from(labels)).toEqual([1, 0, 1, 1])
  })
})
