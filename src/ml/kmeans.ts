/**
 * Lloyd's k-means over typed arrays with a seeded greedy k-means++ start, modelled on
 * scikit-learn 1.2's KMeans (algorithm='lloyd'). ml-kmeans 7 was not used because it works on
 * number[][] and reports per-cluster mean errors rather than the inertia.
 */
import { assertFinite, type Matrix } from './matrix.ts'
import { createRng, type Rng } from './random.ts'

export interface KMeansOptions {
  /** Number of clusters, from 1 to the number of rows. */
  k: number
  seed: number
  /** Number of k-means++ starts. The run with the lowest inertia is returned. */
  nInit?: number
  maxIterations?: number
  /**
   * Convergence threshold on the summed squared centroid shift of one iteration, relative to
   * the mean per-column variance of the data (as scikit-learn's `tol`).
   */
  tolerance?: number
}

export interface KMeansResult {
  /** k x cols cluster centroids. */
  centroids: Matrix
  /** Index of the nearest centroid for every row. */
  labels: Int32Array
  /** Sum of squared Euclidean distances from each row to its nearest centroid. */
  inertia: number
  /** Lloyd iterations of the returned run. */
  iterations: number
  /** False when the returned run stopped at `maxIterations`. */
  converged: boolean
}

export interface Assignment {
  labels: Int32Array
  /** Euclidean (not squared) distance from each row to its nearest centroid. */
  distances: Float64Array
}

interface Data {
  n: number
  cols: number
  x: Float64Array
}

function squaredDistance(
  a: Float64Array,
  aStart: number,
  b: Float64Array,
  bStart: number,
  cols: number,
): number {
  let sum = 0
  for (let j = 0; j < cols; j++) {
    const d = (a[aStart + j] as number) - (b[bStart + j] as number)
    sum += d * d
  }
  return sum
}

/** Writes each row's nearest centroid and squared distance, and returns the summed distances. */
function assignRows(
  data: Data,
  centroids: Float64Array,
  k: number,
  labels: Int32Array,
  squared: Float64Array,
): number {
  const { n, cols, x } = data
  let total = 0
  for (let i = 0; i < n; i++) {
    let best = 0
    let bestDistance = Infinity
    for (let c = 0; c < k; c++) {
      const distance = squaredDistance(x, i * cols, centroids, c * cols, cols)
      if (distance < bestDistance) {
        bestDistance = distance
        best = c
      }
    }
    labels[i] = best
    squared[i] = bestDistance
    total += bestDistance
  }
  return total
}

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

