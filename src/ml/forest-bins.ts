/**
 * Quantile binning for the histogram forest. Bin b of a feature contains the values x with
 * edges[b - 1] < x <= edges[b], and the last bin contains everything above the last edge, so
 * "bin <= b" and "x <= edges[b]" select the same rows. That is why trees can store
 * `edges[b]` as a threshold in original units.
 */
import { column, type Matrix } from './matrix.ts'

/** Maximum bins per feature. Bin indices are stored in a Uint8Array, which allows up to 256. */
export const MAX_BINS = 64

// Halfway between two finite values, without overflow for values near Number.MAX_VALUE.
function midpoint(low: number, high: number): number {
  return low / 2 + high / 2
}

// Index of the first value in sorted[from..] that is greater than sorted[from].
function nextDistinct(sorted: Float64Array, from: number): number {
  const value = sorted[from] as number
  let low = from
  let high = sorted.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((sorted[middle] as number) > value) high = middle
    else low = middle + 1
  }
  return low
}

/**
 * Computes at most `maxBins - 1` strictly increasing edges for one feature. With at most
 * `maxBins` distinct values, every gap between neighbours gets its midpoint as an edge (as
 * scikit-learn 1.2's HistGradientBoosting binning does). Otherwise each edge lies halfway
 * between the b / maxBins quantile and the next larger value, so tied quantiles merge bins.
 * scikit-learn uses midpoint-interpolated percentiles there instead.
 */
export function featureEdges(values: Float64Array, maxBins: number): Float64Array {
  const sorted = values.slice().sort()
  const edges: number[] = []
  const push = (edge: number): void => {
    if (edges.length === 0 || edge > (edges[edges.length - 1] as number)) edges.push(edge)
  }
  const distinctStarts: number[] = []
  let start = 0
  while (start < sorted.length && distinctStarts.length <= maxBins) {
    distinctStarts.push(start)
    start = nextDistinct(sorted, start)
  }
  if (distinctStarts.length <= maxBins) {
    for (let d = 1; d < distinctStarts.length; d++) {
      const index = distinctStarts[d] as number
      push(midpoint(sorted[index - 1] as number, sorted[index] as number))
    }
    return Float64Array.from(edges)
  }
  for (let b = 1; b < maxBins; b++) {
    const rank = Math.ceil((b * sorted.length) / maxBins) - 1
    const above = nextDistinct(sorted, rank)
    if (above < sorted.length) push(midpoint(sorted[rank] as number, sorted[above] as number))
  }
  return Float64Array.from(edges)
}

/** Returns the bin of `value`: the number of edges below it. */
export function binOf(edges: Float64Array, value: number): number {
  let low = 0
  let high = edges.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((edges[middle] as number) < value) low = middle + 1
    else high = middle
  }
  return low
}

/** Bin indices of a training matrix, stored column by column for histogram building. */
export interface BinnedMatrix {
  rows: number
  cols: number
  /** Bin of entry (i, j) at `bins[j * rows + i]`. */
  bins: Uint8Array
  /** Upper edges of the bins, per feature. Feature j has `edges[j].length + 1` bins. */
  edges: Float64Array[]
}

/** Computes per-feature quantile edges on `x` and bins every entry. */
export function binMatrix(x: Matrix, maxBins: number): BinnedMatrix {
  const bins = new Uint8Array(x.rows * x.cols)
  const edges: Float64Array[] = []
  for (let j = 0; j < x.cols; j++) {
    const values = column(x, j)
    const featureEdgeList = featureEdges(values, maxBins)
    edges.push(featureEdgeList)
    for (let i = 0; i < x.rows; i++) {
      bins[j * x.rows + i] = binOf(featureEdgeList, values[i] as number)
    }
  }
  return { rows: x.rows, cols: x.cols, bins, edges }
}
