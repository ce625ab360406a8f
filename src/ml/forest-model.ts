/** The trained histogram forest: prediction, feature importance and its JSON form. */
import type { TreeArrays } from './forest-tree.ts'
import { assertFinite, type Matrix } from './matrix.ts'

/** Training options after defaults, stored with the model to record how it was trained. */
export interface ResolvedForestOptions {
  nTrees: number
  maxDepth: number
  minSamplesLeaf: number
  /** Candidate features per split, as a count. */
  maxFeatures: number
  bins: number
  seed: number
  classWeight: 'balanced' | null
}

/** One tree in JSON: parallel arrays indexed by node id, laid out as in `TreeArrays`. */
export interface TreeJson {
  feature: number[]
  threshold: number[]
  left: number[]
  right: number[]
  value: number[]
}

export interface ForestJson {
  kind: 'histogram-forest'
  formatVersion: 1
  nFeatures: number
  options: ResolvedForestOptions
  /** Mean impurity decrease per feature, normalized to sum to 1. */
  featureImportance: number[]
  trees: TreeJson[]
}

/** Path attribution of a forest's predictions, from ForestModel.pathContributions. */
export interface PathContributions {
  /** Rows x nFeatures contributions. */
  contributions: Matrix
  /** Mean root value over trees. */
  bias: number
  /** predictProba of each row. */
  probabilities: Float64Array
}

export interface ForestModel {
  readonly nFeatures: number
  readonly nTrees: number
  /**
   * Returns P(y = 1) per row: the mean over trees of the class-1 fraction in the leaf the row
   * reaches. With class weights the fractions are weighted. Throws a RangeError when the
   * column count differs from training or an entry is not finite.
   */
  predictProba(x: Matrix): Float64Array
  /**
   * Decomposes each row's predictProba into a bias plus one contribution per feature. Along
   * the row's path in each tree, the change in node value at a split is credited to the split's
   * feature, and both are averaged over trees. This is the path attribution of Saabas, as the
   * Python package treeinterpreter computes it. Returns the rows x nFeatures contributions, the
   * bias, which is the mean root value, and each row's predictProba value from the same pass,
   * equal to predictProba's bit for bit. For every row, the bias plus its contributions equals
   * its probability to rounding.
   */
  pathContributions(x: Matrix): PathContributions
  /** Returns a copy of the mean impurity decrease per feature, normalized to sum to 1. */
  featureImportance(): Float64Array
  toJSON(): ForestJson
}

// Adds each row's leaf value to `sums`. Looping over rows inside one tree keeps that tree's
// arrays in cache. In a trial with 20,000 rows and 100 trees it was about four times faster
// than looping over the trees for each row.
function addLeafValues(tree: TreeArrays, x: Matrix, sums: Float64Array): void {
  const { feature, threshold, left, right, value } = tree
  const { cols, data } = x
  for (let i = 0; i < x.rows; i++) {
    const offset = i * cols
    let node = 0
    let split = feature[0] as number
    while (split >= 0) {
      const goLeft = (data[offset + split] as number) <= (threshold[node] as number)
      node = goLeft ? (left[node] as number) : (right[node] as number)
      split = feature[node] as number
    }
    sums[i]! += value[node] as number
  }
}

// Adds one tree's path contributions of each row to `sums` (rows x cols), and each row's leaf
// value to `leafSums` as addLeafValues does.
function addPathContributions(
  tree: TreeArrays,
  x: Matrix,
  sums: Float64Array,
  leafSums: Float64Array,
): void {
  const { feature, threshold, left, right, value } = tree
  const { cols, data } = x
  for (let i = 0; i < x.rows; i++) {
    const offset = i * cols
    let node = 0
    let split = feature[0] as number
    while (split >= 0) {
      const goLeft = (data[offset + split] as number) <= (threshold[node] as number)
      const child = goLeft ? (left[node] as number) : (right[node] as number)
      sums[offset + split]! += (value[child] as number) - (value[node] as number)
      node = child
      split = feature[node] as number
    }
    leafSums[i]! += value[node] as number
  }
}

function treeToJson(tree: TreeArrays): TreeJson {
  return {
    feature: Array.from(tree.feature),
    threshold: Array.from(tree.threshold),
    left: Array.from(tree.left),
    right: Array.from(tree.right),
    value: Array.from(tree.value),
  }
}

export class HistogramForest implements ForestModel {
  constructor(
    readonly nFeatures: number,
    private readonly trees: TreeArrays[],
    private readonly importance: Float64Array,
    private readonly options: ResolvedForestOptions,
  ) {}

  get nTrees(): number {
    return this.trees.length
  }

  private checkInput(x: Matrix): void {
    if (x.cols !== this.nFeatures) {
      throw new RangeError(
        `matrix has ${x.cols} columns, but the forest was trained on ${this.nFeatures}`,
      )
    }
    assertFinite(x, 'forest input')
  }

  predictProba(x: Matrix): Float64Array {
    this.checkInput(x)
    const probabilities = new Float64Array(x.rows)
    for (const tree of this.trees) addLeafValues(tree, x, probabilities)
    for (let i = 0; i < x.rows; i++) {
      probabilities[i] = (probabilities[i] as number) / this.trees.length
    }
    return probabilities
  }

  pathContributions(x: Matrix): PathContributions {
    this.checkInput(x)
    const data = new Float64Array(x.rows * x.cols)
    const probabilities = new Float64Array(x.rows)
    let bias = 0
    for (const tree of this.trees) {
      addPathContributions(tree, x, data, probabilities)
      bias += tree.value[0] as number
    }
    const nTrees = this.trees.length
    for (let k = 0; k < data.length; k++) data[k] = (data[k] as number) / nTrees
    for (let i = 0; i < x.rows; i++) probabilities[i] = (probabilities[i] as number) / nTrees
    return {
      contributions: { rows: x.rows, cols: x.cols, data },
      bias: bias / nTrees,
      probabilities,
    }
  }

  featureImportance(): Float64Array {
    return this.importance.slice()
  }

  toJSON(): ForestJson {
    return {
      kind: 'histogram-forest',
      formatVersion: 1,
      nFeatures: this.nFeatures,
      options: { ...this.options },
      featureImportance: Array.from(this.importance),
      trees: this.trees.map(treeToJson),
    }
  }
}
