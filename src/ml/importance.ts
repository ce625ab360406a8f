/**
 * Explanations of a binary classifier. Global permutation importance and per-row reasons by
 * substituting one feature at a time with a reference value work for any model given as a
 * batch predictor. Per-row reasons can also come from additive per-feature contributions,
 * such as a forest's path contributions.
 */
import { createMatrix, type Matrix } from './matrix.ts'
import { rocAuc } from './metrics.ts'
import { createRng } from './random.ts'

/** Returns a score for every row of `x` that grows with P(y = 1), such as the probability. */
export type BatchPredictor = (x: Matrix) => Float64Array

export interface PermutationOptions {
  seed: number
  /** Shuffles per feature, averaged. Default 3. */
  repeats?: number
}

/** Permutation importance per feature, in the column order of the input. */
export interface PermutationImportance {
  /** Mean drop in ROC AUC over the repeats. */
  mean: Float64Array
  /** Population standard deviation of the drop over the repeats. */
  std: Float64Array
}

/**
 * Computes each feature's permutation importance: the ROC AUC of `predict` on `x` minus its
 * ROC AUC after the feature's column is shuffled, over `repeats` seeded shuffles, as
 * scikit-learn's permutation_importance with scoring='roc_auc' reports it. A feature the
 * model ignores gets exactly 0. Throws a RangeError as `rocAuc` does.
 */
export function permutationImportance(
  predict: BatchPredictor,
  x: Matrix,
  y: Uint8Array,
  options: PermutationOptions,
): PermutationImportance {
  const repeats = options.repeats ?? 3
  if (!Number.isInteger(repeats) || repeats < 1) {
    throw new RangeError(`repeats must be an integer >= 1, got ${repeats}`)
  }
  const baseline = rocAuc(y, predict(x))
  const rng = createRng(options.seed)
  const mean = new Float64Array(x.cols)
  const std = new Float64Array(x.cols)
  const shuffled = createMatrix(x.rows, x.cols)
  const drops = new Float64Array(repeats)
  for (let j = 0; j < x.cols; j++) {
    for (let r = 0; r < repeats; r++) {
      shuffled.data.set(x.data)
      const stream = rng.fork(j * repeats + r)
      // Fisher-Yates over column j only.
      for (let i = x.rows - 1; i > 0; i--) {
        const k = stream.int(i + 1)
        const a = i * x.cols + j
        const b = k * x.cols + j
        const swap = shuffled.data[a] as number
        shuffled.data[a] = shuffled.data[b] as number
        shuffled.data[b] = swap
      }
      drops[r] = baseline - rocAuc(y, predict(shuffled))
    }
    const average = drops.reduce((sum, drop) => sum + drop, 0) / repeats
    mean[j] = average
    std[j] = Math.sqrt(drops.reduce((sum, drop) => sum + (drop - average) ** 2, 0) / repeats)
  }
  return { mean, std }
}

/** One feature's contribution to one row's probability. */
export interface Reason {
  feature: string
  /** The row's value of the feature. */
  value: number
  /**
   * Probability of the row minus its probability without this feature's part: with the feature
   * at its reference value (substitution), or with its contribution taken off the score
   * (contributions).
   */
  effect: number
}

/** Rows explained per predictor call, so the substituted copies stay a few megabytes. */
const ROWS_PER_CHUNK = 256

export interface SubstitutionOptions {
  /** Reasons per row at most. Default 3. */
  top?: number
  /** Column indices to try; default every column. Fewer columns cost proportionally less. */
  candidates?: readonly number[]
  /**
   * Maps the predictor's scores to probabilities, such as a calibration. Effects are then
   * differences of probabilities, and ties between them are broken by the score difference.
   */
  calibrate?: (scores: Float64Array) => Float64Array
}

interface ScoredReason extends Reason {
  scoreChange: number
}

/**
 * Returns up to `top` reasons per row: the features whose substitution by `reference` (for
 * example the training medians) changes the row's probability most, by absolute effect,
 * largest first. Features at their reference value, or whose substitution leaves the
 * probability unchanged, are never reasons. `scores` are the rows' own predictor outputs,
 * which the caller has already. The substituted rows go to `predict` in batches.
 */
