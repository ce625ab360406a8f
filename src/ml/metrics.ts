/**
 * Evaluation metrics for the churn classifier (ROC AUC, average precision, Brier score), the
 * persona clustering (adjusted Rand index) and feature drift (population stability index).
 * Invalid input throws a RangeError that names the problem.
 */

/** Share that replaces an empty bin in the PSI sum, so ln(current / reference) stays finite. */
export const PSI_EPSILON = 1e-4

function assertSameLength(a: ArrayLike<number>, b: ArrayLike<number>, names: string): void {
  if (a.length !== b.length) {
    throw new RangeError(`${names} must have the same length, got ${a.length} and ${b.length}`)
  }
  if (a.length === 0) throw new RangeError(`${names} must not be empty`)
}

function assertFiniteValues(values: ArrayLike<number>, name: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new RangeError(`${name} contains ${values[i]} at index ${i}`)
    }
  }
}

// Number of positive labels, after checking that every label is 0 or 1.
function countPositives(labels: ArrayLike<number>): number {
  let positives = 0
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]
    if (label !== 0 && label !== 1) {
      throw new RangeError(`labels must be 0 or 1, got ${label} at index ${i}`)
    }
    positives += label
  }
  return positives
}

function validateScored(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  name: string,
): number {
  assertSameLength(labels, scores, `labels and ${name}`)
  assertFiniteValues(scores, name)
  return countPositives(labels)
}

function sortedIndices(values: ArrayLike<number>, descending: boolean): Uint32Array {
  const order = Uint32Array.from({ length: values.length }, (_, i) => i)
  const sign = descending ? -1 : 1
  return order.sort((a, b) => sign * ((values[a] as number) - (values[b] as number)))
}

/**
 * Computes the area under the ROC curve: the Mann-Whitney U statistic of the positive scores
 * divided by positives * negatives, with tied scores given their mid-rank. Labels must be
 * 0 or 1. Throws a RangeError for empty or unequal inputs, a non-finite score, another
 * label value, or labels of only one class.
 */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const positives = validateScored(labels, scores, 'scores')
  const negatives = labels.length - positives
  if (positives === 0 || negatives === 0) {
    throw new RangeError(
      `ROC AUC needs both classes, got ${positives} positive and ${negatives} negative labels`,
    )
  }
  const order = sortedIndices(scores, false)
  let positiveRankSum = 0
  for (let start = 0; start < order.length;) {
    let end = start + 1
    const score = scores[order[start] as number]
    while (end < order.length && scores[order[end] as number] === score) end++
    // Ranks start + 1 .. end share the mean rank of the tie group.
    const midRank = (start + 1 + end) / 2
    for (let k = start; k < end; k++) {
      if (labels[order[k] as number] === 1) positiveRankSum += midRank
    }
    start = end
  }
  const u = positiveRankSum - (positives * (positives + 1)) / 2
  return u / (positives * negatives)
}

/**
 * Computes average precision as scikit-learn's average_precision_score does: the sum over
 * distinct score thresholds, from high to low, of (recall gain) * precision. Throws a
 * RangeError for empty or unequal inputs, a non-finite score, a label other than 0 or 1, or
 * no positive label (recall is undefined then).
 */
export function prAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const positives = validateScored(labels, scores, 'scores')
  if (positives === 0) throw new RangeError('average precision needs at least one positive label')
  const order = sortedIndices(scores, true)
  let truePositives = 0
  let previousRecall = 0
  let precisionSum = 0
  for (let start = 0; start < order.length;) {
    let end = start
    while (end < order.length && scores[order[end] as number] === scores[order[start] as number]) {
      truePositives += labels[order[end] as number] as number
      end++
    }
    const recall = truePositives / positives
    precisionSum += (recall - previousRecall) * (truePositives / end)
    previousRecall = recall
    start = end
  }
  return precisionSum
}

/**
 * Computes the mean squared difference between probabilities and 0/1 labels. Throws a
 * RangeError for empty or unequal inputs, a label other than 0 or 1, or a probability
 * outside [0, 1].
 */
export function brierScore(labels: ArrayLike<number>, probabilities: ArrayLike<number>): number {
  assertSameLength(labels, probabilities, 'labels and probabilities')
  countPositives(labels)
  let sum = 0
  for (let i = 0; i < labels.length; i++) {
    const p = probabilities[i] as number
    if (!(p >= 0 && p <= 1)) {
      throw new RangeError(`probabilities must be in [0, 1], got ${p} at index ${i}`)
    }
    sum += (p - (labels[i] as number)) ** 2
  }
  return sum / labels.length
}

