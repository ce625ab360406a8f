/**
 * Seeded greedy k-means++ start for src/ml/kmeans.ts, as scikit-learn 1.2's `kmeans_plusplus`
 * with its default 2 + floor(ln k) local trials.
 */
import { BOUND_MARGIN, squaredDistance, type Data } from './kmeans-distance.ts'
import type { Rng } from './random.ts'

// Index of the first cumulative weight above `target`, clipped to the last index.
function searchCumulative(cumulative: Float64Array, target: number): number {
  let low = 0
  let high = cumulative.length - 1
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((cumulative[middle] as number) > target) high = middle
    else low = middle + 1
  }
  return low
}

/**
 * The chosen centroids so far and, for every row, the squared distance to the nearest one
 * (`closest`) and its index (`nearest`).
 */
interface Chosen {
  centroids: Float64Array
  count: number
  closest: Float64Array
  nearest: Int32Array
  /** Absolute margin of the skip test, in the units of the data. */
  slack: number
}

/**
 * Fills `outs[t]` with min(closest, squared distance to row `candidates[t]`) for every
 * candidate in one pass over the rows, and returns the sums of each. A row keeps its closest
 * distance without a distance computation when its nearest chosen centroid is more than
 * twice as far from the candidate as from the row, by a margin. By the triangle inequality
 * the candidate is then farther from the row than that centroid.
 */
function candidatePotentials(
  data: Data,
  candidates: Int32Array,
  chosen: Chosen,
  outs: Float64Array[],
): Float64Array {
  const { n, cols, x } = data
  const { closest, nearest, slack } = chosen
  const trials = candidates.length
  const toChosen = new Float64Array(trials * chosen.count)
  for (let t = 0; t < trials; t++) {
    const candidateStart = (candidates[t] as number) * cols
    for (let c = 0; c < chosen.count; c++) {
      const distance = squaredDistance(x, candidateStart, chosen.centroids, c * cols, cols)
      toChosen[t * chosen.count + c] = Math.sqrt(distance)
    }
  }
  const widen = 2 * (1 + BOUND_MARGIN)
  const sums = new Float64Array(trials)
  for (let i = 0; i < n; i++) {
    const current = closest[i] as number
    const reach = Math.sqrt(current) * widen + slack
    const near = nearest[i] as number
    for (let t = 0; t < trials; t++) {
      let distance = current
      if (reach >= (toChosen[t * chosen.count + near] as number)) {
        const candidateStart = (candidates[t] as number) * cols
        distance = Math.min(current, squaredDistance(x, i * cols, x, candidateStart, cols))
      }
      ;(outs[t] as Float64Array)[i] = distance
      sums[t]! += distance
    }
  }
  return sums
}

// Writes running sums of `weights` into `cumulative` and returns the total.
function fillCumulative(weights: Float64Array, cumulative: Float64Array): number {
  let running = 0
  for (let i = 0; i < weights.length; i++) {
    running += weights[i] as number
    cumulative[i] = running
  }
  return running
}

function drawCandidate(cumulative: Float64Array, total: number, rng: Rng): number {
  // When every row coincides with a chosen centroid, all weights are 0 and any row will do.
  if (total <= 0) return rng.int(cumulative.length)
  return searchCumulative(cumulative, rng.next() * total)
}

/**
 * Greedy k-means++: each new centroid is the best of 2 + floor(ln k) candidates drawn with
 * probability proportional to the squared distance to the nearest chosen centroid, where
 * best means the lowest resulting potential (sum of squared distances). `diagonal` is the
 * bounding box diagonal of the rows, which scales the margin of the skip test.
 */
export function seedCentroids(data: Data, k: number, rng: Rng, diagonal: number): Float64Array {
  const { n, cols, x } = data
  const first = rng.int(n)
  const chosen: Chosen = {
    centroids: new Float64Array(k * cols),
    count: 1,
    closest: new Float64Array(n),
    nearest: new Int32Array(n),
    slack: BOUND_MARGIN * diagonal,
  }
  chosen.centroids.set(x.subarray(first * cols, (first + 1) * cols), 0)
  for (let i = 0; i < n; i++) {
    chosen.closest[i] = squaredDistance(x, i * cols, x, first * cols, cols)
  }

  // One buffer of squared distances per candidate of a step, and the nearest chosen centroid
  // so far. The best candidate's buffer is swapped with `closest` instead of copied.
  const trials = 2 + Math.floor(Math.log(k))
  const outs: Float64Array[] = Array.from({ length: trials }, () => new Float64Array(n))
  const candidates = new Int32Array(trials)
  const cumulative = new Float64Array(n)

  for (let c = 1; c < k; c++) {
    // All candidates are drawn before any is evaluated: the draws depend only on `closest`.
    const total = fillCumulative(chosen.closest, cumulative)
    for (let t = 0; t < trials; t++) candidates[t] = drawCandidate(cumulative, total, rng)
    const potentials = candidatePotentials(data, candidates, chosen, outs)
    let best = 0
    for (let t = 1; t < trials; t++) {
      if ((potentials[t] as number) < (potentials[best] as number)) best = t
    }
    const improved = outs[best] as Float64Array
    const { closest, nearest } = chosen
    for (let i = 0; i < n; i++) {
      if ((improved[i] as number) < (closest[i] as number)) nearest[i] = c
    }
    outs[best] = closest
    chosen.closest = improved
    const bestIndex = candidates[best] as number
    chosen.centroids.set(x.subarray(bestIndex * cols, (bestIndex + 1) * cols), c * cols)
    chosen.count = c + 1
  }
  return chosen.centroids
}
