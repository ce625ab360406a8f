import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { churnLabels } from '../../src/features/labels.ts'
import { storeEvents } from '../../src/store/events.ts'
import { createEventFactory, openTempStore, type TempStore } from '../helpers/features.ts'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const CUTOFF = Date.UTC(2025, 3, 1)
const HORIZON_DAYS = 10
const END = CUTOFF + HORIZON_DAYS * DAY

const event = createEventFactory({ idPrefix: 'l', userAgent: 'Mozilla/5.0 (X11; Linux x86_64)' })

// Each contact gets a delivery a day before its one open, so the open is a human one.
const OPENS: Record<string, number> = {
  'at-cutoff@example.com': CUTOFF,
  'after-cutoff@example.com': CUTOFF + 1,
  'at-end@example.com': END,
  'after-end@example.com': END + 1,
  'before-cutoff@example.com': CUTOFF - 1,
}

let temp: TempStore

beforeAll(async () => {
  temp = await openTempStore('churn-labels')
  const events = Object.entries(OPENS).flatMap(([key, at], i) => [
    event(key, `m${i}`, 'delivered', at - DAY),
    event(key, `m${i}`, 'open', at),
  ])
  await storeEvents(temp.store.client, events)
})

afterAll(() => temp.close())

describe('churnLabels window (cutoff, cutoff + horizon]', () => {
  it('labels each boundary instant', async () => {
    const keys = Object.keys(OPENS)
    const labels = await churnLabels(temp.store.client, keys, CUTOFF, HORIZON_DAYS)
    const byKey = Object.fromEntries(keys.map((key, i) => [key, labels[i]]))
    // An open exactly at the cutoff is outside the window: the contact churned.
    expect(byKey['at-cutoff@example.com']).toBe(1)
    expect(byKey['after-cutoff@example.com']).toBe(0)
    // The window includes its end.
    expect(byKey['at-end@example.com']).toBe(0)
    expect(byKey['after-end@example.com']).toBe(1)
    expect(byKey['before-cutoff@example.com']).toBe(1)
  })

  it('labels unknown keys as churned', async () => {
    const labels = await churnLabels(temp.store.client, ['nobody@example.com'], CUTOFF, 1)
    expect(Array.from(labels)).toEqual([1])
  })
})
