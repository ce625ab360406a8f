/**
 * Short-lived cache of the features of contacts scored by key as of now. A
 * hit saves the feature and send-time queries, and its values are at most
 * `ttlMs` old, so events stored meanwhile are seen only after the entry
 * expires.
 */

/** Features and opens of one contact, as read from the store at one time. */
export interface CachedContact {
  /** Features in the bundle's featureNames order. */
  features: Float64Array
  /** Human opens per hour of the week (168 values), or undefined without any. */
  weekOpens: Float64Array | undefined
  /** Time the features were computed as of, in epoch ms; a cache hit keeps the first one. */
  asOfMs: number
}

export interface FeatureCacheOptions {
  /** Lifetime of an entry in ms; 0 turns the cache off. */
  ttlMs: number
  /** Entries kept at most; the least recently used one is dropped first. */
  maxEntries: number
  /** Clock in epoch ms, replaceable in tests. */
  now?: () => number
}

interface Entry {
  value: CachedContact
  expiresAtMs: number
}

/**
 * LRU cache of contacts by normalized key for one model at a time. Values are
 * in one bundle's feature order, so a call with another model object empties
 * the cache first.
 */
export class FeatureCache {
  private readonly entries = new Map<string, Entry>()
  private readonly ttlMs: number
  private readonly maxEntries: number
  private readonly now: () => number
  private owner: object | undefined
  hits = 0
  misses = 0

  constructor(options: FeatureCacheOptions) {
    if (!(options.ttlMs >= 0)) throw new RangeError(`Invalid cache lifetime ${options.ttlMs} ms`)
    if (!(options.maxEntries >= 1)) {
      throw new RangeError(`Invalid cache size ${options.maxEntries}: expected at least 1 entry`)
    }
    this.ttlMs = options.ttlMs
    this.maxEntries = options.maxEntries
    this.now = options.now ?? Date.now
  }

  get enabled(): boolean {
    return this.ttlMs > 0
  }

  get size(): number {
    return this.entries.size
  }

  /** Returns the unexpired entry of `key` for `model` and marks it most recently used. */
  get(model: object, key: string): CachedContact | undefined {
    if (!this.enabled) return undefined
    this.useModel(model)
    const entry = this.entries.get(key)
    if (entry === undefined || entry.expiresAtMs <= this.now()) {
      if (entry !== undefined) this.entries.delete(key)
      this.misses += 1
      return undefined
    }
    // Re-inserting moves the key to the end of the Map's order, the most recently used place.
    this.entries.delete(key)
    this.entries.set(key, entry)
    this.hits += 1
    return entry.value
  }

  /** Stores `value` for `key` until `ttlMs` from now, dropping the least recently used entries past the bound. */
  set(model: object, key: string, value: CachedContact): void {
    if (!this.enabled) return
    this.useModel(model)
    this.entries.delete(key)
    this.entries.set(key, { value, expiresAtMs: this.now() + this.ttlMs })
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string
      this.entries.delete(oldest)
    }
  }

  clear(): void {
    this.entries.clear()
  }

  private useModel(model: object): void {
    if (this.owner === model) return
    this.entries.clear()
    this.owner = model
  }
}
