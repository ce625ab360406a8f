/**
 * Lloyd iterations for src/ml/kmeans.ts. Assignments skip distance computations by exact
 * bounds (kmeans-bounds.ts), and the cluster sums are updated from label changes only.
 */
import { assignWithBounds, createRunState, moveBounds, type RunState } from './kmeans-bounds.ts'
import { squaredDistance, type Data } from './kmeans-distance.ts'
import type { Matrix } from './matrix.ts'

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
 * a row to spare. The row keeps its label, so only this iteration's means see the move.
 */
function relocateEmptyClusters(
  data: Data,
  labels: Int32Array,
  centroids: Float64Array,
  sums: Float64Array,
  counts: Float64Array,
): void {
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
  state: RunState,
  centroids: Float64Array,
  next: Float64Array,
  shifts: Float64Array,
): number {
  const cols = data.cols
  const k = centroids.length / cols
  // NOTE: the running sums differ from a full pass over the rows by rounding, so centroids
  // may differ from a recomputation in the last bits, and a row within that of a tie may flip.
  let { sums, counts } = state
  if (counts.includes(0)) {
    // Relocation works on copies, because the running sums must keep matching the labels.
    sums = sums.slice()
    counts = counts.slice()
    relocateEmptyClusters(data, state.labels, centroids, sums, counts)
  }
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
 * Runs Lloyd iterations from `initial` until no label changes, the summed squared centroid
 * shift is at most `tolerance`, or `maxIterations` is reached. `diagonal` is the bounding box
 * diagonal of the rows (see boxDiagonal).
 * NOTE: every pass runs on one thread, where scikit-learn splits its passes over OpenMP threads.
 */
export function runLloyd(
  data: Data,
  initial: Float64Array,
  maxIterations: number,
  tolerance: number,
  diagonal: number,
): KMeansResult {
  const k = initial.length / data.cols
  let centroids = initial.slice()
  let next = new Float64Array(centroids.length)
  const shifts = new Float64Array(k)
  const state = createRunState(data.n, data.cols, k)
  let iterations = 0
  let converged = false
  while (iterations < maxIterations && !converged) {
    iterations++
    const changes = assignWithBounds(data, centroids, state, diagonal)
    const shift = updateCentroids(data, state, centroids, next, shifts)
    const previousCentroids = centroids
    centroids = next
    next = previousCentroids
    moveBounds(state, shifts)
    // Stop when no label changed or the centroids barely moved.
    converged = changes === 0 || shift <= tolerance
  }

  // One more assignment, so labels and inertia match the returned centroids exactly. The
  // inertia sums the same squared distances, in the same order, as assignRows.
  assignWithBounds(data, centroids, state, diagonal)
  const { labels } = state
  let inertia = 0
  for (let i = 0; i < data.n; i++) {
    const label = labels[i] as number
    inertia += squaredDistance(data.x, i * data.cols, centroids, label * data.cols, data.cols)
  }
  const centroidMatrix: Matrix = { rows: k, cols: data.cols, data: centroids }
  return { centroids: centroidMatrix, labels, inertia, iterations, converged }
}
