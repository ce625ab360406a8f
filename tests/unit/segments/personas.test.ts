import { describe, expect, it } from 'vitest'

import { FEATURE_NAMES, PERSONA_FEATURES } from '../../../src/features/catalogue.ts'
import { selectFeatures, type FeatureMatrix } from '../../../src/features/compute.ts'
import { assignNearest } from '../../../src/ml/kmeans.ts'
import { createMatrix } from '../../../src/ml/matrix.ts'
import { createRng } from '../../../src/ml/random.ts'
import { transform } from '../../../src/ml/scaler.ts'
import { trainPersonas, type PersonaTraining } from '../../../training/personas.ts'

type Group = 'night' | 'morning' | 'weekend' | 'dormant'

/** Feature values of each synthetic group before noise. Every other column is 0. */
const GROUPS: Record<Group, Record<string, number>> = {
  night: { open_rate_90d: 0.35, opens_90d: 12, night_share: 0.85, hour_concentration: 0.8 },
  morning: { open_rate_90d: 0.35, opens_90d: 12, morning_share: 0.85, hour_concentration: 0.8 },
  weekend: { open_rate_90d: 0.3, opens_90d: 10, weekend_share: 0.85, hour_concentration: 0.5 },
  dormant: { open_rate_90d: 0.01, days_since_last_engagement: 365 },
}
const COMMON = {
  click_rate_90d: 0.04,
  office_share: 0.05,
  median_open_delay_minutes: 600,
  days_since_last_engagement: 20,
  tenure_days: 300,
}

/** 120 contacts per group in group order, with seeded noise of about 5% on every value. */
function contacts(groups: Group[], seed: number): { features: FeatureMatrix; groups: Group[] } {
  const rng = createRng(seed)
  const perGroup = 120
  const matrix = createMatrix(groups.length * perGroup, FEATURE_NAMES.length)
  const keys: string[] = []
  const truth: Group[] = []
  groups.forEach((group, g) => {
    for (let i = 0; i < perGroup; i++) {
      const row = g * perGroup + i
      const values = { ...COMMON, ...GROUPS[group] }
      for (const [name, value] of Object.entries(values)) {
        const noisy = Math.max(0, value * (1 + 0.05 * rng.normal()))
        matrix.data[row * FEATURE_NAMES.length + FEATURE_NAMES.indexOf(name)] = noisy
      }
      keys.push(`${group}-${i}@example.com`)
      truth.push(group)
    }
  })
  const features: FeatureMatrix = {
    asOfMs: Date.parse('2025-04-06T00:00:00Z'),
    featureNames: [...FEATURE_NAMES],
    contactKeys: keys,
    timeZones: keys.map(() => 'UTC'),
    matrix,
  }
  return { features, groups: truth }
}

/** Returns the same contacts with their rows in a seeded random order. */
function shuffled(features: FeatureMatrix, seed: number): FeatureMatrix {
  const rng = createRng(seed)
  const order = Array.from({ length: features.contactKeys.length }, (_, i) => i)
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[order[i], order[j]] = [order[j] as number, order[i] as number]
  }
  const cols = features.matrix.cols
  const matrix = createMatrix(order.length, cols)
  order.forEach((source, row) => {
    matrix.data.set(features.matrix.data.subarray(source * cols, (source + 1) * cols), row * cols)
  })
  return {
    ...features,
    contactKeys: order.map((i) => features.contactKeys[i] as string),
    timeZones: order.map((i) => features.timeZones[i] as string),
    matrix,
  }
}

function idsByKey(features: FeatureMatrix, result: PersonaTraining): Map<string, number> {
  return new Map(features.contactKeys.map((key, row) => [key, result.labels[row] as number]))
}

const previousOf = (version: string, result: PersonaTraining) => ({
  version,
  list: result.personas,
})

const FOUR: Group[] = ['night', 'morning', 'weekend', 'dormant']