export function substitutionReasons(
  predict: BatchPredictor,
  x: Matrix,
  scores: Float64Array,
  reference: ArrayLike<number>,
  featureNames: string[],
  options: SubstitutionOptions = {},
): Reason[][] {
  if (reference.length !== x.cols || featureNames.length !== x.cols) {
    throw new RangeError(
      `reference has ${reference.length} values and featureNames ${featureNames.length}, expected ${x.cols}`,
    )
  }
  if (scores.length !== x.rows) {
    throw new RangeError(`scores has ${scores.length} values, expected ${x.rows}`)
  }
  const top = options.top ?? 3
  const candidates = options.candidates ?? Array.from({ length: x.cols }, (_, j) => j)
  const calibrate = options.calibrate ?? ((values: Float64Array) => values)
  const probabilities = calibrate(scores)

  const reasons: Reason[][] = []
  for (let start = 0; start < x.rows; start += ROWS_PER_CHUNK) {
    const end = Math.min(x.rows, start + ROWS_PER_CHUNK)
    // (row, feature) of each substituted copy.
    const cells: [number, number][] = []
    for (let i = start; i < end; i++) {
      for (const j of candidates) {
        if (x.data[i * x.cols + j] !== reference[j]) cells.push([i, j])
      }
    }
    const copies = createMatrix(cells.length, x.cols)
    cells.forEach(([i, j], k) => {
      copies.data.set(x.data.subarray(i * x.cols, (i + 1) * x.cols), k * x.cols)
      copies.data[k * x.cols + j] = reference[j] as number
    })
    const substituted = cells.length > 0 ? predict(copies) : new Float64Array(0)
    const substitutedProbabilities = calibrate(substituted)

    const perRow: ScoredReason[][] = Array.from({ length: end - start }, () => [])
    cells.forEach(([i, j], k) => {
      const effect = (probabilities[i] as number) - (substitutedProbabilities[k] as number)
      if (effect === 0) return
      perRow[i - start]!.push({
        feature: featureNames[j] as string,
        value: x.data[i * x.cols + j] as number,
        effect,
        scoreChange: Math.abs((scores[i] as number) - (substituted[k] as number)),
      })
    })
    for (const row of perRow) reasons.push(topReasons(row, top))
  }
  return reasons
}

/** Orders a row's reasons by absolute effect, then score change, and keeps the first `top`. */
function topReasons(row: ScoredReason[], top: number): Reason[] {
  row.sort((a, b) => Math.abs(b.effect) - Math.abs(a.effect) || b.scoreChange - a.scoreChange)
  return row.slice(0, top).map(({ feature, value, effect }) => ({ feature, value, effect }))
}

export interface ContributionOptions {
  /** Reasons per row at most. Default 3. */
  top?: number
  /** Maps scores to probabilities, such as a calibration; default the identity. */
  calibrate?: (scores: Float64Array) => Float64Array
}

/**
 * Returns up to `top` reasons per row from additive contributions (rows x features, in score
 * units), which sum with a bias to `scores`. Each feature's effect is the row's probability
 * minus the probability of its score less that feature's contribution, so no model call is
 * needed. Features with a zero contribution or a zero effect are never reasons. The order and
 * the tie rule are those of `substitutionReasons`.
 */
