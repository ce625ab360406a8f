import { RandomForestClassifier } from 'ml-random-forest'
import { describe, expect, it } from 'vitest'

import { binOf, featureEdges } from '../../../src/ml/forest-bins.ts'
import { loadForest, trainForest, type ForestJson } from '../../../src/ml/forest.ts'
import { createMatrix, fromRows, selectRows, toRows, type Matrix } from '../../../src/ml/matrix.ts'
import { rocAuc } from '../../../src/ml/metrics.ts'
import { createRng } from '../../../src/ml/random.ts'

/**
 * Park-Miller minimal standard generator. Its integer arithmetic is exact in doubles, so the
 * Python script that produced the scikit-learn reference values generates the same rows.
 */
function minstd(seed: number) {
  let state = seed
  const next = () => {
    state = (state * 48271) % 2147483647
    return state / 2147483647
  }
  return { next, noise: () => next() + next() + next() + next() - 2 }
}

/**
 * 2,000 rows of 8 features 1.7 * (sum of four uniforms - 2), labelled
 * x0 + x1 * x2 - 0.5 * x3 + 0.8 * noise > 0.3. Rows 0-1499 train, rows 1500-1999 test.
 */
function noisyProblem() {
  const generator = minstd(2024)
  const rows: number[][] = []
  const labels: number[] = []
  for (let i = 0; i < 2000; i++) {
    const x = Array.from({ length: 8 }, () => generator.noise() * 1.7)
    const z = (x[0] as number) + (x[1] as number) * (x[2] as number) - 0.5 * (x[3] as number)
    rows.push(x)
    labels.push(z + 0.8 * generator.noise() > 0.3 ? 1 : 0)
  }
  const x = fromRows(rows)
  const range = (start: number, end: number) =>
    Array.from({ length: end - start }, (_, i) => start + i)
  return {
    train: { x: selectRows(x, range(0, 1500)), y: Uint8Array.from(labels.slice(0, 1500)) },
    test: { x: selectRows(x, range(1500, 2000)), y: Uint8Array.from(labels.slice(1500)) },
  }
}

/** Uniform features in [-2, 2) labelled by (x0 > 0.3 and x1 < 0) or x2 > 1, without noise. */
function ruleProblem(rows: number, cols: number, seed: number) {
  const rng = createRng(seed)
  const x = createMatrix(rows, cols)
  const y = new Uint8Array(rows)
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) x.data[i * cols + j] = 4 * rng.next() - 2
    const [a, b, c] = [x.data[i * cols], x.data[i * cols + 1], x.data[i * cols + 2]] as number[]
    y[i] = ((a as number) > 0.3 && (b as number) < 0) || (c as number) > 1 ? 1 : 0
  }
  return { x, y }
}

function accuracy(labels: Uint8Array, predicted: ArrayLike<number>): number {
  let correct = 0
  labels.forEach((label, i) => (correct += label === predicted[i] ? 1 : 0))
  return correct / labels.length
}

function depthOf(tree: ForestJson['trees'][number], node = 0): number {
  if (tree.feature[node] === -1) return 0
  return 1 + Math.max(depthOf(tree, tree.left[node]), depthOf(tree, tree.right[node]))
}

describe('forest bins', () => {
  it('puts an edge between every pair of few distinct values', () => {
    expect(Array.from(featureEdges(Float64Array.from([3, 1, 2, 2, 1]), 32))).toEqual([1.5, 2.5])
    expect(featureEdges(Float64Array.from([7, 7, 7]), 32).length).toBe(0)
  })

  it('cuts many values at quantiles', () => {
    const values = Float64Array.from({ length: 1000 }, (_, i) => i)
    const edges = featureEdges(values, 4)
    expect(Array.from(edges)).toEqual([249.5, 499.5, 749.5])
  })

  it('bins consistently with the threshold rule', () => {
    const rng = createRng(3)
    const values = Float64Array.from({ length: 500 }, () => Math.round(rng.normal() * 20) / 4)
    const edges = featureEdges(values, 16)
    expect(edges.length).toBeLessThanOrEqual(15)
    for (let b = 1; b < edges.length; b++) expect(edges[b]).toBeGreaterThan(edges[b - 1] as number)
    for (const value of values) {
      for (let b = 0; b < edges.length; b++) {
        expect(binOf(edges, value) <= b).toBe(value <= (edges[b] as number))
      }
    }
  })
})

