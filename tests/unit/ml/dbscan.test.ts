import { describe, expect, it } from 'vitest'

import {
  dbscanAllPairs,
  dbscanExact,
  dbscanReference,
  fitDbscan,
  kDistances,
  kneePoint,
} from '../../../src/ml/dbscan.ts'
import { createMatrix, fromRows, type Matrix } from '../../../src/ml/matrix.ts'
import { adjustedRandIndex } from '../../../src/ml/metrics.ts'
import { createRng } from '../../../src/ml/random.ts'
import { sampleIndices } from '../../../src/ml/silhouette.ts'

/**
 * 75 points around (0, 0), (3, 0) and (0, 3), row i at center i % 3 plus two uniforms in
 * [-0.6, 0.6), then 15 uniform points in [-1.5, 4.5)^2. They come from the Park-Miller minimal
 * standard generator, whose integer arithmetic is exact in doubles. SKLEARN_LABELS is the output of this
 * script (scikit-learn 1.2.1):
 *
 *   from sklearn.cluster import DBSCAN
 *   import numpy as np
 *   state = 777
 *   def nxt():
 *       global state
 *       state = (state * 48271) % 2147483647
 *       return state / 2147483647
 *   centers = [(0, 0), (3, 0), (0, 3)]
 *   X = []
 *   for i in range(75):
 *       cx, cy = centers[i % 3]
 *       X.append([cx + 1.2 * (nxt() - 0.5), cy + 1.2 * (nxt() - 0.5)])
 *   for i in range(15):
 *       X.append([6 * nxt() - 1.5, 6 * nxt() - 1.5])
 *   print(DBSCAN(eps=0.45, min_samples=5).fit(np.array(X)).labels_.tolist())
 */
function blobsWithNoise(): Matrix {
  let state = 777
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
  for (let i = 0; i < 75; i++) {
    const center = centers[i % 3] as number[]
    const x = (center[0] as number) + 1.2 * (next() - 0.5)
    const y = (center[1] as number) + 1.2 * (next() - 0.5)
    rows.push([x, y])
  }
  for (let i = 0; i < 15; i++) {
    const x = 6 * next() - 1.5
    const y = 6 * next() - 1.5
    rows.push([x, y])
  }
  return fromRows(rows)
}

// Row 0 is a border row, so the cluster around (0, 0) starts at row 3 and gets index 2.
// prettier-ignore
const SKLEARN_LABELS = [
  2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1,
  2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1,
  2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1,
  2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1,
  2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1,
  1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 2, -1, 0, -1, -1,
]
const OPTIONS = { eps: 0.45, minPts: 5 }

/** Four groups of 500 normal points with standard deviation 0.3, and 200 uniform points. */
function largeBlobs(): Matrix {
  const rng = createRng(11)
  const centers = [
    [0, 0, 0],
    [4, 0, 0],
    [0, 4, 0],
    [0, 0, 4],
  ]
  const m = createMatrix(2200, 3)
  for (let i = 0; i < 2200; i++) {
    for (let j = 0; j < 3; j++) {
      const value =
        i < 2000 ? (centers[i % 4]![j] as number) + 0.3 * rng.normal() : 8 * rng.next() - 2
      m.data[i * 3 + j] = value
    }
  }
  return m
}

function distance(m: Matrix, i: number, j: number): number {
  let sum = 0
  for (let c = 0; c < m.cols; c++) {
    sum += ((m.data[i * m.cols + c] as number) - (m.data[j * m.cols + c] as number)) ** 2
  }
  return Math.sqrt(sum)
}

