/**
 * Exact bound-based assignment for the Lloyd iterations of src/ml/kmeans.ts, by Elkan's
 * bounds (one lower bound per row and centroid) for small k and Hamerly's (one per row)
 * otherwise. A bound skips a row or a centroid only with a safety margin far above its
 * rounding error, so the labels are those of a full scan that compares the same squared
 * distances, with ties going to the lower index.
 */
import { BOUND_MARGIN, squaredDistance, type Data } from './kmeans-distance.ts'

// Factor applied to every upper bound in the tests below, so each test keeps BOUND_MARGIN.
const WIDEN = 1 + BOUND_MARGIN

/**
 * Largest k that uses Elkan's bounds, which keep k lower bounds per row.
 * NOTE: that is 8 * rows * k bytes, 256 MB for 1M rows at k = 32.
 */
export const ELKAN_MAX_K = 32

/**
 * Per-row state of one run. `sums` and `counts` always match `labels`: they are the column
 * sums and sizes of the rows labelled with each cluster (label -1 before the first pass).
 * `upper[i]` is at least the distance from row i to its centroid. With Elkan's bounds,
 * `lower[i * k + c]` is at most the distance from row i to centroid c. With Hamerly's,
 * `lower[i]` is at most its distance to any centroid other than its own.
 *
 * With Elkan's bounds, `otherLower[i]` is at most the distance from row i to any centroid
 * other than its own. These bounds are stored offset by `drift[c]`, the summed shift of
 * centroid c so far, and by `otherDrift[c]`, the summed largest shift of the centroids other
 * than c. The distance bounds are `upper[i] + drift[label]`, `lower[i * k + c] - drift[c]`
 * and `otherLower[i] - otherDrift[label]`, so moving the centroids moves only the drifts.
 * `maxDrift` is the summed largest shift of all centroids, which scales the margin.
 */
export interface RunState {
  k: number
  elkan: boolean
  labels: Int32Array
  upper: Float64Array
  lower: Float64Array
  otherLower: Float64Array
  drift: Float64Array
  otherDrift: Float64Array
  maxDrift: number
  sums: Float64Array
  counts: Float64Array
}

/** Creates the state of a run that has not assigned any row yet. */
export function createRunState(n: number, cols: number, k: number): RunState {
  const elkan = k <= ELKAN_MAX_K
  return {
    k,
    elkan,
    labels: new Int32Array(n).fill(-1),
    upper: new Float64Array(n).fill(Infinity),
    lower: new Float64Array(elkan ? n * k : n),
    otherLower: new Float64Array(elkan ? n : 0),
    drift: new Float64Array(k),
    otherDrift: new Float64Array(k),
    maxDrift: 0,
    sums: new Float64Array(k * cols),
    counts: new Float64Array(k),
  }
}

// Moves row i from cluster `from` (-1 for none) to `to` in the cluster sums and counts.
function moveRow(data: Data, i: number, from: number, to: number, state: RunState): void {
  const { cols, x } = data
  const { sums, counts } = state
  const start = i * cols
  if (from >= 0) {
    counts[from]! -= 1
    const offset = from * cols
    for (let j = 0; j < cols; j++) sums[offset + j]! -= x[start + j] as number
  }
  counts[to]! += 1
  const offset = to * cols
  for (let j = 0; j < cols; j++) sums[offset + j]! += x[start + j] as number
}

// Half the distance between every pair of centroids, k x k.
function halfCentroidDistances(centroids: Float64Array, k: number, cols: number): Float64Array {
  const half = new Float64Array(k * k)
  for (let a = 0; a < k; a++) {
    for (let b = a + 1; b < k; b++) {
      const value = Math.sqrt(squaredDistance(centroids, a * cols, centroids, b * cols, cols)) / 2
      half[a * k + b] = value
      half[b * k + a] = value
    }
  }
  return half
}