// Fills `out` with min(closest, distance to row `candidate`) and returns the sum.
function candidatePotential(
  data: Data,
  candidate: number,
  closest: Float64Array,
  out: Float64Array,
): number {
  const { n, cols, x } = data
  let sum = 0
  for (let i = 0; i < n; i++) {
    const toCandidate = squaredDistance(x, i * cols, x, candidate * cols, cols)
    const distance = Math.min(closest[i] as number, toCandidate)
    out[i] = distance
    sum += distance
  }
  return sum
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
 * best means the lowest resulting potential (sum of squared distances).
 */
function seedCentroids(data: Data, k: number, rng: Rng): Float64Array {
  const { n, cols, x } = data
  const centroids = new Float64Array(k * cols)
  const first = rng.int(n)
  centroids.set(x.subarray(first * cols, (first + 1) * cols), 0)
  let closest = new Float64Array(n)
  candidatePotential(data, first, new Float64Array(n).fill(Infinity), closest)

  // Three buffers of squared distances, swapped instead of copied: the nearest chosen
  // centroid so far, the best candidate of this step and the candidate under evaluation.
  let trial = new Float64Array(n)
  let best = new Float64Array(n)
  const cumulative = new Float64Array(n)
  const trials = 2 + Math.floor(Math.log(k))

  for (let c = 1; c < k; c++) {
    let bestPotential = Infinity
    let bestIndex = 0
    const total = fillCumulative(closest, cumulative)
    for (let t = 0; t < trials; t++) {
      const candidate = drawCandidate(cumulative, total, rng)
      const potential = candidatePotential(data, candidate, closest, trial)
      if (potential < bestPotential) {
        bestPotential = potential
        bestIndex = candidate
        const improved = trial
        trial = best
        best = improved
      }
    }
    const previousClosest = closest
    closest = best
    best = previousClosest
    centroids.set(x.subarray(bestIndex * cols, (bestIndex + 1) * cols), c * cols)
  }
  return centroids
}

// Farthest row from its centroid among rows whose cluster keeps at least one other row.
function farthestDonor(
  squared: Float64Array,
  labels: Int32Array,
  counts: Float64Array,
  used: Set<number>,
): number {
  let farthest = -1
  let farthestDistance = -1
  for (let i = 0; i < squared.length; i++) {
    const distance = squared[i] as number
    if (distance > farthestDistance && counts[labels[i] as number]! > 1 && !used.has(i)) {
      farthest = i
      farthestDistance = distance
    }
  }
  return farthest
}

/**
 * Moves, for each empty cluster, the row farthest from its own centroid into that cluster (as
 * scikit-learn does). An empty cluster keeps its old centroid only when no other cluster has
 * a row to spare.
 */
function relocateEmptyClusters(
  data: Data,
  labels: Int32Array,
  centroids: Float64Array,
  sums: Float64Array,
  counts: Float64Array,
): void {
  if (!counts.includes(0)) return
  const { n, cols, x } = data
  const squared = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    squared[i] = squaredDistance(x, i * cols, centroids, (labels[i] as number) * cols, cols)
  }
  const used = new Set<number>()
  for (let c = 0; c < counts.length; c++) {
    if (counts[c] !== 0) continue
    const far = farthestDonor(squared, labels, counts, used)
    if (far < 0) return
    used.add(far)
    const donor = labels[far] as number
    counts[donor]! -= 1
    counts[c] = 1
    for (let j = 0; j < cols; j++) {
      const value = x[far * cols + j] as number
      sums[donor * cols + j]! -= value
      sums[c * cols + j] = value
    }
  }
}

/**
 * Writes the mean of each cluster's rows into `next` and the Euclidean distance each centroid
 * moved into `shifts`. Returns the summed squared shift.
 */
function updateCentroids(
  data: Data,
  labels: Int32Array,
  centroids: Float64Array,
  next: Float64Array,
  shifts: Float64Array,
): number {
  const { n, cols, x } = data
  const k = centroids.length / cols
  const sums = new Float64Array(k * cols)
  const counts = new Float64Array(k)
  for (let i = 0; i < n; i++) {
    const c = labels[i] as number
    counts[c]! += 1
    for (let j = 0; j < cols; j++) sums[c * cols + j]! += x[i * cols + j] as number
  }
  relocateEmptyClusters(data, labels, centroids, sums, counts)
  let shift = 0
  for (let c = 0; c < k; c++) {
    const count = counts[c] as number
    for (let j = 0; j < cols; j++) {
      const p = c * cols + j
      next[p] = count > 0 ? (sums[p] as number) / count : (centroids[p] as number)
    }
    const squaredShift = squaredDistance(next, c * cols, centroids, c * cols, cols)
    shifts[c] = Math.sqrt(squaredShift)
    shift += squaredShift
  }
  return shift
}

/**
 * Distance bounds of Hamerly's k-means algorithm: `upper[i]` is at least the distance from
 * row i to its assigned centroid, and `lower[i]` is at most its distance to any other centroid.
 */
interface Bounds {
  upper: Float64Array
  lower: Float64Array
}

