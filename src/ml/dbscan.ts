/**
 * DBSCAN with Euclidean distances and scikit-learn 1.2's conventions: a row is a neighbour of
 * another when their distance is at most `eps`, a row counts itself towards `minPts`, and
 * noise is labelled -1.
 *
 * `dbscanReference` wraps density-clustering 1.3.0, the reference. `dbscanAllPairs` is the same
 * algorithm over typed arrays, and `dbscanExact` gives the same labels with neighbours found by
 * a k-d tree. `fitDbscan` clusters a seeded sample, with core rows tested on all rows, and
 * gives every other row the cluster of its nearest core row within `eps` (noise when there is
 * none).
 */
import densityClustering from 'density-clustering'

import { KdTree } from './kd-tree.ts'
import { assertFinite, selectRows, toRows, type Matrix } from './matrix.ts'
import { sampleIndices } from './silhouette.ts'

export interface DbscanOptions {
  /** Neighbourhood radius, in the units of the matrix. */
  eps: number
  /** Rows within `eps` (the row itself included) that make a row a core row. */
  minPts: number
}

export interface DbscanResult {
  /** Cluster index from 0 per row, or -1 for noise. */
  labels: Int32Array
  clusters: number
  /** 1 where the row is a core row (of the fitted sample, for `fitDbscan`). */
  core: Uint8Array
}

function validate(m: Matrix, options: DbscanOptions): void {
  if (!Number.isFinite(options.eps) || options.eps <= 0) {
    throw new RangeError(`eps must be a finite number > 0, got ${options.eps}`)
  }
  if (!Number.isInteger(options.minPts) || options.minPts < 1) {
    throw new RangeError(`minPts must be an integer >= 1, got ${options.minPts}`)
  }
  if (m.rows === 0 || m.cols === 0) {
    throw new RangeError(`DBSCAN needs at least one row and one column, got ${m.rows} x ${m.cols}`)
  }
  assertFinite(m, 'DBSCAN input')
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

function distance(a: Float64Array, aStart: number, b: Float64Array, bStart: number, cols: number) {
  return Math.sqrt(squaredDistance(a, aStart, b, bStart, cols))
}

const euclidean = (a: number[], b: number[]): number => {
  let sum = 0
  for (let j = 0; j < a.length; j++) sum += ((a[j] as number) - (b[j] as number)) ** 2
  return Math.sqrt(sum)
}

/**
 * Clusters with density-clustering's DBSCAN. The library counts neighbours at distance
 * strictly below its epsilon, so it gets the next double above `eps`, which makes the test
 * `distance <= eps`. Its `noise` list keeps border rows that joined a cluster later, so noise
 * is taken as the rows of no cluster. Core flags are counted here, because the library does
 * not report them.
 */
export function dbscanReference(m: Matrix, options: DbscanOptions): DbscanResult {
  validate(m, options)
  const rows = toRows(m)
  const epsilon = nextDoubleAbove(options.eps)
  const clusters = new densityClustering.DBSCAN().run(rows, epsilon, options.minPts, euclidean)
  const labels = new Int32Array(m.rows).fill(-1)
  clusters.forEach((members, cluster) => {
    for (const i of members) labels[i] = cluster
  })
  const core = new Uint8Array(m.rows)
  for (let i = 0; i < m.rows; i++) {
    let neighbours = 0
    for (let j = 0; j < m.rows; j++) {
      if (euclidean(rows[i] as number[], rows[j] as number[]) < epsilon) neighbours++
    }
    core[i] = neighbours >= options.minPts ? 1 : 0
  }
  return { labels, clusters: clusters.length, core }
}

/** Returns the smallest double above a finite positive `value`. */
function nextDoubleAbove(value: number): number {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, value)
  view.setBigUint64(0, view.getBigUint64(0) + 1n)
  return view.getFloat64(0)
}