// Half the distance from each centroid to its nearest other centroid (Infinity when k = 1).
function halfNearestGaps(half: Float64Array, k: number): Float64Array {
  const gaps = new Float64Array(k).fill(Infinity)
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) {
      if (b !== a) gaps[a] = Math.min(gaps[a] as number, half[a * k + b] as number)
    }
  }
  return gaps
}

/**
 * Assigns row i by Hamerly's bounds. The row is skipped when its upper bound is below its
 * lower bound or half the gap to the nearest other centroid. Otherwise every centroid is
 * scanned with the comparisons of assignRows. Returns the new label.
 */
function assignHamerly(
  data: Data,
  centroids: Float64Array,
  state: RunState,
  i: number,
  gaps: Float64Array,
  slack: number,
): number {
  const { cols, x } = data
  const { k, labels, upper, lower } = state
  const label = labels[i] as number
  // Rows start with label -1 and an infinite upper bound, so the first pass scans them all.
  const limit = label < 0 ? 0 : Math.max(gaps[label] as number, lower[i] as number)
  if ((upper[i] as number) * WIDEN + slack < limit) return label

  const start = i * cols
  let labelDistance = Infinity
  if (label >= 0) {
    labelDistance = squaredDistance(x, start, centroids, label * cols, cols)
    const distance = Math.sqrt(labelDistance)
    upper[i] = distance
    if (distance * WIDEN + slack < limit) return label
  }

  let best = 0
  let bestDistance = Infinity
  let secondDistance = Infinity
  for (let c = 0; c < k; c++) {
    const distance =
      c === label ? labelDistance : squaredDistance(x, start, centroids, c * cols, cols)
    if (distance < bestDistance) {
      secondDistance = bestDistance
      bestDistance = distance
      best = c
    } else if (distance < secondDistance) {
      secondDistance = distance
    }
  }
  upper[i] = Math.sqrt(bestDistance)
  lower[i] = Math.sqrt(secondDistance)
  return best
}

/**
 * Assigns every row by Elkan's bounds and returns how many rows changed cluster. A row is
 * skipped when its upper bound, or else its exact distance to its centroid, is below its
 * bound to every other centroid or half the gap from its centroid to the nearest other one.
 * Otherwise centroid c is skipped when the distance is below the row's lower bound for c,
 * which is raised by the triangle inequality through the current centroid. The label moves
 * to c when c is nearer, or equally near with a lower index, so ties go to the lower index
 * as in assignRows.
 */
function assignElkan(
  data: Data,
  centroids: Float64Array,
  state: RunState,
  slack: number,
  half: Float64Array,
  gaps: Float64Array,
): number {
  const { n, cols, x } = data
  const { k, labels, upper, lower, otherLower, drift, otherDrift } = state
  let changes = 0
  for (let i = 0; i < n; i++) {
    const start = i * cols
    const rowBounds = i * k
    const old = labels[i] as number
    let label = old
    if (label < 0) {
      scanElkan(data, centroids, state, i)
      label = labels[i] as number
      moveRow(data, i, -1, label, state)
      changes++
      continue
    }

    // Stored bounds are offset by the drifts when they were written (see RunState).
    let bound = (upper[i] as number) + (drift[label] as number)
    const rowLimit = Math.max(gaps[label] as number, (otherLower[i] as number) - otherDrift[label]!)
    if (bound * WIDEN + slack < rowLimit) continue

    // The exact distance to the current centroid often settles the row without touching its
    // per-centroid bounds (Hamerly's second test).
    let labelDistance = squaredDistance(x, start, centroids, label * cols, cols)
    bound = Math.sqrt(labelDistance)
    if (bound * WIDEN + slack < rowLimit) {
      upper[i] = bound - (drift[label] as number)
      continue
    }
    lower[rowBounds + label] = bound + (drift[label] as number)

    // Minimum lower bound over the centroids other than the label, while the label is `old`.
    let nearestOther = Infinity
    for (let c = 0; c < k; c++) {
      if (c === label) continue
      const stored = (lower[rowBounds + c] as number) - (drift[c] as number)
      // By the triangle inequality, d(x, c) >= d(label, c) - d(x, label).
      const gap = 2 * (half[label * k + c] as number)
      const lowerBound = Math.max(stored, gap - bound)
      if (bound * WIDEN + slack < lowerBound) {
        nearestOther = Math.min(nearestOther, lowerBound)
        continue
      }
      const distance = squaredDistance(x, start, centroids, c * cols, cols)
      const root = Math.sqrt(distance)
      lower[rowBounds + c] = root + (drift[c] as number)
      if (distance < labelDistance || (distance === labelDistance && c < label)) {
        label = c
        labelDistance = distance
        bound = root
      } else {
        nearestOther = Math.min(nearestOther, root)
      }
    }
    upper[i] = bound - (drift[label] as number)
    if (label !== old) {
      // The label moved, so the minimum is taken again over the stored bounds.
      nearestOther = Infinity
      for (let c = 0; c < k; c++) {
        if (c === label) continue
        const stored = (lower[rowBounds + c] as number) - (drift[c] as number)
        nearestOther = Math.min(nearestOther, stored)
      }
    }
    otherLower[i] = nearestOther + (otherDrift[label] as number)
    if (label !== old) {
      moveRow(data, i, old, label, state)
      labels[i] = label
      changes++
    }
  }
  return changes
}