// Assigns row i by a full scan and resets its bounds to the exact distances.
function scanRow(
  data: Data,
  centroids: Float64Array,
  k: number,
  i: number,
  labels: Int32Array,
  bounds: Bounds,
): void {
  const cols = data.cols
  let best = 0
  let bestDistance = Infinity
  let secondDistance = Infinity
  for (let c = 0; c < k; c++) {
    const distance = squaredDistance(data.x, i * cols, centroids, c * cols, cols)
    if (distance < bestDistance) {
      secondDistance = bestDistance
      bestDistance = distance
      best = c
    } else if (distance < secondDistance) {
      secondDistance = distance
    }
  }
  labels[i] = best
  bounds.upper[i] = Math.sqrt(bestDistance)
  bounds.lower[i] = Math.sqrt(secondDistance)
}

// Half the distance from each centroid to its nearest other centroid (Infinity when k = 1).
function halfNearestGaps(centroids: Float64Array, k: number, cols: number): Float64Array {
  const gaps = new Float64Array(k).fill(Infinity)
  for (let a = 0; a < k; a++) {
    for (let b = a + 1; b < k; b++) {
      const half = Math.sqrt(squaredDistance(centroids, a * cols, centroids, b * cols, cols)) / 2
      gaps[a] = Math.min(gaps[a] as number, half)
      gaps[b] = Math.min(gaps[b] as number, half)
    }
  }
  return gaps
}

/**
 * Assigns every row to its nearest centroid like `assignRows`, but skips rows whose bounds
 * prove that their centroid is still the nearest. By the triangle inequality that holds when
 * the upper bound is at most the lower bound or half the gap to the nearest other centroid.
 */
function assignWithBounds(
  data: Data,
  centroids: Float64Array,
  k: number,
  labels: Int32Array,
  bounds: Bounds,
): void {
  const { n, cols, x } = data
  const gaps = halfNearestGaps(centroids, k, cols)
  const { upper, lower } = bounds
  for (let i = 0; i < n; i++) {
    const label = labels[i] as number
    const limit = Math.max(gaps[label] as number, lower[i] as number)
    if ((upper[i] as number) <= limit) continue
    upper[i] = Math.sqrt(squaredDistance(x, i * cols, centroids, label * cols, cols))
    if ((upper[i] as number) <= limit) continue
    scanRow(data, centroids, k, i, labels, bounds)
  }
}

// Loosens the bounds by how far the centroids moved, so they stay valid for the new centroids.
function moveBounds(labels: Int32Array, bounds: Bounds, shifts: Float64Array): void {
  let largest = 0
  let secondLargest = 0
  let largestIndex = -1
  shifts.forEach((shift, c) => {
    if (shift > largest) {
      secondLargest = largest
      largest = shift
      largestIndex = c
    } else if (shift > secondLargest) {
      secondLargest = shift
    }
  })
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] as number
    bounds.upper[i]! += shifts[label] as number
    bounds.lower[i]! -= label === largestIndex ? secondLargest : largest
  }
}

function sameLabels(a: Int32Array, b: Int32Array): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return false
  }
  return true
}

/**
 * Runs Lloyd iterations from `initial`. Assignments use Hamerly's bounds, which skip most
 * distance computations once the centroids settle. They give the same labels as a full scan
 * except where two centroids are equally near, or nearly so within rounding of the bounds.
 */
function runLloyd(
  data: Data,
  initial: Float64Array,
  maxIterations: number,
  tolerance: number,
): KMeansResult {
  const k = initial.length / data.cols
  let centroids = initial.slice()
  let next = new Float64Array(centroids.length)
  const shifts = new Float64Array(k)
  const labels = new Int32Array(data.n)
  const previous = new Int32Array(data.n).fill(-1)
  // Unknown distances to start with, so the first assignment tests every row.
  const bounds: Bounds = {
    upper: new Float64Array(data.n).fill(Infinity),
    lower: new Float64Array(data.n),
  }
  let iterations = 0
  let converged = false
  while (iterations < maxIterations && !converged) {
    iterations++
    assignWithBounds(data, centroids, k, labels, bounds)
    const shift = updateCentroids(data, labels, centroids, next, shifts)
    const previousCentroids = centroids
    centroids = next
    next = previousCentroids
    moveBounds(labels, bounds, shifts)
    // Stop when the labels repeat exactly or the centroids barely moved.
    converged = sameLabels(labels, previous) || shift <= tolerance
    previous.set(labels)
  }

  // A full assignment, so labels and inertia match the returned centroids exactly.
  const squared = new Float64Array(data.n)
  const inertia = assignRows(data, centroids, k, labels, squared)
  const centroidMatrix: Matrix = { rows: k, cols: data.cols, data: centroids }
  return { centroids: centroidMatrix, labels, inertia, iterations, converged }
}