/** Flags rows with at least `minPts` rows (themselves included) within `eps`. */
function coreRows(m: Matrix, options: DbscanOptions): Uint8Array {
  const { rows, cols, data } = m
  const counts = new Int32Array(rows).fill(1)
  for (let i = 0; i < rows; i++) {
    for (let j = i + 1; j < rows; j++) {
      if (distance(data, i * cols, data, j * cols, cols) <= options.eps) {
        counts[i]! += 1
        counts[j]! += 1
      }
    }
  }
  return Uint8Array.from(counts, (count) => (count >= options.minPts ? 1 : 0))
}

/**
 * Clusters like `dbscanReference`, over typed arrays and all pairs of rows. Clusters are
 * numbered in the order of their lowest core row, and a border row within `eps` of two
 * clusters joins the lower one, as in the library and in scikit-learn. Time is quadratic in
 * the rows, memory linear.
 */
export function dbscanAllPairs(m: Matrix, options: DbscanOptions): DbscanResult {
  validate(m, options)
  const { rows, cols, data } = m
  const core = coreRows(m, options)
  const labels = new Int32Array(rows).fill(-1)
  const stack: number[] = []
  let clusters = 0
  for (let start = 0; start < rows; start++) {
    if (labels[start] !== -1 || core[start] !== 1) continue
    const cluster = clusters++
    labels[start] = cluster
    stack.push(start)
    // Each core row is pushed once, when it is labelled, so its neighbours are searched once.
    while (stack.length > 0) {
      const i = stack.pop() as number
      for (let j = 0; j < rows; j++) {
        if (labels[j] !== -1) continue
        if (distance(data, i * cols, data, j * cols, cols) > options.eps) continue
        labels[j] = cluster
        if (core[j] === 1) stack.push(j)
      }
    }
  }
  return { labels, clusters, core }
}

/**
 * Labels the rows of `m` by expanding clusters from its core rows, with neighbours found in
 * `tree`, a tree over `m`. Each labelled row is deleted from the tree, so a radius query
 * returns only unlabelled rows and skips labelled subtrees. A cluster's expansion ends before
 * the next cluster starts, so the order in which neighbours are found does not change any
 * label, and the labels are those of `dbscanAllPairs` for the same core rows.
 */
function expandClusters(
  m: Matrix,
  tree: KdTree,
  eps: number,
  core: Uint8Array,
): { labels: Int32Array; clusters: number } {
  const { rows, cols, data } = m
  const labels = new Int32Array(rows).fill(-1)
  const stack = new Int32Array(rows)
  let clusters = 0
  for (let start = 0; start < rows; start++) {
    if (labels[start] !== -1 || core[start] !== 1) continue
    const cluster = clusters++
    labels[start] = cluster
    tree.delete(start)
    let top = 0
    stack[top++] = start
    while (top > 0) {
      const i = stack[--top] as number
      const found = tree.searchRadius(data, i * cols, eps)
      const neighbours = tree.results
      for (let f = 0; f < found; f++) {
        const j = neighbours[f] as number
        labels[j] = cluster
        tree.delete(j)
        if (core[j] === 1) stack[top++] = j
      }
    }
  }
  return { labels, clusters }
}

/**
 * Clusters with the labels of `dbscanAllPairs`, with neighbours found by a k-d tree. A row's
 * neighbour count stops once it reaches `minPts`, which is all the core test needs.
 */
export function dbscanExact(m: Matrix, options: DbscanOptions): DbscanResult {
  validate(m, options)
  const { eps, minPts } = options
  const tree = new KdTree(m)
  const core = Uint8Array.from({ length: m.rows }, (_, i) =>
    tree.countInRadius(m.data, i * m.cols, eps, minPts) >= minPts ? 1 : 0,
  )
  return { ...expandClusters(m, tree, eps, core), core }
}

/**
 * Returns each row's distance to its k-th nearest row, the row itself counted first (so k = 1
 * gives 0), found with a k-d tree. With k = minPts, a row is a core row exactly when this
 * distance is at most eps.
 */
