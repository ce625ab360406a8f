/**
 * Seeded pseudo-random numbers (mulberry32), so every random step of the
 * simulator and the learners repeats exactly for the same seed.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number
  /** Uniform integer in [0, n). */
  int(n: number): number
  /** Standard normal (Box-Muller). */
  normal(): number
  /** A new generator whose stream depends on this one's seed and `salt` only. */
  fork(salt: number): Rng
}

export function createRng(seed: number): Rng {
  let state = seed >>> 0
  let spareNormal: number | null = null

  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  return {
    next,
    int: (n) => Math.floor(next() * n),
    normal: () => {
      if (spareNormal !== null) {
        const value = spareNormal
        spareNormal = null
        return value
      }
      const u = 1 - next()
      const v = next()
      const radius = Math.sqrt(-2 * Math.log(u))
      spareNormal = radius * Math.sin(2 * Math.PI * v)
      return radius * Math.cos(2 * Math.PI * v)
    },
    fork: (salt) =>
      createRng(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(salt + 1, 0xc2b2ae35)),
  }
}
