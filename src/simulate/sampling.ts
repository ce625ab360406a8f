/** Distributions drawn from a seeded Rng, so every draw of the simulator repeats for a seed. */
import type { Rng } from '../ml/random.ts'

/** Draws a uniform number in [low, high). */
export function uniform(rng: Rng, low: number, high: number): number {
  return low + (high - low) * rng.next()
}

/** Draws a log-uniform number in [low, high), so 1-10 is as likely as 10-100. Both must be > 0. */
export function logUniform(rng: Rng, low: number, high: number): number {
  return low * Math.exp(Math.log(high / low) * rng.next())
}

/** Returns true with probability `p`. */
export function chance(rng: Rng, p: number): boolean {
  return rng.next() < p
}

/** Draws from Gamma(shape, 1) with the Marsaglia-Tsang method, boosted for shapes below 1. */
export function gamma(rng: Rng, shape: number): number {
  if (shape < 1) {
    const boost = Math.pow(1 - rng.next(), 1 / shape)
    return gamma(rng, shape + 1) * boost
  }
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    const x = rng.normal()
    const v = Math.pow(1 + c * x, 3)
    if (v <= 0) continue
    const u = 1 - rng.next()
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v
  }
}

/**
 * Draws from the beta distribution with the given mean (0-1) and concentration (alpha + beta).
 * The higher the concentration, the tighter the draws sit around the mean.
 */
export function betaByMean(rng: Rng, mean: number, concentration: number): number {
  const a = gamma(rng, mean * concentration)
  const b = gamma(rng, (1 - mean) * concentration)
  return a / (a + b)
}

/** Picks an item with probability proportional to its weight. Weights must not all be 0. */
export function pickWeighted<T>(rng: Rng, items: readonly { weight: number; value: T }[]): T {
  let total = 0
  for (const item of items) total += item.weight
  let target = rng.next() * total
  for (const item of items) {
    target -= item.weight
    if (target < 0) return item.value
  }
  const last = items[items.length - 1]
  if (last === undefined) throw new RangeError('pickWeighted needs at least one item')
  return last.value
}

/** Picks one element uniformly. The array must not be empty. */
export function pickOne<T>(rng: Rng, items: readonly T[]): T {
  const item = items[rng.int(items.length)]
  if (item === undefined) throw new RangeError('pickOne needs at least one item')
  return item
}