const pairs = (count: number): number => (count * (count - 1)) / 2

// Maps label values to ids 0..count-1 in order of first appearance.
function denseIds(labels: ArrayLike<number>): { ids: Int32Array; count: number } {
  const idByLabel = new Map<number, number>()
  const ids = new Int32Array(labels.length)
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] as number
    let id = idByLabel.get(label)
    if (id === undefined) {
      id = idByLabel.size
      idByLabel.set(label, id)
    }
    ids[i] = id
  }
  return { ids, count: idByLabel.size }
}

function sumPairs(counts: Iterable<number>): number {
  let sum = 0
  for (const count of counts) sum += pairs(count)
  return sum
}

/**
 * Computes the adjusted Rand index of two labelings (Hubert and Arabie, 1985) from their
 * contingency table. Label values are compared as numbers and need not be contiguous.
 * Returns 1 for identical partitions, also in the degenerate cases where the index is 0 / 0
 * (fewer than two items, one cluster each, or all singletons), as scikit-learn 1.2's
 * adjusted_rand_score does. Throws a RangeError when the lengths differ.
 */
export function adjustedRandIndex(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new RangeError(`labelings must have the same length, got ${a.length} and ${b.length}`)
  }
  const n = a.length
  const rows = denseIds(a)
  const columns = denseIds(b)
  const rowCounts = new Float64Array(rows.count)
  const columnCounts = new Float64Array(columns.count)
  const cellCounts = new Map<number, number>()
  for (let i = 0; i < n; i++) {
    const row = rows.ids[i] as number
    const column = columns.ids[i] as number
    rowCounts[row]! += 1
    columnCounts[column]! += 1
    const cell = row * columns.count + column
    cellCounts.set(cell, (cellCounts.get(cell) ?? 0) + 1)
  }
  const cellPairs = sumPairs(cellCounts.values())
  const rowPairs = sumPairs(rowCounts)
  const columnPairs = sumPairs(columnCounts)
  const totalPairs = pairs(n)
  // The denominator is 0 only when both labelings are one cluster or both are all singletons.
  // The pair counts are exact integers, so this test does not depend on rounding.
  const trivial = rowPairs === columnPairs && (rowPairs === 0 || rowPairs === totalPairs)
  if (trivial) return 1
  const expected = (rowPairs * columnPairs) / totalPairs
  const maximum = (rowPairs + columnPairs) / 2
  return (cellPairs - expected) / (maximum - expected)
}

export interface PsiOptions {
  /** Number of quantile bins of the reference, default 10. Tied quantiles merge bins. */
  bins?: number
}

export interface PsiResult {
  psi: number
  /**
   * Inner bin edges. Bin b contains x with edges[b - 1] < x <= edges[b]. The first and last
   * bins are unbounded.
   */
  edges: number[]
  /** Unsmoothed share of the reference per bin. Plain arrays, so results serialize to JSON. */
  referenceShares: number[]
  currentShares: number[]
}

// Quantile with linear interpolation between order statistics (numpy's default method).
function quantile(sorted: Float64Array, q: number): number {
  const position = (sorted.length - 1) * q
  const below = Math.floor(position)
  const low = sorted[below] as number
  const high = sorted[Math.min(below + 1, sorted.length - 1)] as number
  return low + (position - below) * (high - low)
}

// Number of edges below `value`, which is its bin index.
function binIndex(edges: number[], value: number): number {
  let low = 0
  let high = edges.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((edges[middle] as number) < value) low = middle + 1
    else high = middle
  }
  return low
}

function binShares(values: ArrayLike<number>, edges: number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0)
  for (let i = 0; i < values.length; i++) counts[binIndex(edges, values[i] as number)]! += 1
  return counts.map((count) => count / values.length)
}

function quantileEdges(reference: ArrayLike<number>, bins: number): number[] {
  const sorted = Float64Array.from(reference).sort()
  const edges: number[] = []
  for (let b = 1; b < bins; b++) {
    const edge = quantile(sorted, b / bins)
    if (edges.length === 0 || edge > (edges[edges.length - 1] as number)) edges.push(edge)
  }
  return edges
}