describe('dbscan', () => {
  it('library wrapper matches scikit-learn', () => {
    expect(SKLEARN_LABELS).toHaveLength(90)
    expect(Array.from(dbscanReference(blobsWithNoise(), OPTIONS).labels)).toEqual(SKLEARN_LABELS)
  })

  it('all-pairs path matches scikit-learn', () => {
    expect(Array.from(dbscanAllPairs(blobsWithNoise(), OPTIONS).labels)).toEqual(SKLEARN_LABELS)
  })

  it('indexed path matches scikit-learn', () => {
    expect(Array.from(dbscanExact(blobsWithNoise(), OPTIONS).labels)).toEqual(SKLEARN_LABELS)
  })

  it('full sample matches scikit-learn', () => {
    const result = fitDbscan(blobsWithNoise(), { ...OPTIONS, sampleSize: 1000, seed: 3 })
    expect(Array.from(result.labels)).toEqual(SKLEARN_LABELS)
    expect(result.clusters).toBe(3)
    expect(result.sampleSize).toBe(90)
    expect(result.noiseShare).toBeCloseTo(12 / 90, 12)
  })

  it('paths agree on core rows', () => {
    const m = blobsWithNoise()
    expect(Array.from(dbscanExact(m, OPTIONS).core)).toEqual(
      Array.from(dbscanReference(m, OPTIONS).core),
    )
  })

  it('counts a neighbour at exactly eps', () => {
    // The library alone would count only distances below eps and leave all three as noise.
    const m = fromRows([[0], [1], [2]])
    const options = { eps: 1, minPts: 3 }
    expect(Array.from(dbscanReference(m, options).labels)).toEqual([0, 0, 0])
    expect(Array.from(dbscanAllPairs(m, options).labels)).toEqual([0, 0, 0])
    expect(Array.from(dbscanExact(m, options).labels)).toEqual([0, 0, 0])
  })

  it('rejects invalid options', () => {
    const m = blobsWithNoise()
    expect(() => dbscanExact(m, { eps: 0, minPts: 5 })).toThrow('eps must be a finite number > 0')
    expect(() => dbscanExact(m, { eps: 1, minPts: 0 })).toThrow('minPts must be an integer >= 1')
    expect(() => dbscanReference(fromRows([]), OPTIONS)).toThrow(/at least one row/)
    expect(() => fitDbscan(m, { minPts: 5, sampleSize: 0, seed: 1 })).toThrow(/sampleSize/)
  })
})

describe('fitDbscan on a sample', () => {
  const m = largeBlobs()
  const result = fitDbscan(m, { minPts: 6, sampleSize: 600, seed: 5 })

  it('finds the four groups', () => {
    expect(result.clusters).toBe(4)
    expect(result.sampleSize).toBe(600)
    expect(result.eps).toBeGreaterThan(0)
    for (let g = 0; g < 4; g++) {
      const labels = new Set(Array.from({ length: 500 }, (_, i) => result.labels[i * 4 + g]))
      labels.delete(-1)
      expect(labels.size).toBe(1)
    }
  })

  it('labels rows within eps of a core row', () => {
    const within = (i: number) =>
      Array.from({ length: m.rows }, (_, j) => j).filter((j) => distance(m, i, j) <= result.eps)
    const neighbourLists = Array.from({ length: m.rows }, (_, i) => within(i))
    const fullCore = neighbourLists.map((list) => list.length >= 6)
    for (let i = 0; i < m.rows; i++) {
      const label = result.labels[i] as number
      if (label === -1) {
        // Noise has no core row of the sample within eps, because the first pass would take it.
        expect(neighbourLists[i]!.filter((j) => result.core[j] === 1)).toEqual([])
      } else if (result.core[i] !== 1) {
        // A labelled row has a core row of the full data with its label within eps.
        const cores = neighbourLists[i]!.filter((j) => fullCore[j] && result.labels[j] === label)
        expect(cores.length).toBeGreaterThan(0)
      }
    }
  })

  it('reports an ascending k-distance curve', () => {
    const curve = result.kDistanceCurve
    expect(curve).toHaveLength(50)
    for (let p = 1; p < curve.length; p++) {
      expect(curve[p]).toBeGreaterThanOrEqual(curve[p - 1] as number)
    }
    expect(result.eps).toBeGreaterThanOrEqual(curve[0] as number)
    expect(result.eps).toBeLessThanOrEqual(curve[curve.length - 1] as number)
  })

  it('repeats for a seed', () => {
    const again = fitDbscan(m, { minPts: 6, sampleSize: 600, seed: 5 })
    expect(again.eps).toBe(result.eps)
    expect(Array.from(again.labels)).toEqual(Array.from(result.labels))
  })
})