describe('forest', () => {
  it('recovers a known rule', () => {
    const train = ruleProblem(3000, 6, 1)
    const test = ruleProblem(1000, 6, 2)
    const model = trainForest(train.x, train.y, { nTrees: 60, seed: 7 })
    expect(rocAuc(test.y, model.predictProba(test.x))).toBeGreaterThan(0.95)
    const importance = model.featureImportance()
    const sum = importance.reduce((total, value) => total + value, 0)
    expect(sum).toBeCloseTo(1, 9)
    const ruleShare = importance.subarray(0, 3).reduce((total, value) => total + value, 0)
    expect(ruleShare).toBeGreaterThan(0.8)
  })

  it('predicts identically after a JSON round trip', () => {
    const { train, test } = noisyProblem()
    const model = trainForest(train.x, train.y, { nTrees: 20, seed: 3 })
    const loaded = loadForest(JSON.parse(JSON.stringify(model.toJSON())))
    expect(Array.from(loaded.predictProba(test.x))).toEqual(Array.from(model.predictProba(test.x)))
    expect(Array.from(loaded.featureImportance())).toEqual(Array.from(model.featureImportance()))
    expect(loaded.toJSON()).toEqual(model.toJSON())
    expect(loaded.nTrees).toBe(20)
  })

  it('matches scikit-learn test AUC', () => {
    // scikit-learn 1.2.1, RandomForestClassifier(n_estimators=100, max_depth=12,
    // min_samples_leaf=5, max_features='sqrt', random_state=r) fitted on the same 1,500 rows
    // (same minstd code in Python): roc_auc_score on the 500 test rows, mean over r = 0..4.
    // Single seeds ranged from 0.9230 to 0.9289.
    const sklearnAuc = 0.9249868972746331
    const { train, test } = noisyProblem()
    const aucs = [1, 2, 3].map((seed) => {
      const options = { nTrees: 100, maxDepth: 12, minSamplesLeaf: 5, seed }
      const model = trainForest(train.x, train.y, options)
      return rocAuc(test.y, model.predictProba(test.x))
    })
    const meanAuc = aucs.reduce((sum, auc) => sum + auc, 0) / aucs.length
    expect(Math.abs(meanAuc - sklearnAuc)).toBeLessThan(0.02)
  })

  it('reaches the accuracy of ml-random-forest', () => {
    const { train, test } = noisyProblem()
    const rows = Array.from({ length: 300 }, (_, i) => i)
    const small = { x: selectRows(train.x, rows), y: train.y.slice(0, 300) }
    const reference = new RandomForestClassifier({
      nEstimators: 50,
      maxFeatures: 0.5,
      seed: 4,
      useSampleBagging: true,
      noOOB: true,
    })
    reference.train(toRows(small.x), Array.from(small.y))
    const referenceAccuracy = accuracy(test.y, reference.predict(toRows(test.x)))
    const model = trainForest(small.x, small.y, { nTrees: 50, seed: 4 })
    const ours = Array.from(model.predictProba(test.x), (p) => (p > 0.5 ? 1 : 0))
    const ourAccuracy = accuracy(test.y, ours)
    expect(referenceAccuracy).toBeGreaterThan(0.7)
    expect(ourAccuracy).toBeGreaterThan(referenceAccuracy - 0.03)
  })

  it('is deterministic for a seed and reports progress', () => {
    const { train, test } = noisyProblem()
    const progress: string[] = []
    const first = trainForest(train.x, train.y, { nTrees: 5, seed: 11 }, (done, total) =>
      progress.push(`${done}/${total}`),
    )
    const second = trainForest(train.x, train.y, { nTrees: 5, seed: 11 })
    expect(progress).toEqual(['1/5', '2/5', '3/5', '4/5', '5/5'])
    expect(Array.from(second.predictProba(test.x))).toEqual(Array.from(first.predictProba(test.x)))
    const other = trainForest(train.x, train.y, { nTrees: 5, seed: 12 })
    const firstScores = Array.from(first.predictProba(test.x))
    expect(Array.from(other.predictProba(test.x))).not.toEqual(firstScores)
  })

  it('keeps depth and thresholds in range', () => {
    const rng = createRng(8)
    const x = createMatrix(400, 2)
    const y = new Uint8Array(400)
    for (let i = 0; i < 400; i++) {
      x.data[2 * i] = 100 + 100 * rng.next()
      x.data[2 * i + 1] = -50 * rng.next()
      y[i] = (x.data[2 * i] as number) > 140 ? 1 : 0
    }
    const json = trainForest(x, y, { nTrees: 10, maxDepth: 3, seed: 1 }).toJSON()
    for (const tree of json.trees) {
      expect(depthOf(tree)).toBeLessThanOrEqual(3)
      tree.feature.forEach((feature, node) => {
        const threshold = tree.threshold[node] as number
        if (feature === 0) expect(threshold > 100 && threshold < 200).toBe(true)
        if (feature === 1) expect(threshold > -50 && threshold < 0).toBe(true)
      })
    }
  })

  it('balanced weights raise minority probabilities', () => {
    const rng = createRng(21)
    const x = createMatrix(3000, 4)
    const y = new Uint8Array(3000)
    for (let i = 0; i < 3000; i++) {
      for (let j = 0; j < 4; j++) x.data[i * 4 + j] = rng.normal()
      y[i] = (x.data[i * 4] as number) + 0.7 * rng.normal() > 2 ? 1 : 0
    }
    // Shallow trees keep mixed leaves, where the class weights change the leaf fractions.
    const options = { nTrees: 30, maxDepth: 3, seed: 2 }
    const plain = trainForest(x, y, options).predictProba(x)
    const balanced = trainForest(x, y, { ...options, classWeight: 'balanced' }).predictProba(x)
    const mean = (values: ArrayLike<number>) =>
      Array.from(values).reduce((sum, value) => sum + value, 0) / values.length
    expect(mean(y)).toBeLessThan(0.1)
    expect(mean(plain)).toBeCloseTo(mean(y), 2)
    expect(mean(balanced)).toBeGreaterThan(mean(plain) + 0.1)
    // Balanced weights give both classes the same total weight, so the class-weighted mean
    // of the weighted leaf fractions is about one half.
    const positives = y.reduce((sum, label) => sum + label, 0)
    const negatives = y.length - positives
    const weights = Array.from(y, (label) => (label === 1 ? 1 / positives : 1 / negatives))
    const weightedMean = weights.reduce((sum, w, i) => sum + w * (balanced[i] as number), 0) / 2
    expect(weightedMean).toBeCloseTo(0.5, 1)
    expect(rocAuc(y, balanced)).toBeGreaterThan(0.85)
  })

  it('rejects invalid training input', () => {
    const x = fromRows([[0], [1], [2], [3]])
    expect(() => trainForest(x, Uint8Array.from([0, 1, 2, 0]), { seed: 1 })).toThrow(
      'y must contain only 0 and 1, got 2 at index 2',
    )
    expect(() => trainForest(x, Uint8Array.from([1, 1, 1, 1]), { seed: 1 })).toThrow(/both classes/)
    expect(() => trainForest(x, Uint8Array.from([0, 1]), { seed: 1 })).toThrow(
      /2 labels, but x has 4 rows/,
    )
    const y = Uint8Array.from([0, 1, 0, 1])
    expect(() => trainForest(x, y, { seed: 1, bins: 65 })).toThrow(/bins/)
    expect(() => trainForest(x, y, { seed: 1, maxFeatures: 2 })).toThrow(
      'maxFeatures must be an integer from 1 to 1, got 2',
    )
    const bad = fromRows([[0], [Number.NaN], [2], [3]])
    expect(() => trainForest(bad, Uint8Array.from([0, 1, 0, 1]), { seed: 1 })).toThrow(RangeError)
  })

  it('rejects invalid prediction input', () => {
    const { train } = noisyProblem()
    const model = trainForest(train.x, train.y, { nTrees: 2, seed: 1 })
    expect(() => model.predictProba(fromRows([[1, 2]]))).toThrow(
      'matrix has 2 columns, but the forest was trained on 8',
    )
    const withNaN = createMatrix(1, 8)
    withNaN.data[3] = Number.NaN
    expect(() => model.predictProba(withNaN)).toThrow(
      'forest input contains NaN at row 0, column 3',
    )
  })
})