export function kDistances(m: Matrix, k: number): Float64Array {
  if (!Number.isInteger(k) || k < 1 || k > m.rows) {
    throw new RangeError(`k must be an integer from 1 to ${m.rows}, got ${k}`)
  }
  assertFinite(m, 'k-distance input')
  const { rows, cols, data } = m
  if (k === 1) return new Float64Array(rows)
  const tree = new KdTree(m)
  return Float64Array.from({ length: rows }, (_, i) => tree.kthNearestDistance(data, k, i * cols))
}

/**
 * Returns the knee of an ascending curve: the point farthest below the straight line from its
 * first to its last point, with both axes scaled to [0, 1] (the Kneedle rule for a convex,
 * increasing curve). A straight or single-point curve returns its last point.
 */
export function kneePoint(sortedAscending: ArrayLike<number>): { index: number; value: number } {
  const n = sortedAscending.length
  if (n === 0) throw new RangeError('the curve has no points')
  const first = sortedAscending[0] as number
  const last = sortedAscending[n - 1] as number
  const span = last - first
  let index = n - 1
  let best = 0
  if (n > 1 && span > 0) {
    for (let i = 0; i < n; i++) {
      const gap = i / (n - 1) - ((sortedAscending[i] as number) - first) / span
      if (gap > best) {
        best = gap
        index = i
      }
    }
  }
  return { index, value: sortedAscending[index] as number }
}

export interface ScalableDbscanOptions {
  minPts: number
  /** Radius; by default the knee of the sample's sorted k-distances with k = minPts. */
  eps?: number
  /** Rows DBSCAN is fitted on; all rows when the matrix is smaller. */
  sampleSize: number
  seed: number
  /** Points of the k-distance curve to report. */
  curvePoints?: number
}

export interface ScalableDbscanResult extends DbscanResult {
  eps: number
  minPts: number
  /** Rows of the fitted sample. */
  sampleSize: number
  /** Share of all rows labelled noise. */
  noiseShare: number
  /**
   * The sample rows' k-distances in the full data (k = minPts) sorted ascending and taken at
   * `curvePoints` evenly spaced ranks, the smallest and the largest included. Empty when `eps`
   * was given, because the curve is then not computed.
   */
  kDistanceCurve: number[]
}

/** Returns `points` values of an ascending curve at evenly spaced ranks, both ends included. */
function curveSample(sorted: Float64Array, points: number): number[] {
  const n = sorted.length
  const count = Math.min(Math.max(2, points), n)
  return Array.from({ length: count }, (_, p) => {
    const i = count === 1 ? 0 : Math.round((p * (n - 1)) / (count - 1))
    return sorted[i] as number
  })
}

/**
 * Returns the knee of the sorted k-distances, or the first positive k-distance after it when
 * the knee is at 0 (more than minPts identical rows). Throws a RangeError when all are 0.
 */
function defaultEps(sorted: Float64Array, minPts: number): number {
  const knee = kneePoint(sorted)
  for (let i = knee.index; i < sorted.length; i++) {
    if ((sorted[i] as number) > 0) return sorted[i] as number
  }
  throw new RangeError(`every k-distance is 0 with minPts ${minPts}; pass eps or a larger minPts`)
}

/** Union-find over cluster indices, in which a merged set keeps its lowest index. */
class ClusterMerges {
  private readonly parent: Int32Array

  constructor(clusters: number) {
    this.parent = Int32Array.from({ length: clusters }, (_, c) => c)
  }

  find(cluster: number): number {
    const { parent } = this
    let c = cluster
    while (parent[c] !== c) {
      parent[c] = parent[parent[c] as number] as number
      c = parent[c] as number
    }
    return c
  }

  union(a: number, b: number): void {
    const rootA = this.find(a)
    const rootB = this.find(b)
    if (rootA !== rootB) this.parent[Math.max(rootA, rootB)] = Math.min(rootA, rootB)
  }

  /**
   * Renumbers labels in place from 0, in the order of each set's lowest index, and returns
   * the number of clusters.
   */
  renumber(labels: Int32Array): number {
    const renumbered = new Int32Array(this.parent.length).fill(-1)
    let clusters = 0
    for (let c = 0; c < this.parent.length; c++) if (this.find(c) === c) renumbered[c] = clusters++
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i] as number
      if (label >= 0) labels[i] = renumbered[this.find(label)] as number
    }
    return clusters
  }
}

