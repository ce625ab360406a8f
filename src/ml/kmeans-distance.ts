/** Distances and the bound margin shared by the k-means start and Lloyd iterations. */
export interface Data {
  n: number
  cols: number
  x: Float64Array
}

/** Squared Euclidean distance, summed over the columns in order. */
export function squaredDistance(
  a: Float64Array,
  aStart: number,
  b: Float64Array,
  bStart: number,
  cols: number,
): number {
  // Unrolled by 4 for speed, still adding the terms one at a time in column order.
  let sum = 0
  let j = 0
  for (; j + 3 < cols; j += 4) {
    const d0 = (a[aStart + j] as number) - (b[bStart + j] as number)
    const d1 = (a[aStart + j + 1] as number) - (b[bStart + j + 1] as number)
    const d2 = (a[aStart + j + 2] as number) - (b[bStart + j + 2] as number)
    const d3 = (a[aStart + j + 3] as number) - (b[bStart + j + 3] as number)
    sum += d0 * d0
    sum += d1 * d1
    sum += d2 * d2
    sum += d3 * d3
  }
  for (; j < cols; j++) {
    const d = (a[aStart + j] as number) - (b[bStart + j] as number)
    sum += d * d
  }
  return sum
}

/** Writes each row's nearest centroid and squared distance, and returns the summed distances. */
export function assignRows(
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

/**
 * Relative margin of every bound test. The bounds are square roots of computed squared
 * distances, moved by computed shifts once per iteration. By estimate their relative error
 * grows by about 1e-15 per iteration, so a margin of 1e-9 leaves room for about a million
 * iterations.
 */
export const BOUND_MARGIN = 1e-9

/**
 * Returns the diagonal of the bounding box of the rows. Bound tests add BOUND_MARGIN times
 * this length, so that distances near 0 also keep a margin.
 */
export function boxDiagonal(data: Data): number {
  const { n, cols, x } = data
  const low = new Float64Array(cols).fill(Infinity)
  const high = new Float64Array(cols).fill(-Infinity)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < cols; j++) {
      const value = x[i * cols + j] as number
      if (value < (low[j] as number)) low[j] = value
      if (value > (high[j] as number)) high[j] = value
    }
  }
  let sum = 0
  for (let j = 0; j < cols; j++) sum += ((high[j] as number) - (low[j] as number)) ** 2
  return Math.sqrt(sum)
}