describe('loadForest', () => {
  function smallJson(): ForestJson {
    const { train } = noisyProblem()
    return trainForest(train.x, train.y, { nTrees: 3, maxDepth: 3, seed: 5 }).toJSON()
  }

  it('names an out-of-range child', () => {
    const json = smallJson()
    ;(json.trees[1] as ForestJson['trees'][number]).left[0] = 0
    expect(() => loadForest(json)).toThrow(/trees\[1\]\.left\[0\]/)
  })

  it('names a wrong kind or version', () => {
    expect(() => loadForest({ ...smallJson(), kind: 'rf' })).toThrow(/kind/)
    expect(() => loadForest({ ...smallJson(), formatVersion: 2 })).toThrow(/formatVersion/)
  })

  it('names a missing or short array', () => {
    const json = smallJson() as unknown as { trees: Record<string, unknown>[] }
    delete (json.trees[0] as Record<string, unknown>).value
    expect(() => loadForest(json)).toThrow(/trees\[0\]\.value/)
    const short = smallJson()
    ;(short.trees[2] as ForestJson['trees'][number]).threshold.pop()
    expect(() => loadForest(short)).toThrow(/trees\[2\]\.threshold/)
  })

  it('names an invalid feature index and importance length', () => {
    const json = smallJson()
    ;(json.trees[0] as ForestJson['trees'][number]).feature[0] = 8
    expect(() => loadForest(json)).toThrow(/trees\[0\]\.feature\[0\]/)
    const shortImportance = { ...smallJson(), featureImportance: [1] }
    expect(() => loadForest(shortImportance)).toThrow(/featureImportance/)
  })

  it('rejects a non-object', () => {
    expect(() => loadForest(null)).toThrow(/invalid histogram-forest JSON/)
  })
})

