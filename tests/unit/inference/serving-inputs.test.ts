/** Configuration of batching and the feature cache, and the send-time profiles of a manifest. */
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../../src/config/index.ts'
import { manifestSchema, personaSchema } from '../../../src/registry/manifest.ts'

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('serving configuration', () => {
  it('applies the defaults', () => {
    const config = loadConfig({})

    expect(config.batch).toEqual({ maxRows: 4096, maxWaitMs: 0 })
    expect(config.featureCache).toEqual({ seconds: 60, maxEntries: 20_000 })
    expect(Object.isFrozen(config.batch)).toBe(true)
    expect(Object.isFrozen(config.featureCache)).toBe(true)
  })

  it('parses given values', () => {
    const config = loadConfig({
      SEGMENTS_BATCH_MAX_ROWS: '64',
      SEGMENTS_BATCH_MAX_WAIT_MS: '5',
      SEGMENTS_FEATURE_CACHE_SECONDS: '0',
      SEGMENTS_FEATURE_CACHE_MAX_ENTRIES: '5',
    })

    expect(config.batch).toEqual({ maxRows: 64, maxWaitMs: 5 })
    expect(config.featureCache).toEqual({ seconds: 0, maxEntries: 5 })
  })

  it('names each invalid variable', () => {
    const problems = problemsOf({
      SEGMENTS_BATCH_MAX_ROWS: '0',
      SEGMENTS_BATCH_MAX_WAIT_MS: '1.5',
      SEGMENTS_FEATURE_CACHE_SECONDS: '-1',
      SEGMENTS_FEATURE_CACHE_MAX_ENTRIES: 'many',
    })

    expect(problems).toEqual([
      'SEGMENTS_FEATURE_CACHE_SECONDS: expected an integer from 0 to 86400, received "-1". Example: SEGMENTS_FEATURE_CACHE_SECONDS=60',
      'SEGMENTS_FEATURE_CACHE_MAX_ENTRIES: expected an integer from 1 to 10000000, received "many". Example: SEGMENTS_FEATURE_CACHE_MAX_ENTRIES=20000',
      'SEGMENTS_BATCH_MAX_ROWS: expected an integer from 1 to 1000000, received "0". Example: SEGMENTS_BATCH_MAX_ROWS=4096',
      'SEGMENTS_BATCH_MAX_WAIT_MS: expected an integer from 0 to 1000, received "1.5". Example: SEGMENTS_BATCH_MAX_WAIT_MS=2',
    ])
  })
})

const UNIFORM = Array.from({ length: 168 }, () => 1 / 168)

const persona = {
  id: 0,
  name: 'readers',
  description: '',
  size: 3,
  centroid: { opens_90d: 4 },
  hourProfile: Array.from({ length: 24 }, () => 1 / 24),
}

/** Returns the first issue of parsing a persona with `weekProfile`, as `path: message`. */
function personaIssue(weekProfile: unknown): string | undefined {
  const parsed = personaSchema.safeParse({ ...persona, weekProfile })
  const issue = parsed.error?.issues[0]
  return issue && `${issue.path.join('.')}: ${issue.message}`
}

describe('week profile schema', () => {
  it('accepts 168 shares', () => {
    expect(personaSchema.safeParse({ ...persona, weekProfile: UNIFORM }).success).toBe(true)
  })

  it('is optional for older bundles', () => {
    expect(personaSchema.safeParse(persona).success).toBe(true)
  })

  it('rejects the wrong length', () => {
    expect(personaIssue(UNIFORM.slice(1))).toMatch(/^weekProfile: Too small/)
  })

  it('rejects a negative share', () => {
    const shares = [...UNIFORM]
    shares[0] = -shares[0]!
    shares[1] = shares[1]! * 3

    expect(personaIssue(shares)).toBe('weekProfile.0: expected a non-negative share')
  })

  it('rejects shares not summing to 1', () => {
    expect(personaIssue(UNIFORM.map((share) => share * 2))).toBe(
      'weekProfile: expected shares that sum to 1',
    )
  })

  it('checks the global profile', () => {
    const personas = manifestSchema.shape.personas
    const base = {
      features: ['opens_90d'],
      contacts: 3,
      scalerFile: 'persona-scaler.json',
      centroidsFile: 'persona-centroids.json',
      list: [persona],
    }

    expect(personas.safeParse({ ...base, weekProfile: UNIFORM }).success).toBe(true)
    const invalid = personas.safeParse({ ...base, weekProfile: [1] })
    expect(invalid.error?.issues[0]?.path).toEqual(['weekProfile'])
  })
})
