/**
 * Stable persona ids and names across retrains. The clusters of a new fit are matched to the
 * personas of the previous bundle by centroid distance in the new fit's scaled units, so the
 * same behaviour keeps its id and name. Clusters left over can still take the id of a previous
 * persona with the same name (`matchByName`).
 */
import type { Matrix } from '../ml/matrix.ts'
import { transform, type ScalerParams } from '../ml/scaler.ts'

/** The previous bundle's version and personas, as a new fit matches against them. */
export interface PreviousPersonas {
  /** Version of the previous bundle, recorded with the matches. */
  version: string
  list: { id: number; name: string; centroid: Record<string, number> }[]
}

export interface ClusterMatch {
  /** Cluster index in the new fit. */
  cluster: number
  /** Id given to the cluster: 0 to k - 1, one per cluster. */
  id: number
  /**
   * Matched previous persona, or null for a new cluster. `by` is `centroid` for a match within
   * the max distance, and `name` for a farther cluster that got the same name.
   */
  previous: { id: number; name: string; distance: number; by: 'centroid' | 'name' } | null
}

export interface MatchOptions {
  /**
   * Largest centroid distance, in scaled units (standard deviations of the new fit), at which a
   * cluster still counts as the previous persona. Farther clusters are new.
   */
  maxDistance: number
}

/**
 * Maps the previous centroids into the new fit's scaled units. A feature the previous bundle did
 * not store is set to the new scaler's mean, so it adds no distance.
 */
function scaledPrevious(previous: PreviousPersonas, features: string[], scaler: ScalerParams) {
  const raw: Matrix = {
    rows: previous.list.length,
    cols: features.length,
    data: new Float64Array(previous.list.length * features.length),
  }
  previous.list.forEach((persona, p) => {
    features.forEach((name, j) => {
      const value = persona.centroid[name]
      const mean = scaler.mean[j] as number
      const fallback = scaler.log1p[j] ? Math.expm1(mean) : mean
      raw.data[p * features.length + j] = Number.isFinite(value) ? (value as number) : fallback
    })
  })
  return transform(scaler, raw)
}

/** Returns the distance from every new centroid (rows) to every previous persona (columns). */
export function previousDistances(
  centroids: Matrix,
  features: string[],
  scaler: ScalerParams,
  previous: PreviousPersonas | undefined,
): number[][] {
  if (centroids.cols !== features.length) {
    throw new RangeError(`centroids have ${centroids.cols} columns for ${features.length} features`)
  }
  const list = previous?.list ?? []
  if (list.length === 0) return Array.from({ length: centroids.rows }, () => [])
  const old = scaledPrevious(previous as PreviousPersonas, features, scaler)
  return Array.from({ length: centroids.rows }, (_, c) =>
    list.map((_, p) => euclidean(centroids.data, c * old.cols, old.data, p * old.cols, old.cols)),
  )
}

function euclidean(a: Float64Array, aStart: number, b: Float64Array, bStart: number, n: number) {
  let sum = 0
  for (let j = 0; j < n; j++) sum += ((a[aStart + j] as number) - (b[bStart + j] as number)) ** 2
  return Math.sqrt(sum)
}

/**
 * Matches each new cluster to at most one previous persona, greedily by ascending centroid
 * distance up to `maxDistance`, and gives out ids. A matched cluster keeps its previous id when
 * that id is below k. The other clusters take the free ids in ascending order, ids no previous
 * persona had first, because the scoring model needs ids 0 to k - 1 in centroid order.
 *
 * NOTE: when a previous persona disappears and a new cluster appears with k unchanged, the new
 * cluster takes the freed id. Its `previous` is null, which marks it as new.
 */
export function matchClusters(
  centroids: Matrix,
  features: string[],
  scaler: ScalerParams,
  previous: PreviousPersonas | undefined,
  options: MatchOptions,
): ClusterMatch[] {
  if (!(options.maxDistance >= 0)) {
    throw new RangeError(`maxDistance must be a number >= 0, got ${options.maxDistance}`)
  }
  const k = centroids.rows
  const distances = previousDistances(centroids, features, scaler, previous)
  const matches: ClusterMatch[] = Array.from({ length: k }, (_, cluster) => ({
    cluster,
    id: -1,
    previous: null,
  }))
  const list = previous?.list ?? []
  const pairs: { cluster: number; p: number; distance: number }[] = []
  for (let c = 0; c < k; c++) {
    list.forEach((_, p) => {
      const distance = distances[c]![p]!
      if (distance <= options.maxDistance) pairs.push({ cluster: c, p, distance })
    })
  }
  pairs.sort((a, b) => a.distance - b.distance || a.cluster - b.cluster || a.p - b.p)
  const usedPrevious = new Set<number>()
  for (const pair of pairs) {
    const match = matches[pair.cluster] as ClusterMatch
    if (match.previous || usedPrevious.has(pair.p)) continue
    usedPrevious.add(pair.p)
    const persona = list[pair.p]!
    match.previous = { id: persona.id, name: persona.name, distance: pair.distance, by: 'centroid' }
  }

  const assigned = new Set<number>()
  for (const match of matches) {
    const id = match.previous?.id ?? -1
    if (id >= 0 && id < k && !assigned.has(id)) {
      match.id = id
      assigned.add(id)
    }
  }
  const everUsed = new Set(list.map((persona) => persona.id))
  const free = Array.from({ length: k }, (_, id) => id).filter((id) => !assigned.has(id))
  free.sort((a, b) => Number(everUsed.has(a)) - Number(everUsed.has(b)) || a - b)
  for (const match of matches) {
    if (match.id === -1) match.id = free.shift() as number
  }
  return matches
}

/**
 * Moves new clusters onto the ids of unmatched previous personas of the same name, among the ids
 * the new clusters hold, so a persona that moved farther than the max distance but kept its
 * name also keeps its id. `matches` and `names` are in id order, and `distances` is
 * `previousDistances` by cluster. Updates each moved match and returns the new id of every id.
 */
export function matchByName(
  matches: ClusterMatch[],
  names: string[],
  previous: PreviousPersonas | undefined,
  distances: number[][],
): Int32Array {
  const newId = Int32Array.from(matches, (match) => match.id)
  const list = previous?.list ?? []
  const fresh = matches.filter((match) => match.previous === null)
  const freshIds = new Set(fresh.map((match) => match.id))
  const matchedPrevious = new Set(matches.flatMap((match) => match.previous?.id ?? []))
  const claimed = new Set<number>()
  const moved = new Set<number>()

  for (const match of fresh) {
    const p = list.findIndex(
      (persona) =>
        persona.name === names[match.id] &&
        !matchedPrevious.has(persona.id) &&
        freshIds.has(persona.id) &&
        !claimed.has(persona.id),
    )
    if (p < 0) continue
    const persona = list[p]!
    claimed.add(persona.id)
    moved.add(match.id)
    newId[match.id] = persona.id
    const distance = distances[match.cluster]![p]!
    match.previous = { id: persona.id, name: persona.name, distance, by: 'name' }
  }

  // The other new clusters take the ids left over, in their current order.
  const left = [...freshIds].filter((id) => !claimed.has(id)).sort((a, b) => a - b)
  for (const match of fresh) {
    if (!moved.has(match.id)) newId[match.id] = left.shift() as number
  }
  for (const match of fresh) match.id = newId[match.id] as number
  return newId
}