/**
 * Returns a core test on all rows that caches its result in `known`, so each row is counted
 * once. `known` contains 1 for a core row, 0 for another row and -1 for a row not tested yet.
 */
function coreTest(m: Matrix, tree: KdTree, options: DbscanOptions, known: Int8Array) {
  return (row: number): boolean => {
    if (known[row] === -1) {
      const count = tree.countInRadius(m.data, row * m.cols, options.eps, options.minPts)
      known[row] = count >= options.minPts ? 1 : 0
    }
    return known[row] === 1
  }
}

/**
 * Labels each row outside the sample with the cluster of its nearest core row of the sample
 * when that row is within `eps`, else leaves it noise (-1). A row outside the sample within
 * `eps` of core rows of two or more clusters is merged with them when it is a core row,
 * because full DBSCAN links them through it. Of core rows at equal distance the first in
 * sample order wins.
 */
function assignToCores(
  m: Matrix,
  sample: Matrix,
  fit: { labels: Int32Array; core: Uint8Array },
  eps: number,
  inSample: Uint8Array,
  labels: Int32Array,
  merges: ClusterMerges,
  isCore: (row: number) => boolean,
): void {
  const { cols, data } = m
  const coreIndices: number[] = []
  for (let i = 0; i < sample.rows; i++) if (fit.core[i] === 1) coreIndices.push(i)
  // Without core rows every row outside the sample stays noise, as `labels` starts.
  if (coreIndices.length === 0) return
  const cores = selectRows(sample, coreIndices)
  const coreTree = new KdTree(cores)
  const coreCluster = Int32Array.from(coreIndices, (i) => fit.labels[i] as number)

  for (let i = 0; i < m.rows; i++) {
    if (inSample[i] === 1) continue
    const found = coreTree.searchRadius(data, i * cols, eps)
    if (found === 0) continue
    const neighbours = coreTree.results
    let nearest = -1
    let nearestSquared = Infinity
    let mixed = false
    const firstRoot = merges.find(coreCluster[neighbours[0] as number] as number)
    for (let f = 0; f < found; f++) {
      const c = neighbours[f] as number
      if (merges.find(coreCluster[c] as number) !== firstRoot) mixed = true
      const sum = squaredDistance(data, i * cols, cores.data, c * cols, cols)
      if (sum < nearestSquared || (sum === nearestSquared && c < nearest)) {
        nearestSquared = sum
        nearest = c
      }
    }
    labels[i] = coreCluster[nearest] as number
    if (mixed && isCore(i)) {
      for (let f = 0; f < found; f++) {
        merges.union(coreCluster[neighbours[f] as number] as number, labels[i] as number)
      }
    }
  }
}

/**
 * Labels each row still noise, in row order, with the cluster of its nearest labelled row
 * within `eps` that is a core row of the full data. When the noise row is itself a core row,
 * the clusters of all such rows are merged. This reaches rows near the edge of a cluster,
 * where the sample has no core row within `eps`, and a row labelled here can pass its cluster
 * on to later rows. Of rows at equal distance the lowest index wins.
 */
function attachNoiseRows(
  m: Matrix,
  tree: KdTree,
  eps: number,
  labels: Int32Array,
  merges: ClusterMerges,
  isCore: (row: number) => boolean,
): void {
  const { cols, data } = m
  for (let i = 0; i < m.rows; i++) {
    if (labels[i] !== -1) continue
    // The core tests below search the tree too, so the results are copied first. The count
    // comes first because a search can replace the `results` array.
    const found = tree.searchRadius(data, i * cols, eps)
    const neighbours = tree.results.slice(0, found)
    let nearest = -1
    let nearestSquared = Infinity
    let mixed = false
    for (const j of neighbours) {
      if (labels[j] === -1 || !isCore(j)) continue
      if (
        nearest !== -1 &&
        merges.find(labels[j] as number) !== merges.find(labels[nearest] as number)
      ) {
        mixed = true
      }
      const sum = squaredDistance(data, i * cols, data, j * cols, cols)
      if (sum < nearestSquared || (sum === nearestSquared && j < nearest)) {
        nearestSquared = sum
        nearest = j
      }
    }
    if (nearest === -1) continue
    labels[i] = labels[nearest] as number
    if (mixed && isCore(i)) {
      for (const j of neighbours) {
        if (labels[j] !== -1 && isCore(j)) merges.union(labels[j] as number, labels[i] as number)
      }
    }
  }
}