export function contributionReasons(
  contributions: Matrix,
  x: Matrix,
  scores: Float64Array,
  featureNames: string[],
  options: ContributionOptions = {},
): Reason[][] {
  if (contributions.rows !== x.rows || contributions.cols !== x.cols) {
    throw new RangeError(
      `contributions are ${contributions.rows} x ${contributions.cols}, expected ${x.rows} x ${x.cols}`,
    )
  }
  if (featureNames.length !== x.cols || scores.length !== x.rows) {
    throw new RangeError(
      `featureNames has ${featureNames.length} names and scores ${scores.length} values, expected ${x.cols} and ${x.rows}`,
    )
  }
  const top = options.top ?? 3
  const calibrate = options.calibrate ?? ((values: Float64Array) => values)
  const probabilities = calibrate(scores)
  const { data } = contributions

  // Every (row, feature) with a nonzero contribution, and its score without that contribution,
  // in typed arrays: this runs on every scored contact, and an object per cell fed the
  // garbage collector.
  let nonzero = 0
  for (let k = 0; k < data.length; k++) if (data[k] !== 0) nonzero++
  const cells = new Uint32Array(nonzero)
  const without = new Float64Array(nonzero)
  for (let k = 0, c = 0; k < data.length; k++) {
    const contribution = data[k] as number
    if (contribution === 0) continue
    cells[c] = k
    without[c] = (scores[Math.floor(k / x.cols)] as number) - contribution
    c++
  }
  const withoutProbabilities = calibrate(without)

  const reasons: Reason[][] = Array.from({ length: x.rows }, () => [])
  const best = new TopCells(top)
  // Cells are in row order, and within a row in feature order.
  let c = 0
  while (c < nonzero) {
    const i = Math.floor((cells[c] as number) / x.cols)
    best.clear()
    for (; c < nonzero && Math.floor((cells[c] as number) / x.cols) === i; c++) {
      const effect = (probabilities[i] as number) - (withoutProbabilities[c] as number)
      if (effect !== 0)
        best.offer(cells[c] as number, effect, Math.abs(data[cells[c] as number] as number))
    }
    reasons[i] = best.cells().map((k, rank) => ({
      feature: featureNames[k - i * x.cols] as string,
      value: x.data[k] as number,
      effect: best.effect(rank),
    }))
  }
  return reasons
}

/**
 * The `size` best cells offered, by absolute effect, then score change, then the order
 * offered, as `topReasons` orders them, kept in a fixed array.
 */
class TopCells {
  private readonly cellIds: Uint32Array
  private readonly effects: Float64Array
  private readonly changes: Float64Array
  private count = 0

  constructor(private readonly size: number) {
    this.cellIds = new Uint32Array(size)
    this.effects = new Float64Array(size)
    this.changes = new Float64Array(size)
  }

  clear(): void {
    this.count = 0
  }

  offer(cell: number, effect: number, change: number): void {
    // Position after every kept cell that ranks at least as high, so that earlier offers win ties.
    let at = this.count
    while (
      at > 0 &&
      ranksAbove(effect, change, this.effects[at - 1] as number, this.changes[at - 1] as number)
    ) {
      at--
    }
    if (at >= this.size) return
    const last = Math.min(this.count, this.size - 1)
    for (let m = last; m > at; m--) {
      this.cellIds[m] = this.cellIds[m - 1] as number
      this.effects[m] = this.effects[m - 1] as number
      this.changes[m] = this.changes[m - 1] as number
    }
    this.cellIds[at] = cell
    this.effects[at] = effect
    this.changes[at] = change
    this.count = Math.min(this.count + 1, this.size)
  }

  cells(): number[] {
    return Array.from(this.cellIds.subarray(0, this.count))
  }

  effect(rank: number): number {
    return this.effects[rank] as number
  }
}

/** True when a cell with (effect, change) ranks strictly above one with (otherEffect, otherChange). */
function ranksAbove(
  effect: number,
  change: number,
  otherEffect: number,
  otherChange: number,
): boolean {
  const size = Math.abs(effect)
  const otherSize = Math.abs(otherEffect)
  return size > otherSize || (size === otherSize && change > otherChange)
}

/** Computes each column's median (the mean of the middle two for an even row count). */
export function columnMedians(x: Matrix): Float64Array {
  if (x.rows === 0) throw new RangeError('cannot compute medians of a matrix without rows')
  const medians = new Float64Array(x.cols)
  const column = new Float64Array(x.rows)
  for (let j = 0; j < x.cols; j++) {
    for (let i = 0; i < x.rows; i++) column[i] = x.data[i * x.cols + j] as number
    column.sort()
    const middle = x.rows >> 1
    medians[j] =
      x.rows % 2 === 1
        ? (column[middle] as number)
        : ((column[middle - 1] as number) + (column[middle] as number)) / 2
  }
  return medians
}
