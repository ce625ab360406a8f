import { InvalidArgumentError } from 'commander'
import { loadConfig, type Config } from '../config/index.ts'
import { openStore, type Store } from '../store/client.ts'

let config: Readonly<Config> | undefined

/** Returns the configuration, parsed from the environment on first use. */
export function getConfig(): Readonly<Config> {
  config ??= loadConfig()
  return config
}

/** Opens the configured store, runs `work` with it and closes it. */
export async function withStore<T>(work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(getConfig().clickhouse)
  try {
    return await work(store)
  } finally {
    await store.close()
  }
}

/** Returns a commander parser for an integer option from `min` to `max`. */
export function integerBetween(min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value)
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
      const range = max === Infinity ? `of at least ${min}` : `from ${min} to ${max}`
      throw new InvalidArgumentError(
        `Expected an integer ${range}, received ${JSON.stringify(value)}.`,
      )
    }
    return parsed
  }
}

/** Returns a commander parser for an integer option of at least `min`. */
export const integerAtLeast = (min: number) => integerBetween(min, Infinity)

/** Parses an ISO 8601 time option, which must have Z or an offset, into epoch milliseconds. */
export function isoTime(value: string): number {
  // Without an offset Date.parse takes the machine's local time, which would make results depend on it.
  const hasOffset = /(Z|[+-]\d{2}:?\d{2})$/i.test(value.trim())
  const ms = hasOffset ? Date.parse(value) : Number.NaN
  if (!Number.isFinite(ms))
    throw new InvalidArgumentError(
      `Expected an ISO 8601 time with Z or an offset, such as 2025-04-06T00:00:00Z, received ${JSON.stringify(value)}.`,
    )
  return ms
}

export const DEFAULT_BUNDLE = 'segments'

/** Checks a bundle name option before any work starts. */
export function bundleName(value: string): string {
  if (/^[a-z0-9][a-z0-9_-]*$/.test(value)) return value
  throw new InvalidArgumentError(
    `Expected a bundle name of lower-case letters, digits, _ and -, received ${JSON.stringify(value)}.`,
  )
}