describe('kDistances', () => {
  it('counts the row itself first', () => {
    const m = fromRows([[0], [1], [3], [7]])
    expect(Array.from(kDistances(m, 1))).toEqual([0, 0, 0, 0])
    expect(Array.from(kDistances(m, 2))).toEqual([1, 1, 2, 4])
    expect(Array.from(kDistances(m, 3))).toEqual([3, 2, 3, 6])
    expect(() => kDistances(m, 5)).toThrow('k must be an integer from 1 to 4, got 5')
  })
})

describe('kneePoint', () => {
  it('finds the bend of an elbow curve', () => {
    // Flat at 1 for 9 points, then a jump: the last flat point is farthest below the chord.
    const curve = [1, 1, 1, 1, 1, 1, 1, 1, 1, 10]
    expect(kneePoint(curve)).toEqual({ index: 8, value: 1 })
  })

  it('returns the last point of a straight line', () => {
    expect(kneePoint([0, 1, 2, 3])).toEqual({ index: 3, value: 3 })
    expect(kneePoint([5])).toEqual({ index: 0, value: 5 })
  })
})

/**
 * Uniform points in [0, 1)^cols. A `gridStep` rounds them to a grid, which makes ties and
 * duplicates.
 */
function uniformMatrix(rows: number, cols: number, seed: number, gridStep = 0): Matrix {
  const rng = createRng(seed)
  const m = createMatrix(rows, cols)
  for (let i = 0; i < m.data.length; i++) {
    const value = rng.next()
    m.data[i] = gridStep > 0 ? Math.round(value / gridStep) * gridStep : value
  }
  return m
}

describe('dbscanExact against the other paths', () => {
  const cases = [
    { name: 'blobs in 3 dims', m: largeBlobs(), eps: 0.35, minPts: 6 },
    { name: 'uniform in 1 dim', m: uniformMatrix(600, 1, 4), eps: 0.002, minPts: 3 },
    // On a grid of step 0.05, eps 0.05 puts many neighbours at exactly eps.
    { name: 'grid ties in 2 dims', m: uniformMatrix(700, 2, 6, 0.05), eps: 0.05, minPts: 4 },
    { name: 'uniform in 16 dims', m: uniformMatrix(400, 16, 8), eps: 1.05, minPts: 5 },
    {
      name: 'duplicates',
      m: fromRows([...Array(30).fill([1, 1]), [1, 2], [5, 5]]),
      eps: 1,
      minPts: 30,
    },
  ]
  for (const c of cases) {
    it(`matches all pairs and the library, ${c.name}`, () => {
      const options = { eps: c.eps, minPts: c.minPts }
      const indexed = dbscanExact(c.m, options)
      const allPairs = dbscanAllPairs(c.m, options)
      const reference = dbscanReference(c.m, options)
      // More than one cluster and some noise, so the case can fail.
      expect(indexed.clusters).toBeGreaterThanOrEqual(c.name === 'duplicates' ? 1 : 2)
      expect(Array.from(indexed.labels)).toEqual(Array.from(allPairs.labels))
      expect(Array.from(indexed.labels)).toEqual(Array.from(reference.labels))
      expect(Array.from(indexed.core)).toEqual(Array.from(allPairs.core))
      expect(indexed.clusters).toBe(reference.clusters)
    })
  }

  it('labels one row', () => {
    const m = fromRows([[3, 4]])
    expect(Array.from(dbscanExact(m, { eps: 1, minPts: 1 }).labels)).toEqual([0])
    expect(Array.from(dbscanExact(m, { eps: 1, minPts: 2 }).labels)).toEqual([-1])
  })
})

describe('kDistances against brute force', () => {
  for (const [cols, grid] of [
    [2, 0.05],
    [16, 0],
  ] as const) {
    it(`matches sorted distances, dims ${cols}`, () => {
      const m = uniformMatrix(300, cols, 13, grid)
      for (const k of [1, 2, 7, 300]) {
        const expected = Array.from({ length: m.rows }, (_, i) => {
          const all = Array.from({ length: m.rows }, (_, j) => distance(m, i, j))
          return all.sort((a, b) => a - b)[k - 1]
        })
        expect(Array.from(kDistances(m, k))).toEqual(expected)
      }
    })
  }
})

/**
 * Two normal blobs of 3,000 points with standard deviation 0.3, centred 6 apart, and 300
 * uniform points over [-3, 9) x [-3, 3). Rows alternate between the blobs.
 */