/**
 * Computes the population stability index sum((c - r) * ln(c / r)) over bins cut at the
 * reference's quantiles, with empty-bin shares raised to PSI_EPSILON. A constant reference
 * gives two bins (at or below the constant, above it), so equal constant columns give 0.
 * Throws a RangeError for an empty input, a non-finite value or `bins` not an integer >= 1.
 */
export function populationStabilityIndex(
  reference: ArrayLike<number>,
  current: ArrayLike<number>,
  options: PsiOptions = {},
): PsiResult {
  const bins = options.bins ?? 10
  if (!Number.isInteger(bins) || bins < 1) {
    throw new RangeError(`bins must be an integer >= 1, got ${bins}`)
  }
  if (reference.length === 0 || current.length === 0) {
    const sizes = `${reference.length} and ${current.length}`
    throw new RangeError(`reference and current must not be empty, got ${sizes} values`)
  }
  assertFiniteValues(reference, 'reference')
  assertFiniteValues(current, 'current')
  const edges = quantileEdges(reference, bins)
  const referenceShares = binShares(reference, edges)
  const currentShares = binShares(current, edges)
  let psi = 0
  for (let b = 0; b < referenceShares.length; b++) {
    const r = Math.max(referenceShares[b] as number, PSI_EPSILON)
    const c = Math.max(currentShares[b] as number, PSI_EPSILON)
    psi += (c - r) * Math.log(c / r)
  }
  return { psi, edges, referenceShares, currentShares }
}

/**
 * Computes the mean binary cross-entropy of probabilities against 0/1 labels, with each
 * probability clipped to [eps, 1 - eps] as scikit-learn 1.2's log_loss does (eps 1e-15).
 * Throws a RangeError for empty or unequal inputs, a label other than 0 or 1, or a probability
 * outside [0, 1].
 */
export function logLoss(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  eps = 1e-15,
): number {
  assertSameLength(labels, probabilities, 'labels and probabilities')
  countPositives(labels)
  let sum = 0
  for (let i = 0; i < labels.length; i++) {
    const p = probabilities[i] as number
    if (!(p >= 0 && p <= 1)) {
      throw new RangeError(`probabilities must be in [0, 1], got ${p} at index ${i}`)
    }
    const clipped = Math.min(Math.max(p, eps), 1 - eps)
    sum -= labels[i] === 1 ? Math.log(clipped) : Math.log(1 - clipped)
  }
  return sum / labels.length
}

/** One bin of a reliability curve. */
export interface ReliabilityBin {
  /** Bin bounds on the predicted probability: (lower, upper], the first bin also contains 0. */
  lower: number
  upper: number
  /** Rows whose probability falls in the bin. */
  count: number
  /** Mean predicted probability of those rows, or null for an empty bin. */
  meanPredicted: number | null
  /** Share of those rows with label 1, or null for an empty bin. */
  observedRate: number | null
}

/**
 * Computes a reliability curve: the probabilities cut into `bins` equal-width bins on [0, 1],
 * with the mean prediction, the observed positive rate and the row count of each. The edges
 * and the side an edge value falls on are those of scikit-learn 1.2's calibration_curve with
 * strategy='uniform', which drops empty bins where this function keeps them with null means.
 * Throws a RangeError as `brierScore` does, or for `bins` not an integer >= 1.
 */
export function reliabilityCurve(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  bins = 10,
): ReliabilityBin[] {
  if (!Number.isInteger(bins) || bins < 1) {
    throw new RangeError(`bins must be an integer >= 1, got ${bins}`)
  }
  brierScore(labels, probabilities)
  const counts = new Float64Array(bins)
  const predictedSums = new Float64Array(bins)
  const positives = new Float64Array(bins)
  // Edges as numpy.linspace(0, 1, bins + 1) computes them: i * (1 / bins).
  const step = 1 / bins
  const innerEdges = Array.from({ length: bins - 1 }, (_, b) => (b + 1) * step)
  for (let i = 0; i < labels.length; i++) {
    const p = probabilities[i] as number
    const b = binIndex(innerEdges, p)
    counts[b]! += 1
    predictedSums[b]! += p
    positives[b]! += labels[i] as number
  }
  return Array.from({ length: bins }, (_, b) => {
    const count = counts[b] as number
    return {
      lower: b * step,
      upper: b + 1 === bins ? 1 : (b + 1) * step,
      count,
      meanPredicted: count > 0 ? (predictedSums[b] as number) / count : null,
      observedRate: count > 0 ? (positives[b] as number) / count : null,
    }
  })
}
