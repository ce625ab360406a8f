import { describe, expect, it } from 'vitest'
import { FeatureCache, type CachedContact } from '../../../inference/feature-cache.ts'

const MODEL = { version: 'a' }
const OTHER_MODEL = { version: 'b' }

function contact(value: number): CachedContact {
  return { features: Float64Array.of(value), weekOpens: undefined, asOfMs: 0 }
}

/** Creates a cache on a clock that the test moves by hand. */
function cacheAt(options: { ttlMs: number; maxEntries: number }) {
  const clock = { now: 1_000_000 }
  const cache = new FeatureCache({ ...options, now: () => clock.now })
  return { cache, clock }
}

describe('FeatureCache', () => {
  it('returns a stored contact', () => {
    const { cache } = cacheAt({ ttlMs: 60_000, maxEntries: 10 })
    const stored = contact(1)

    cache.set(MODEL, 'a@example.com', stored)

    expect(cache.get(MODEL, 'a@example.com')).toBe(stored)
    expect(cache.get(MODEL, 'b@example.com')).toBeUndefined()
    expect(cache.hits).toBe(1)
    expect(cache.misses).toBe(1)
  })

  it('expires entries after the lifetime', () => {
    const { cache, clock } = cacheAt({ ttlMs: 60_000, maxEntries: 10 })
    cache.set(MODEL, 'a@example.com', contact(1))

    clock.now += 59_999
    expect(cache.get(MODEL, 'a@example.com')).toBeDefined()
    clock.now += 1
    expect(cache.get(MODEL, 'a@example.com')).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it('restarts the lifetime on set', () => {
    const { cache, clock } = cacheAt({ ttlMs: 1000, maxEntries: 10 })
    cache.set(MODEL, 'a@example.com', contact(1))
    clock.now += 900
    cache.set(MODEL, 'a@example.com', contact(2))
    clock.now += 900

    expect(cache.get(MODEL, 'a@example.com')?.features[0]).toBe(2)
  })

  it('drops the least recently used', () => {
    const { cache } = cacheAt({ ttlMs: 60_000, maxEntries: 2 })
    cache.set(MODEL, 'a', contact(1))
    cache.set(MODEL, 'b', contact(2))
    // Reading a makes b the least recently used.
    expect(cache.get(MODEL, 'a')).toBeDefined()

    cache.set(MODEL, 'c', contact(3))

    expect(cache.size).toBe(2)
    expect(cache.get(MODEL, 'b')).toBeUndefined()
    expect(cache.get(MODEL, 'a')?.features[0]).toBe(1)
    expect(cache.get(MODEL, 'c')?.features[0]).toBe(3)
  })

  it('empties on another model', () => {
    const { cache } = cacheAt({ ttlMs: 60_000, maxEntries: 10 })
    cache.set(MODEL, 'a', contact(1))

    expect(cache.get(OTHER_MODEL, 'a')).toBeUndefined()
    expect(cache.size).toBe(0)
    // The entries of the first model are gone for good, not hidden.
    expect(cache.get(MODEL, 'a')).toBeUndefined()
  })

  it('stores nothing with a lifetime of 0', () => {
    const { cache } = cacheAt({ ttlMs: 0, maxEntries: 10 })
    cache.set(MODEL, 'a', contact(1))

    expect(cache.enabled).toBe(false)
    expect(cache.get(MODEL, 'a')).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it('rejects an invalid size', () => {
    expect(() => new FeatureCache({ ttlMs: 1000, maxEntries: 0 })).toThrow(
      'Invalid cache size 0: expected at least 1 entry',
    )
  })
})
