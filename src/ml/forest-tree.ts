/**
 * Growing one classification tree of the histogram forest on binned data: Gini impurity
 * from per-bin class histograms, with fresh candidate features drawn at every split.
 */
import type { BinnedMatrix } from './forest-bins.ts'
import { MAX_BINS } from './forest-bins.ts'
import type { Rng } from './random.ts'

/**
 * One tree as parallel arrays indexed by node id, with the root at 0 and children numbered
 * after their parent. A leaf has feature -1 and children -1. Rows with
 * `x[feature] <= threshold` go to `left`. `value` is the weighted fraction of class 1.
 */
export interface TreeArrays {
  feature: Int32Array
  threshold: Float64Array
  left: Int32Array
  right: Int32Array
  value: Float64Array
}

export interface TreeParams {
  maxDepth: number
  minSamplesLeaf: number
  /** Features evaluated per split (more are drawn when none of them can split the node). */
  maxFeatures: number
  /** Sample weight of classes 0 and 1. */
  classWeight: readonly [number, number]
}

interface Split {
  feature: number
  bin: number
  /** Weighted impurity decrease: W * gini - W_left * gini_left - W_right * gini_right. */
  decrease: number
}

interface Builder {
  data: BinnedMatrix
  y: Uint8Array
  params: TreeParams
  rng: Rng
  /** In-bag row ids. Each node owns a contiguous range, which partitioning reorders. */
  rows: Int32Array
  /** Bootstrap count times class weight, indexed by row id. */
  weight: Float64Array
  featureOrder: Int32Array
  histogram0: Float64Array
  histogram1: Float64Array
  histogramCount: Int32Array
  importance: Float64Array
  nodes: {
    feature: number[]
    threshold: number[]
    left: number[]
    right: number[]
    value: number[]
  }
}

/** Draws n rows with replacement and returns the distinct rows drawn with their weights. */
function bootstrap(y: Uint8Array, classWeight: readonly [number, number], rng: Rng) {
  const n = y.length
  const counts = new Uint32Array(n)
  for (let draw = 0; draw < n; draw++) counts[rng.int(n)]! += 1
  const weight = new Float64Array(n)
  const rows: number[] = []
  for (let i = 0; i < n; i++) {
    if (counts[i] === 0) continue
    rows.push(i)
    weight[i] = (counts[i] as number) * classWeight[y[i] as 0 | 1]
  }
  return { rows: Int32Array.from(rows), weight }
}

function fillHistogram(
  b: Builder,
  feature: number,
  start: number,
  end: number,
  binCount: number,
): void {
  const { histogram0, histogram1, histogramCount, rows, weight, y } = b
  histogram0.fill(0, 0, binCount)
  histogram1.fill(0, 0, binCount)
  histogramCount.fill(0, 0, binCount)
  const offset = feature * b.data.rows
  const bins = b.data.bins
  for (let k = start; k < end; k++) {
    const i = rows[k] as number
    const bin = bins[offset + i] as number
    histogramCount[bin]! += 1
    if (y[i] === 1) histogram1[bin]! += weight[i] as number
    else histogram0[bin]! += weight[i] as number
  }
}

/**
 * Scans the bins of one feature and returns the best threshold bin, or bin -1 when no
 * threshold leaves `minSamplesLeaf` rows on both sides. Fewer than two non-empty bins means
 * the feature is constant in this node, which the result reports as `constant`.
 */
function scanFeature(b: Builder, binCount: number, count: number, w0: number, w1: number) {
  const minLeaf = b.params.minSamplesLeaf
  let left0 = 0
  let left1 = 0
  let leftCount = 0
  let bestScore = Infinity
  let bestBin = -1
  let occupied = 0
  for (let bin = 0; bin < binCount; bin++) {
    const binRows = b.histogramCount[bin] as number
    if (binRows === 0) continue
    occupied++
    left0 += b.histogram0[bin] as number
    left1 += b.histogram1[bin] as number
    leftCount += binRows
    if (leftCount < minLeaf || count - leftCount < minLeaf) continue
    const right0 = w0 - left0
    const right1 = w1 - left1
    // Minimizing sum(w0 * w1 / W) over both children maximizes the Gini decrease.
    const score = (left0 * left1) / (left0 + left1) + (right0 * right1) / (right0 + right1)
    if (score < bestScore) {
      bestScore = score
      bestBin = bin
    }
  }
  return { constant: occupied < 2, bin: bestBin, decrease: 2 * ((w0 * w1) / (w0 + w1) - bestScore) }
}

