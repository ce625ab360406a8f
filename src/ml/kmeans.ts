/**
 * Lloyd's k-means over typed arrays with a seeded greedy k-means++ start, modelled on
 * scikit-learn 1.2's KMeans (algorithm='lloyd'). ml-kmeans 7 is the reference: started from
 * the same centroids, both give the same labels and inertia (tests/unit/ml/kmeans.test.ts).
 * This path is used because ml-kmeans works on number[][], reports no inertia and spends most
 * of a large run in its own k-means++ start. The iterations skip distance computations by
 * exact bounds (kmeans-bounds.ts), so their labels are those of a plain Lloyd scan.
 */
import { assignRows, boxDiagonal, type Data } from './kmeans-distance.ts'
import { runLloyd, type KMeansResult } from './kmeans-lloyd.ts'
import { seedCentroids } from './kmeans-seeding.ts'
import { assertFinite, type Matrix } from './matrix.ts'
import { createRng } from './random.ts'

export type { KMeansResult } from './kmeans-lloyd.ts'

export interface KMeansOptions {
  /** Number of clusters, from 1 to the number of rows. */
  k: number
  seed: number
  /** Number of k-means++ starts. The run with the lowest inertia is returned. */
  nInit?: number
  /** k x cols starting centroids, used in place of k-means++ for one run (nInit is ignored). */
  initialCentroids?: Matrix
  maxIterations?: number
  /**
   * Convergence threshold on the summed squared centroid shift of one iteration, relative to
   * the mean per-column variance of the data (as scikit-learn's `tol`).
   */
  tolerance?: number
}

export interface Assignment {
  labels: Int32Array
  /** Euclidean (not squared) distance from each row to its nearest centroid. */
  distances: Float64Array
}

// Two row-major passes with one accumulator per column, so each column is summed in row order.
function meanColumnVariance(data: Data): number {
  const { n, cols, x } = data
  const means = new Float64Array(cols)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < cols; j++) means[j]! += x[i * cols + j] as number
  }
  for (let j = 0; j < cols; j++) means[j] = (means[j] as number) / n
  const squares = new Float64Array(cols)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < cols; j++) squares[j]! += ((x[i * cols + j] as number) - means[j]!) ** 2
  }
  let total = 0
  for (let j = 0; j < cols; j++) total += (squares[j] as number) / n
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
  const initial = options.initialCentroids
  if (initial) {
    if (initial.rows !== options.k || initial.cols !== m.cols) {
      throw new RangeError(
        `initialCentroids must be k x cols (${options.k} x ${m.cols}), got ${initial.rows} x ${initial.cols}`,
      )
    }
    assertFinite(initial, 'initialCentroids')
  }
}

/**
 * Clusters the rows of `m` into `k` groups. Runs `nInit` (default 4) seeded k-means++ starts,
 * each followed by at most `maxIterations` (default 300) Lloyd iterations, and returns the run
 * with the lowest inertia, or one run from `initialCentroids` when given. The same seed and
 * input always give the same result. Throws a RangeError for an empty matrix, a non-finite
 * entry, k outside [1, rows] or an invalid option.
 */
export function fitKMeans(m: Matrix, options: KMeansOptions): KMeansResult {
  validateFit(m, options)
  const data: Data = { n: m.rows, cols: m.cols, x: m.data }
  const tolerance = (options.tolerance ?? 1e-4) * meanColumnVariance(data)
  const maxIterations = options.maxIterations ?? 300
  const diagonal = boxDiagonal(data)
  if (options.initialCentroids) {
    return runLloyd(data, options.initialCentroids.data, maxIterations, tolerance, diagonal)
  }
  const rng = createRng(options.seed)
  let best: KMeansResult | null = null
  for (let run = 0; run < (options.nInit ?? 4); run++) {
    const initial = seedCentroids(data, options.k, rng.fork(run), diagonal)
    const result = runLloyd(data, initial, maxIterations, tolerance, diagonal)
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