function twoBlobsWithNoise(): Matrix {
  const rng = createRng(21)
  const m = createMatrix(6300, 2)
  for (let i = 0; i < 6300; i++) {
    const inBlob = i < 6000
    const cx = inBlob ? (i % 2) * 6 : 0
    m.data[i * 2] = inBlob ? cx + 0.3 * rng.normal() : 12 * rng.next() - 3
    m.data[i * 2 + 1] = inBlob ? 0.3 * rng.normal() : 6 * rng.next() - 3
  }
  return m
}

describe('fitDbscan on a sample against exact DBSCAN', () => {
  const m = twoBlobsWithNoise()
  const options = { eps: 0.2, minPts: 10 }
  const exact = dbscanExact(m, options)
  const sampled = fitDbscan(m, { ...options, sampleSize: 1000, seed: 4 })

  it('finds the same two clusters', () => {
    expect(exact.clusters).toBe(2)
    expect(sampled.clusters).toBe(2)
    for (const blob of [0, 1]) {
      const labels = new Set<number>()
      for (let i = blob; i < 6000; i += 2) labels.add(sampled.labels[i] as number)
      labels.delete(-1)
      expect(labels).toEqual(new Set([blob === 0 ? sampled.labels[0] : sampled.labels[1]]))
    }
    expect(sampled.labels[0]).not.toBe(sampled.labels[1])
  })

  it('keeps core rows within exact clusters', () => {
    // The core rows of each sampled cluster lie in one exact cluster, and a row the sample
    // labels is not exact noise.
    const exactOf = new Map<number, number>()
    for (let i = 0; i < m.rows; i++) {
      const label = sampled.labels[i] as number
      if (label === -1) continue
      expect(exact.labels[i]).not.toBe(-1)
      if (exact.core[i] !== 1) continue
      const seen = exactOf.get(label) ?? (exact.labels[i] as number)
      expect(exact.labels[i]).toBe(seen)
      exactOf.set(label, seen)
    }
    expect(exactOf.size).toBe(2)
  })

  it('agrees with exact labels', () => {
    // The measured ARI is 0.986 for this seed. The bound leaves room for noise rows that differ.
    expect(adjustedRandIndex(sampled.labels, exact.labels)).toBeGreaterThan(0.95)
    expect(sampled.noiseShare).toBeGreaterThanOrEqual(noiseOf(exact.labels))
  })

  it('skips the k-distance curve when eps is given', () => {
    expect(sampled.kDistanceCurve).toEqual([])
    expect(sampled.eps).toBe(0.2)
  })

  it('merges clusters split in the sample', () => {
    // 21 rows at 0, 1, ..., 20 with eps 1: a sample of 20 misses one row, which splits the
    // sample in two unless that row, a core row of the full data, links the halves.
    const line = fromRows(Array.from({ length: 21 }, (_, i) => [i]))
    const seed = 2
    const inSample = new Set(sampleIndices(21, 20, seed))
    const missing = Array.from({ length: 21 }, (_, i) => i).find((i) => !inSample.has(i))
    expect(missing).toBeGreaterThan(1)
    expect(missing).toBeLessThan(19)
    const result = fitDbscan(line, { eps: 1, minPts: 3, sampleSize: 20, seed })
    expect(result.clusters).toBe(1)
    expect(Array.from(result.labels)).toEqual(
      Array.from(dbscanExact(line, { eps: 1, minPts: 3 }).labels),
    )
  })
})

function noiseOf(labels: Int32Array): number {
  return labels.reduce((count, label) => count + (label === -1 ? 1 : 0), 0) / labels.length
}

describe('fitDbscan with the full sample', () => {
  it('equals dbscanExact at the default eps', () => {
    const m = largeBlobs()
    const result = fitDbscan(m, { minPts: 6, sampleSize: m.rows, seed: 1 })
    const exact = dbscanExact(m, { eps: result.eps, minPts: 6 })
    expect(Array.from(result.labels)).toEqual(Array.from(exact.labels))
    expect(result.clusters).toBe(exact.clusters)
    expect(result.kDistanceCurve).toHaveLength(50)
  })
})