describe('trainPersonas', () => {
  const { features, groups } = contacts(FOUR, 3)
  const first = trainPersonas(features, { kRange: { min: 2, max: 6 }, seed: 1, nInit: 2 })

  it('chooses k by the silhouette', () => {
    expect(first.kSelection.map((row) => row.k)).toEqual([2, 3, 4, 5, 6])
    expect(first.chosenK).toBe(4)
    const best = Math.max(...first.kSelection.map((row) => row.silhouette ?? -1))
    expect(first.silhouette).toBe(best)
    for (const row of first.kSelection) expect(row.inertia).toBeGreaterThan(0)
  })

  it('names the groups', () => {
    const names = new Map<Group, string>()
    groups.forEach((group, row) => {
      names.set(group, first.personas[first.labels[row] as number]!.name)
    })
    expect(names.get('night')).toBe('night owls')
    expect(names.get('morning')).toBe('early birds')
    expect(names.get('weekend')).toBe('weekend readers')
    expect(names.get('dormant')).toBe('dormant')
  })

  it('orders centroids by persona id', () => {
    const scaled = transform(first.scaler, selectFeatures(features, PERSONA_FEATURES))
    const nearest = assignNearest(scaled, first.centroids)
    expect(Array.from(nearest.labels)).toEqual(Array.from(first.labels))
    expect(first.personas.map((persona) => persona.id)).toEqual([0, 1, 2, 3])
    const sizes = first.personas.map((persona) => persona.size)
    expect(sizes).toEqual([120, 120, 120, 120])
  })

  it('keeps ids and names across retrains', () => {
    const permuted = shuffled(features, 9)
    const second = trainPersonas(permuted, {
      kRange: { min: 2, max: 6 },
      seed: 2,
      nInit: 2,
      previous: previousOf('v1', first),
    })
    expect(idsByKey(permuted, second)).toEqual(idsByKey(features, first))
    expect(second.personas.map((persona) => persona.name)).toEqual(
      first.personas.map((persona) => persona.name),
    )
    expect(second.previousVersion).toBe('v1')
    for (const match of second.matches) {
      expect(match.previous?.id).toBe(match.id)
      expect(match.previous?.distance).toBeLessThan(0.2)
    }
  })

  it('gives a new cluster a new id', () => {
    const three = contacts(['night', 'weekend', 'dormant'], 4)
    const before = trainPersonas(three.features, { k: 3, seed: 1, nInit: 2 })
    const after = trainPersonas(features, {
      k: 4,
      seed: 1,
      nInit: 2,
      previous: previousOf('v1', before),
    })
    for (const persona of before.personas) {
      const keptPersona = after.personas.find((candidate) => candidate.name === persona.name)
      expect(keptPersona?.id).toBe(persona.id)
    }
    const fresh = after.matches.filter((match) => match.previous === null)
    expect(fresh.map((match) => match.id)).toEqual([3])
    expect(after.personas[3]!.name).toBe('early birds')
  })

  it('matches far clusters by name', () => {
    const second = trainPersonas(features, {
      k: 4,
      seed: 2,
      nInit: 2,
      previous: previousOf('v1', first),
      maxMatchDistance: 0,
    })
    for (const match of second.matches) expect(match.previous?.by).toBe('name')
    expect(idsByKey(features, second)).toEqual(idsByKey(features, first))
  })

  it('keeps a name that is no longer derived', () => {
    // A previous persona renamed by hand keeps that name when its cluster is matched.
    const renamed = previousOf('v1', first)
    renamed.list = renamed.list.map((persona) =>
      persona.name === 'dormant' ? { ...persona, name: 'lapsed' } : persona,
    )
    const second = trainPersonas(features, { k: 4, seed: 5, nInit: 2, previous: renamed })
    const names = second.personas.map((persona) => persona.name)
    expect(names).toContain('lapsed')
    expect(names).not.toContain('dormant')
  })

  it('reports DBSCAN as a second view', () => {
    const dbscan = first.dbscan
    expect(dbscan).not.toBeNull()
    expect(dbscan!.minPts).toBe(2 * PERSONA_FEATURES.length)
    expect(dbscan!.labels).toHaveLength(480)
    expect(dbscan!.sizes.reduce((a, b) => a + b, 0)).toBe(
      Math.round(480 * (1 - dbscan!.noiseShare)),
    )
    expect(dbscan!.kDistanceK).toBe(dbscan!.minPts)
  })

  it('rejects invalid k options', () => {
    expect(() => trainPersonas(features, { kRange: { min: 1, max: 4 }, seed: 1 })).toThrow(
      'kRange must be integers with 2 <= min <= max, got 1 to 4',
    )
    expect(() => trainPersonas(features, { k: 49, seed: 1 })).toThrow(
      '49 personas need at least 490 contacts (10 per persona), but 480 are known at the cutoff. ' +
        'Choose --k at most 48, or ingest more contacts.',
    )
    expect(() => trainPersonas(features, { kRange: { min: 50, max: 60 }, seed: 1 })).toThrow(
      'Trying 50 to 60 personas needs at least 500 contacts',
    )
  })

  it('caps the k range at 10 contacts per persona', () => {
    const few = contacts(['night', 'dormant'], 5).features
    // 240 contacts allow at most 24 personas, so 20 to 30 is cut to 20 to 24.
    const result = trainPersonas(few, { kRange: { min: 20, max: 30 }, seed: 1, dbscan: false })
    expect(result.kSelection.map((row) => row.k)).toEqual([20, 21, 22, 23, 24])
  })
})

describe('trainPersonas on identical contacts', () => {
  it('skips DBSCAN without failing', () => {
    const { features } = contacts(['dormant'], 1)
    features.matrix.data.fill(0)
    const result = trainPersonas(features, { k: 1, seed: 1 })
    expect(result.dbscan).toBeNull()
    expect(result.silhouette).toBeNull()
    expect(result.personas).toHaveLength(1)
  })
})
