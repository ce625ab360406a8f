/**
 * Names personas from their centroids in words a marketer reads. Each
 * cluster is scored against every archetype; the best (cluster, archetype)
 * pairs are taken greedily so that no two clusters share a name.
 */

export type Centroid = Record<string, number>

interface Archetype {
  name: string
  /** Score > 0 when the centroid fits; higher is a better fit. */
  score(centroid: Centroid, population: Centroid): number
  describe(centroid: Centroid): string
}

const percent = (share: number) => `${Math.round(share * 100)}%`
const get = (centroid: Centroid, name: string) => centroid[name] ?? 0

function rates(centroid: Centroid): string {
  return `open rate ${percent(get(centroid, 'open_rate_90d'))}, click rate ${percent(get(centroid, 'click_rate_90d'))}`
}

function shareArchetype(name: string, feature: string, words: string): Archetype {
  return {
    name,
    score: (centroid) => (get(centroid, feature) > 0.4 ? get(centroid, feature) : 0),
    describe: (centroid) =>
      `${percent(get(centroid, feature))} of human opens and clicks ${words}; ${rates(centroid)}`,
  }
}

const ARCHETYPES: Archetype[] = [
  {
    name: 'dormant',
    score: (centroid) => {
      const openRate = get(centroid, 'open_rate_90d')
      return openRate < 0.05 ? 2 - openRate * 10 : 0
    },
    describe: (centroid) =>
      `almost no human opens: ${rates(centroid)}, ${Math.round(get(centroid, 'days_since_last_engagement'))} days since the last one`,
  },
  {
    name: 'new subscribers',
    score: (centroid) => {
      const tenure = get(centroid, 'tenure_days')
      return tenure < 45 ? 2 - tenure / 45 : 0
    },
    describe: (centroid) =>
      `joined about ${Math.round(get(centroid, 'tenure_days'))} days ago; ${rates(centroid)}`,
  },
  {
    name: 'fading',
    // Fading contacts still engage now and then, which separates them from dormant ones.
    score: (centroid) => {
      const trend = get(centroid, 'engagement_trend')
      const recency = get(centroid, 'days_since_last_engagement')
      if (get(centroid, 'open_rate_90d') < 0.05) return 0
      return trend < -0.25 || recency > 21 ? Math.min(1.5, Math.max(-trend, recency / 60)) : 0
    },
    describe: (centroid) =>
      `engagement falling: trend ${get(centroid, 'engagement_trend').toFixed(2)}, ` +
      `${Math.round(get(centroid, 'days_since_last_engagement'))} days since the last human open or click`,
  },
  {
    name: 'heavy clickers',
    score: (centroid, population) => {
      const ratio =
        get(centroid, 'click_rate_90d') / Math.max(1e-9, get(population, 'click_rate_90d'))
      return ratio > 1.8 ? ratio / 2 : 0
    },
    describe: (centroid) => `click far more than others: ${rates(centroid)}`,
  },
  shareArchetype('night owls', 'night_share', 'between 22:00 and 05:00 local'),
  shareArchetype('early birds', 'morning_share', 'between 05:00 and 09:00 local'),
  shareArchetype('weekend readers', 'weekend_share', 'on Saturday or Sunday'),
  shareArchetype(
    'office-hours readers',
    'office_share',
    'on weekdays between 09:00 and 17:00 local',
  ),
]

export interface PersonaName {
  name: string
  description: string
}

const STEADY = 'steady readers'

/**
 * Describes a centroid under a name given earlier, so a persona that keeps its name across
 * retrains gets a description of its current centroid. A name with a numeric suffix, such as
 * "steady readers 2", is described as its archetype, and an unknown name gets the rates only.
 */
export function describePersona(name: string, centroid: Centroid): string {
  const base = name.replace(/ \d+$/, '')
  const archetype = ARCHETYPES.find((candidate) => candidate.name === base)
  return archetype ? archetype.describe(centroid) : rates(centroid)
}

/**
 * Returns a name and description per centroid. `population` contains the mean
 * of each feature over all contacts, for relative rules such as "clicks far
 * more than others". A centroid no archetype fits is called "steady readers",
 * with a number from 2 on when that name is taken. Names in `taken` (those kept
 * by personas matched to an earlier bundle) are not given out again.
 */
export function namePersonas(
  centroids: Centroid[],
  population: Centroid,
  taken: ReadonlySet<string> = new Set(),
): PersonaName[] {
  const pairs: { cluster: number; archetype: Archetype; score: number }[] = []
  centroids.forEach((centroid, cluster) => {
    for (const archetype of ARCHETYPES) {
      const score = archetype.score(centroid, population)
      if (score > 0) pairs.push({ cluster, archetype, score })
    }
  })
  pairs.sort((a, b) => b.score - a.score || a.cluster - b.cluster)

  const names: (PersonaName | undefined)[] = centroids.map(() => undefined)
  const used = new Set<string>(taken)
  for (const { cluster, archetype } of pairs) {
    if (names[cluster] || used.has(archetype.name)) continue
    names[cluster] = {
      name: archetype.name,
      description: archetype.describe(centroids[cluster] as Centroid),
    }
    used.add(archetype.name)
  }

  let steady = 0
  return names.map((named, cluster) => {
    if (named) return named
    let name: string
    do {
      steady += 1
      name = steady > 1 ? `${STEADY} ${steady}` : STEADY
    } while (used.has(name))
    used.add(name)
    return { name, description: rates(centroids[cluster] as Centroid) }
  })
}