// First pass for row i: every distance is computed, and the label chosen as in assignRows.
function scanElkan(data: Data, centroids: Float64Array, state: RunState, i: number): void {
  const { cols, x } = data
  const { k, labels, upper, lower, otherLower, drift, otherDrift } = state
  const start = i * cols
  const rowBounds = i * k
  let best = 0
  let bestDistance = Infinity
  let secondDistance = Infinity
  for (let c = 0; c < k; c++) {
    const distance = squaredDistance(x, start, centroids, c * cols, cols)
    lower[rowBounds + c] = Math.sqrt(distance) + (drift[c] as number)
    if (distance < bestDistance) {
      secondDistance = bestDistance
      bestDistance = distance
      best = c
    } else if (distance < secondDistance) {
      secondDistance = distance
    }
  }
  labels[i] = best
  upper[i] = Math.sqrt(bestDistance) - (drift[best] as number)
  otherLower[i] = Math.sqrt(secondDistance) + (otherDrift[best] as number)
}

/**
 * Assigns every row to its nearest centroid, as assignRows would, keeping the cluster sums
 * in step, and returns how many rows changed cluster. `diagonal` is the bounding box diagonal
 * of the rows (see boxDiagonal).
 */
export function assignWithBounds(
  data: Data,
  centroids: Float64Array,
  state: RunState,
  diagonal: number,
): number {
  // Absolute margin of the bound tests: the rounding error of a bound grows with the
  // distances and the summed shifts that it was built from.
  const slack = BOUND_MARGIN * (diagonal + state.maxDrift)
  const { k, labels } = state
  const half = halfCentroidDistances(centroids, k, data.cols)
  const gaps = halfNearestGaps(half, k)
  if (state.elkan) return assignElkan(data, centroids, state, slack, half, gaps)
  let changes = 0
  for (let i = 0; i < data.n; i++) {
    const label = labels[i] as number
    const best = assignHamerly(data, centroids, state, i, gaps, slack)
    if (best !== label) {
      moveRow(data, i, label, best, state)
      labels[i] = best
      changes++
    }
  }
  return changes
}

/** Loosens the bounds by how far each centroid moved, so they hold for the new centroids. */
export function moveBounds(state: RunState, shifts: Float64Array): void {
  const { k, labels, upper, lower, drift, otherDrift } = state
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
  state.maxDrift += largest
  if (state.elkan) {
    // Elkan's bounds are stored offset by the drifts, so moving them is moving the drifts.
    for (let c = 0; c < k; c++) {
      drift[c]! += shifts[c] as number
      otherDrift[c]! += c === largestIndex ? secondLargest : largest
    }
    return
  }
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] as number
    upper[i]! += shifts[label] as number
    lower[i]! -= label === largestIndex ? secondLargest : largest
  }
}
