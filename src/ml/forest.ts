/**
 * Random forest classifier for binary labels over quantile-binned features (histogram
 * splits). It replaces ml-random-forest 2, which was too slow beyond a few thousand rows and
 * draws its candidate features once per tree instead of at every split.
 */
import { binMatrix, MAX_BINS } from './forest-bins.ts'
import { HistogramForest, type ForestModel, type ResolvedForestOptions } from './forest-model.ts'
import { growTree, type TreeArrays } from './forest-tree.ts'
import { assertFinite, type Matrix } from './matrix.ts'
import { createRng } from './random.ts'

export { loadForest } from './forest-json.ts'
export type { ForestJson, ForestModel, ResolvedForestOptions, TreeJson } from './forest-model.ts'

export interface ForestOptions {
  /** Default 100. */
  nTrees?: number
  /** Maximum edges from the root to a leaf. Default 12. */
  maxDepth?: number
  /** Minimum distinct training rows per leaf, counting bootstrap repeats once. Default 5. */
  minSamplesLeaf?: number
  /** Candidate features per split: 'sqrt' (floor of the square root, the default) or a count. */
  maxFeatures?: 'sqrt' | number
  /** Maximum quantile bins per feature, from 2 to 64. Default 32. */
  bins?: number
  seed: number
  /**
   * 'balanced' weights class c by rows / (2 * rows of class c), as scikit-learn's
   * class_weight='balanced' does. Leaf fractions and probabilities are then weighted too.
   */
  classWeight?: 'balanced'
}

function assertInteger(value: number, min: number, max: number, name: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`)
  }
}

function resolveOptions(options: ForestOptions, nFeatures: number): ResolvedForestOptions {
  const maxFeatures = options.maxFeatures ?? 'sqrt'
  const resolved: ResolvedForestOptions = {
    nTrees: options.nTrees ?? 100,
    maxDepth: options.maxDepth ?? 12,
    minSamplesLeaf: options.minSamplesLeaf ?? 5,
    maxFeatures:
      maxFeatures === 'sqrt' ? Math.max(1, Math.floor(Math.sqrt(nFeatures))) : maxFeatures,
    bins: options.bins ?? 32,
    seed: options.seed,
    classWeight: options.classWeight ?? null,
  }
  const unlimited = Number.MAX_SAFE_INTEGER
  assertInteger(resolved.nTrees, 1, unlimited, 'nTrees')
  assertInteger(resolved.maxDepth, 1, unlimited, 'maxDepth')
  assertInteger(resolved.minSamplesLeaf, 1, unlimited, 'minSamplesLeaf')
  assertInteger(resolved.maxFeatures, 1, nFeatures, 'maxFeatures')
  assertInteger(resolved.bins, 2, MAX_BINS, 'bins')
  if (!Number.isFinite(resolved.seed)) {
    throw new RangeError(`seed must be a finite number, got ${resolved.seed}`)
  }
  return resolved
}

// Counts per class, after checking that every label is 0 or 1 and both occur.
function countClasses(y: Uint8Array, rows: number): [number, number] {
  if (y.length !== rows) throw new RangeError(`y has ${y.length} labels, but x has ${rows} rows`)
  let positives = 0
  for (let i = 0; i < y.length; i++) {
    const label = y[i] as number
    if (label > 1) throw new RangeError(`y must contain only 0 and 1, got ${label} at index ${i}`)
    positives += label
  }
  if (positives === 0 || positives === y.length) {
    throw new RangeError(
      `y must contain both classes 0 and 1, got ${positives} of ${y.length} positive`,
    )
  }
  return [y.length - positives, positives]
}

/**
 * Trains a random forest on the rows of `x` and binary labels `y`. Each tree is grown on a
 * seeded bootstrap sample, so the same seed and input give the same forest. `onProgress` is
 * called after each tree. Throws a RangeError for a non-finite entry, labels other than 0
 * and 1, a single class, a length mismatch or an invalid option.
 */
export function trainForest(
  x: Matrix,
  y: Uint8Array,
  options: ForestOptions,
  onProgress?: (treesDone: number, total: number) => void,
): ForestModel {
  if (x.cols === 0) throw new RangeError('x must have at least one column')
  const resolved = resolveOptions(options, x.cols)
  const [negatives, positives] = countClasses(y, x.rows)
  assertFinite(x, 'forest input')
  const classWeight: [number, number] =
    resolved.classWeight === 'balanced'
      ? [y.length / (2 * negatives), y.length / (2 * positives)]
      : [1, 1]
  const binned = binMatrix(x, resolved.bins)
  const treeParams = { ...resolved, classWeight }
  const rng = createRng(resolved.seed)
  const trees: TreeArrays[] = []
  const importance = new Float64Array(x.cols)
  let treesWithSplits = 0
  for (let t = 0; t < resolved.nTrees; t++) {
    const grown = growTree(binned, y, treeParams, rng.fork(t))
    trees.push(grown.tree)
    if (grown.tree.feature.length > 1) treesWithSplits++
    grown.importance.forEach((value, j) => (importance[j]! += value))
    onProgress?.(t + 1, resolved.nTrees)
  }
  // Mean over trees that split at least once, as scikit-learn averages feature_importances_.
  if (treesWithSplits > 0) {
    importance.forEach((value, j) => (importance[j] = value / treesWithSplits))
  }
  return new HistogramForest(x.cols, trees, importance, resolved)
}
