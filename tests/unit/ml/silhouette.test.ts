import { describe, expect, it } from 'vitest'

import { fromRows, type Matrix } from '../../../src/ml/matrix.ts'
import { sampledSilhouette, sampleIndices, silhouetteScore } from '../../../src/ml/silhouette.ts'

/**
 * 90 points around (0, 0), (3, 0) and (0, 3). Row i is center i % 3 plus two uniforms in
 * [-1, 1) from the Park-Miller minimal standard generator, whose integer arithmetic is exact in
 * doubles. The scikit-learn values below come from this script (scikit-learn 1.2.1):
 *
 *   from sklearn.metrics import silhouette_score
 *   import numpy as np
 *   state = 2024
 *   def nxt():
 *       global state
 *       state = (state * 48271) % 2147483647
 *       return state / 2147483647
 *   centers = [(0, 0), (3, 0), (0, 3)]
 *   X = np.array([[centers[i % 3][0] + 2 * (nxt() - 0.5), centers[i % 3][1] + 2 * (nxt() - 0.5)]
 *                 for i in range(90)])
 *   labels = np.array([i % 3 for i in range(90)])
 *   print(silhouette_score(X, labels))            # 0.6405925285979895
 *   labels2 = labels.copy(); labels2[0] = 3
 *   print(silhouette_score(X, labels2))           # 0.5247636656427292
 *   print(silhouette_score(X, np.array([i % 2 for i in range(90)])))  # -0.017252973652356368
 */
function threeSquares(): Matrix {
  let state = 2024
  const next = () => {
    state = (state * 48271) % 2147483647
    return state / 2147483647
  }
  const centers = [
    [0, 0],
    [3, 0],
    [0, 3],
  ]
  const rows: number[][] = []
  for (let i = 0; i < 90; i++) {
    const center = centers[i % 3] as number[]
    const x = (center[0] as number) + 2 * (next() - 0.5)
    const y = (center[1] as number) + 2 * (next() - 0.5)
    rows.push([x, y])
  }
  return fromRows(rows)
}

const byThree = Int32Array.from({ length: 90 }, (_, i) => i % 3)

describe('silhouetteScore', () => {
  it('matches scikit-learn on three clusters', () => {
    expect(silhouetteScore(threeSquares(), byThree)).toBeCloseTo(0.6405925285979895, 12)
  })

  it('scores a one-row cluster as 0', () => {
    const labels = Int32Array.from(byThree)
    labels[0] = 3
    expect(silhouetteScore(threeSquares(), labels)).toBeCloseTo(0.5247636656427292, 12)
  })

  it('matches scikit-learn on a wrong split', () => {
    const labels = Int32Array.from({ length: 90 }, (_, i) => i % 2)
    expect(silhouetteScore(threeSquares(), labels)).toBeCloseTo(-0.017252973652356368, 12)
  })

  it('ignores unused label values', () => {
    const gapped = Int32Array.from(byThree, (label) => label * 2)
    expect(silhouetteScore(threeSquares(), gapped)).toBeCloseTo(0.6405925285979895, 12)
  })

  it('scores two distant pairs by hand', () => {
    // a = 1 and b = mean(10, sqrt(101)) for every row, so s = 1 - 1 / b.
    const m = fromRows([
      [0, 0],
      [0, 1],
      [10, 0],
      [10, 1],
    ])
    const b = (10 + Math.sqrt(101)) / 2
    expect(silhouetteScore(m, [0, 0, 1, 1])).toBeCloseTo(1 - 1 / b, 12)
  })

  it('rejects invalid labels', () => {
    const m = threeSquares()
    expect(() => silhouetteScore(m, new Int32Array(90))).toThrow(/2 to rows - 1/)
    expect(() => silhouetteScore(m, byThree.slice(1))).toThrow(/89 entries/)
    const negative = Int32Array.from(byThree)
    negative[4] = -1
    expect(() => silhouetteScore(m, negative)).toThrow('labels[4] must be an integer >= 0')
    const unique = Int32Array.from({ length: 90 }, (_, i) => i)
    expect(() => silhouetteScore(m, unique)).toThrow(/got 90/)
  })
})

describe('sampledSilhouette', () => {
  it('scores every row of a small matrix', () => {
    const value = sampledSilhouette(threeSquares(), byThree, { sampleSize: 500, seed: 1 })
    expect(value).toBeCloseTo(0.6405925285979895, 12)
  })

  it('equals the exact score of its sample', () => {
    const m = threeSquares()
    const indices = sampleIndices(90, 40, 3)
    const sample = fromRows(Array.from(indices, (i) => [m.data[2 * i]!, m.data[2 * i + 1]!]))
    const expected = silhouetteScore(
      sample,
      Array.from(indices, (i) => byThree[i]!),
    )
    expect(sampledSilhouette(m, byThree, { sampleSize: 40, seed: 3 })).toBe(expected)
  })

  it('repeats for a seed', () => {
    const m = threeSquares()
    const first = sampledSilhouette(m, byThree, { sampleSize: 30, seed: 8 })
    expect(sampledSilhouette(m, byThree, { sampleSize: 30, seed: 8 })).toBe(first)
  })

  it('rejects a sample size below 3', () => {
    expect(() => sampledSilhouette(threeSquares(), byThree, { sampleSize: 2, seed: 1 })).toThrow(
      'sampleSize must be an integer >= 3, got 2',
    )
  })
})

describe('sampleIndices', () => {
  it('draws distinct indices in range', () => {
    const indices = sampleIndices(1000, 200, 5)
    expect(indices.length).toBe(200)
    expect(new Set(indices).size).toBe(200)
    expect(Math.min(...indices)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...indices)).toBeLessThan(1000)
  })

  it('returns every index when the count exceeds n', () => {
    expect(Array.from(sampleIndices(5, 10, 1)).sort()).toEqual([0, 1, 2, 3, 4])
  })
})