function meanColumnVariance(data: Data): number {
  const { n, cols, x } = data
  let total = 0
  for (let j = 0; j < cols; j++) {
    let sum = 0
    for (let i = 0; i < n; i++) sum += x[i * cols + j] as number
    const mean = sum / n
    let squares = 0
    for (let i = 0; i < n; i++) squares += ((x[i * cols + j] as number) - mean) ** 2
    total += squares / n
  }
  return total / cols
}

function assertInteger(value: number, min: number, max: number, name: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`)
  }
}

function validateFit(m: Matrix, options: KMeansOptions): void {
  if (m.rows === 0 || m.cols === 0) {
    throw new RangeError(`k-means needs at least one row and one column, got ${m.rows} x ${m.cols}`)
  }
  assertInteger(options.k, 1, m.rows, 'k')
  assertInteger(options.nInit ?? 4, 1, Number.MAX_SAFE_INTEGER, 'nInit')
  assertInteger(options.maxIterations ?? 300, 1, Number.MAX_SAFE_INTEGER, 'maxIterations')
  const tolerance = options.tolerance ?? 1e-4
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new RangeError(`tolerance must be a finite number >= 0, got ${tolerance}`)
  }
  if (!Number.isFinite(options.seed)) {
    throw new RangeError(`seed must be a finite number, got ${options.seed}`)
  }
  assertFinite(m, 'k-means input')
}

/**
 * Clusters the rows of `m` into `k` groups. Runs `nInit` (default 4) seeded k-means++ starts,
 * each followed by at most `maxIterations` (default 300) Lloyd iterations, and returns the run
 * with the lowest inertia. The same seed and input always give the same result.
 * Throws a RangeError for an empty matrix, a non-finite entry, k outside [1, rows] or an
 * invalid option.
 */
export function fitKMeans(m: Matrix, options: KMeansOptions): KMeansResult {
  validateFit(m, options)
  const data: Data = { n: m.rows, cols: m.cols, x: m.data }
  const tolerance = (options.tolerance ?? 1e-4) * meanColumnVariance(data)
  const rng = createRng(options.seed)
  let best: KMeansResult | null = null
  for (let run = 0; run < (options.nInit ?? 4); run++) {
    const initial = seedCentroids(data, options.k, rng.fork(run))
    const result = runLloyd(data, initial, options.maxIterations ?? 300, tolerance)
    if (best === null || result.inertia < best.inertia) best = result
  }
  return best as KMeansResult
}

/**
 * Returns each row's nearest centroid and its Euclidean distance. Ties go to the lower index.
 * Throws a RangeError when the column counts differ, `centroids` has no rows or an entry is
 * not finite.
 */
export function assignNearest(m: Matrix, centroids: Matrix): Assignment {
  if (centroids.rows === 0) throw new RangeError('centroids must have at least one row')
  if (m.cols !== centroids.cols) {
    throw new RangeError(`matrix has ${m.cols} columns, but the centroids have ${centroids.cols}`)
  }
  assertFinite(m, 'input')
  assertFinite(centroids, 'centroids')
  const labels = new Int32Array(m.rows)
  const distances = new Float64Array(m.rows)
  const data: Data = { n: m.rows, cols: m.cols, x: m.data }
  assignRows(data, centroids.data, centroids.rows, labels, distances)
  for (let i = 0; i < distances.length; i++) distances[i] = Math.sqrt(distances[i] as number)
  return { labels, distances }
}