/**
 * Clusters a seeded sample of `sampleSize` rows with DBSCAN, then labels the other rows by
 * `assignToCores` and `attachNoiseRows`. A sample row is a core row when its count within
 * `eps` among all rows reaches `minPts`, so every core row of the sample is a core row of full
 * DBSCAN. The default eps is the knee of the sample rows' k-distances in the full data, with
 * k = minPts. With `sampleSize` at least the row count, this is exactly `dbscanExact` (and the
 * library). Throws a RangeError for invalid options, a non-finite entry, or k-distances that
 * are all 0 when eps is not given.
 *
 * The core rows of each cluster lie in one cluster of full DBSCAN, and a row labelled here is
 * not noise there. A border row near two clusters joins the one of its nearest core row.
 *
 * NOTE: clusters join only through core rows of the sample and the rows within `eps` of them.
 * So a cluster of full DBSCAN can split, or be missed when the sample has none of its core
 * rows, and noise is an upper bound of full DBSCAN's.
 */
export function fitDbscan(m: Matrix, options: ScalableDbscanOptions): ScalableDbscanResult {
  if (!Number.isInteger(options.sampleSize) || options.sampleSize < 1) {
    throw new RangeError(`sampleSize must be an integer >= 1, got ${options.sampleSize}`)
  }
  const { minPts } = options
  validate(m, { eps: options.eps ?? 1, minPts })
  const { cols, data } = m
  const indices = sampleIndices(m.rows, options.sampleSize, options.seed)
  // Sorted indices keep the sample in the matrix's row order, so a full sample is the matrix.
  indices.sort()
  const tree = new KdTree(m)

  let eps = options.eps
  let kDistanceCurve: number[] = []
  if (eps === undefined) {
    const k = Math.min(minPts, m.rows)
    const sorted = Float64Array.from(indices, (row) =>
      tree.kthNearestDistance(data, k, row * cols),
    ).sort()
    eps = defaultEps(sorted, k)
    kDistanceCurve = curveSample(sorted, options.curvePoints ?? 50)
  }
  const radius = eps
  const sampleCore = Uint8Array.from(indices, (row) =>
    tree.countInRadius(data, row * cols, radius, minPts) >= minPts ? 1 : 0,
  )
  const full = indices.length === m.rows
  const sample = full ? m : selectRows(m, indices)
  const fit = {
    ...expandClusters(sample, full ? tree : new KdTree(sample), eps, sampleCore),
    core: sampleCore,
  }

  const labels = new Int32Array(m.rows).fill(-1)
  const core = new Uint8Array(m.rows)
  const inSample = new Uint8Array(m.rows)
  indices.forEach((row, s) => {
    inSample[row] = 1
    labels[row] = fit.labels[s] as number
    core[row] = fit.core[s] as number
  })
  let clusters = fit.clusters
  if (!full) {
    const known = new Int8Array(m.rows).fill(-1)
    indices.forEach((row, s) => (known[row] = sampleCore[s] as number))
    const isCore = coreTest(m, tree, { eps, minPts }, known)
    const merges = new ClusterMerges(fit.clusters)
    assignToCores(m, sample, fit, eps, inSample, labels, merges, isCore)
    attachNoiseRows(m, tree, eps, labels, merges, isCore)
    clusters = merges.renumber(labels)
  }
  const noise = labels.reduce((count, label) => count + (label === -1 ? 1 : 0), 0)
  return {
    labels,
    clusters,
    core,
    eps,
    minPts,
    sampleSize: sample.rows,
    noiseShare: noise / m.rows,
    kDistanceCurve,
  }
}