function findSplit(b: Builder, start: number, end: number, w0: number, w1: number): Split | null {
  const { featureOrder, rng } = b
  const nFeatures = featureOrder.length
  let best: Split | null = null
  let evaluated = 0
  // Partial Fisher-Yates: draw features without replacement until maxFeatures non-constant
  // ones were evaluated and one of them splits, or until every feature was drawn.
  for (let t = 0; t < nFeatures && (evaluated < b.params.maxFeatures || best === null); t++) {
    const swap = t + rng.int(nFeatures - t)
    const feature = featureOrder[swap] as number
    featureOrder[swap] = featureOrder[t] as number
    featureOrder[t] = feature
    const binCount = (b.data.edges[feature] as Float64Array).length + 1
    if (binCount < 2) continue
    fillHistogram(b, feature, start, end, binCount)
    const scan = scanFeature(b, binCount, end - start, w0, w1)
    if (scan.constant) continue
    evaluated++
    if (scan.bin >= 0 && (best === null || scan.decrease > best.decrease)) {
      best = { feature, bin: scan.bin, decrease: scan.decrease }
    }
  }
  return best
}

// Moves rows with bin <= split.bin to the front of [start, end) and returns the boundary.
function partition(b: Builder, start: number, end: number, split: Split): number {
  const { rows } = b
  const offset = split.feature * b.data.rows
  let low = start
  let high = end - 1
  while (low <= high) {
    if ((b.data.bins[offset + (rows[low] as number)] as number) <= split.bin) {
      low++
    } else {
      const moved = rows[low] as number
      rows[low] = rows[high] as number
      rows[high] = moved
      high--
    }
  }
  return low
}

function classWeights(b: Builder, start: number, end: number): [number, number] {
  let w0 = 0
  let w1 = 0
  for (let k = start; k < end; k++) {
    const i = b.rows[k] as number
    if (b.y[i] === 1) w1 += b.weight[i] as number
    else w0 += b.weight[i] as number
  }
  return [w0, w1]
}

function growNode(b: Builder, start: number, end: number, depth: number): number {
  const { nodes, params } = b
  const id = nodes.feature.length
  const [w0, w1] = classWeights(b, start, end)
  nodes.feature.push(-1)
  nodes.threshold.push(0)
  nodes.left.push(-1)
  nodes.right.push(-1)
  nodes.value.push(w1 / (w0 + w1))
  const splittable = depth < params.maxDepth && end - start >= 2 * params.minSamplesLeaf
  if (!splittable || w0 === 0 || w1 === 0) return id
  const split = findSplit(b, start, end, w0, w1)
  if (split === null) return id
  const middle = partition(b, start, end, split)
  // Rounding can make a zero decrease slightly negative.
  b.importance[split.feature]! += Math.max(0, split.decrease)
  nodes.feature[id] = split.feature
  nodes.threshold[id] = (b.data.edges[split.feature] as Float64Array)[split.bin] as number
  nodes.left[id] = growNode(b, start, middle, depth + 1)
  nodes.right[id] = growNode(b, middle, end, depth + 1)
  return id
}

/**
 * Grows one tree on a bootstrap sample of the binned rows. Returns the tree and its
 * per-feature impurity decrease, normalized to sum to 1 (all zeros for a single leaf).
 */
export function growTree(data: BinnedMatrix, y: Uint8Array, params: TreeParams, rng: Rng) {
  const { rows, weight } = bootstrap(y, params.classWeight, rng)
  const b: Builder = {
    data,
    y,
    params,
    rng,
    rows,
    weight,
    featureOrder: Int32Array.from({ length: data.cols }, (_, j) => j),
    histogram0: new Float64Array(MAX_BINS),
    histogram1: new Float64Array(MAX_BINS),
    histogramCount: new Int32Array(MAX_BINS),
    importance: new Float64Array(data.cols),
    nodes: { feature: [], threshold: [], left: [], right: [], value: [] },
  }
  growNode(b, 0, rows.length, 0)
  const total = b.importance.reduce((sum, value) => sum + value, 0)
  if (total > 0) b.importance.forEach((value, j) => (b.importance[j] = value / total))
  const tree: TreeArrays = {
    feature: Int32Array.from(b.nodes.feature),
    threshold: Float64Array.from(b.nodes.threshold),
    left: Int32Array.from(b.nodes.left),
    right: Int32Array.from(b.nodes.right),
    value: Float64Array.from(b.nodes.value),
  }
  return { tree, importance: b.importance }
}