describe('forest path contributions', () => {
  /** Two stumps on a 2-feature input: values by hand, so each contribution is known. */
  function stumps(): ForestJson {
    const options = {
      nTrees: 2,
      maxDepth: 1,
      minSamplesLeaf: 1,
      maxFeatures: 2,
      bins: 32,
      seed: 0,
      classWeight: null,
    }
    return {
      kind: 'histogram-forest',
      formatVersion: 1,
      nFeatures: 2,
      options,
      featureImportance: [0.5, 0.5],
      trees: [
        {
          feature: [0, -1, -1],
          threshold: [1, 0, 0],
          left: [1, -1, -1],
          right: [2, -1, -1],
          value: [0.4, 0.1, 0.9],
        },
        {
          feature: [1, -1, -1],
          threshold: [0, 0, 0],
          left: [1, -1, -1],
          right: [2, -1, -1],
          value: [0.6, 0.2, 0.7],
        },
      ],
    }
  }

  it('credits each split to its feature', () => {
    const forest = loadForest(stumps())
    const x = fromRows([
      [0, 5],
      [2, -1],
    ])
    const { contributions, bias } = forest.pathContributions(x)
    // Bias: mean root value (0.4 + 0.6) / 2. Row 0 goes left in tree 0 (0.1 - 0.4) and right
    // in tree 1 (0.7 - 0.6). Row 1 goes right in tree 0 (0.9 - 0.4) and left in tree 1 (0.2 - 0.6).
    expect(bias).toBeCloseTo(0.5, 12)
    expect(Array.from(contributions.data)).toEqual([
      expect.closeTo(-0.15, 12),
      expect.closeTo(0.05, 12),
      expect.closeTo(0.25, 12),
      expect.closeTo(-0.2, 12),
    ])
  })

  it('adds up to the probabilities of a trained forest', () => {
    const { train, test } = noisyProblem()
    const model = trainForest(train.x, train.y, { nTrees: 15, maxDepth: 6, seed: 3 })
    const probabilities = model.predictProba(test.x)
    const { contributions, bias, probabilities: fromPaths } = model.pathContributions(test.x)
    // The same sums in the same order, so equal bit for bit, not only to rounding.
    expect(Array.from(fromPaths)).toEqual(Array.from(probabilities))
    for (let i = 0; i < test.x.rows; i++) {
      let sum = bias
      for (let j = 0; j < test.x.cols; j++) sum += contributions.data[i * test.x.cols + j] as number
      expect(sum).toBeCloseTo(probabilities[i] as number, 12)
    }
    // Features 4 to 7 carry no signal, so they get far less credit than x0.
    const meanAbs = (j: number) => {
      let total = 0
      for (let i = 0; i < test.x.rows; i++)
        total += Math.abs(contributions.data[i * 8 + j] as number)
      return total / test.x.rows
    }
    expect(meanAbs(0)).toBeGreaterThan(3 * meanAbs(5))
  })

  it('rejects a column count mismatch', () => {
    const forest = loadForest(stumps())
    expect(() => forest.pathContributions(createMatrix(1, 3))).toThrow(/3 columns/)
  })
})
