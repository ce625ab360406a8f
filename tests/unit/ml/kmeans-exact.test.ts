import { describe, expect, it } from 'vitest'

import { ELKAN_MAX_K } from '../../../src/ml/kmeans-bounds.ts'
import { fitKMeans, type KMeansResult } from '../../../src/ml/kmeans.ts'
import { createMatrix, fromRows, selectRows, type Matrix } from '../../../src/ml/matrix.ts'
import { createRng, type Rng } from '../../../src/ml/random.ts'

/*
 * fitKMeans skips distance computations by Elkan's or Hamerly's bounds and updates the
 * cluster sums from label changes. The reference below is the plain algorithm it must agree
 * with: a greedy k-means++ start, then Lloyd iterations that scan every centroid for every
 * row and recompute every mean, with the same empty-cluster relocation and stopping rules.
 */

function distance2(a: Float64Array, ai: number, b: Float64Array, bi: number, cols: number) {
  let sum = 0
  for (let j = 0; j < cols; j++) {
    const d = (a[ai + j] as number) - (b[bi + j] as number)
    sum += d * d
  }
  return sum
}

// Nearest centroid of every row by a full scan. Ties go to the lower index.
function scanAll(m: Matrix, centroids: Float64Array, k: number) {
  const labels = new Int32Array(m.rows)
  const squared = new Float64Array(m.rows)
  for (let i = 0; i < m.rows; i++) {
    let best = 0
    let bestDistance = Infinity
    for (let c = 0; c < k; c++) {
      const distance = distance2(m.data, i * m.cols, centroids, c * m.cols, m.cols)
      if (distance < bestDistance) {
        bestDistance = distance
        best = c
      }
    }
    labels[i] = best
    squared[i] = bestDistance
  }
  return { labels, squared }
}

// Greedy k-means++ with 2 + floor(ln k) trials per centroid, drawing as fitKMeans does.
function referenceSeed(m: Matrix, k: number, rng: Rng): Float64Array {
  const { rows, cols, data } = m
  const centroids = new Float64Array(k * cols)
  const first = rng.int(rows)
  centroids.set(data.subarray(first * cols, (first + 1) * cols), 0)
  let closest = Float64Array.from({ length: rows }, (_, i) =>
    distance2(data, i * cols, data, first * cols, cols),
  )
  const trials = 2 + Math.floor(Math.log(k))
  for (let c = 1; c < k; c++) {
    const cumulative = new Float64Array(rows)
    let total = 0
    for (let i = 0; i < rows; i++) cumulative[i] = total += closest[i] as number
    let bestPotential = Infinity
    let bestIndex = 0
    let bestClosest = closest
    for (let t = 0; t < trials; t++) {
      let candidate: number
      if (total <= 0) {
        candidate = rng.int(rows)
      } else {
        const target = rng.next() * total
        candidate = cumulative.findIndex((value) => value > target)
        if (candidate < 0) candidate = rows - 1
      }
      const trial = closest.map((value, i) =>
        Math.min(value, distance2(data, i * cols, data, candidate * cols, cols)),
      )
      const potential = trial.reduce((sum, value) => sum + value, 0)
      if (potential < bestPotential) {
        bestPotential = potential
        bestIndex = candidate
        bestClosest = trial
      }
    }
    closest = bestClosest
    centroids.set(data.subarray(bestIndex * cols, (bestIndex + 1) * cols), c * cols)
  }
  return centroids
}

// Means of the labelled rows. An empty cluster takes the row farthest from its own centroid
// among clusters with a row to spare, for this step only, and keeps its centroid otherwise.
function referenceMeans(m: Matrix, labels: Int32Array, centroids: Float64Array, k: number) {
  const { rows, cols, data } = m
  const sums = new Float64Array(k * cols)
  const counts = new Float64Array(k)
  for (let i = 0; i < rows; i++) {
    const c = labels[i] as number
    counts[c]! += 1
    for (let j = 0; j < cols; j++) sums[c * cols + j]! += data[i * cols + j] as number
  }
  const squared = Float64Array.from({ length: rows }, (_, i) =>
    distance2(data, i * cols, centroids, (labels[i] as number) * cols, cols),
  )
  const used = new Set<number>()
  for (let c = 0; c < k; c++) {
    if (counts[c] !== 0) continue
    let far = -1
    for (let i = 0; i < rows; i++) {
      const spare = (counts[labels[i] as number] as number) > 1 && !used.has(i)
      if (spare && (far < 0 || (squared[i] as number) > (squared[far] as number))) far = i
    }
    if (far < 0) break
    used.add(far)
    const donor = labels[far] as number
    counts[donor]! -= 1
    counts[c] = 1
    for (let j = 0; j < cols; j++) {
      sums[donor * cols + j]! -= data[far * cols + j] as number
      sums[c * cols + j] = data[far * cols + j] as number
    }
  }
  return sums.map((sum, p) => {
    const count = counts[Math.floor(p / cols)] as number
    return count > 0 ? sum / count : (centroids[p] as number)
  })
}

function referenceLloyd(m: Matrix, initial: Float64Array, maxIterations: number, tol: number) {
  const k = initial.length / m.cols
  let centroids = initial.slice()
  let previous: Int32Array | null = null
  let iterations = 0
  let converged = false
  while (iterations < maxIterations && !converged) {
    iterations++
    const { labels } = scanAll(m, centroids, k)
    const next = referenceMeans(m, labels, centroids, k)
    const shift = distance2(next, 0, centroids, 0, next.length)
    centroids = next
    const same = previous !== null && labels.every((label, i) => label === previous![i])
    converged = same || shift <= tol
    previous = labels
  }
  const { labels, squared } = scanAll(m, centroids, k)
  const inertia = squared.reduce((sum, value) => sum + value, 0)
  return { centroids, labels, inertia, iterations, converged }
}

function meanColumnVariance(m: Matrix): number {
  let total = 0
  for (let j = 0; j < m.cols; j++) {
    let sum = 0
    for (let i = 0; i < m.rows; i++) sum += m.data[i * m.cols + j] as number
    const mean = sum / m.rows
    let squares = 0
    for (let i = 0; i < m.rows; i++) squares += ((m.data[i * m.cols + j] as number) - mean) ** 2
    total += squares / m.rows
  }
  return total / m.cols
}

interface Options {
  k: number
  seed: number
  nInit?: number
  initial?: Matrix
  tolerance?: number
  maxIterations?: number
}

function referenceFit(m: Matrix, options: Options) {
  const tol = (options.tolerance ?? 1e-4) * meanColumnVariance(m)
  const maxIterations = options.maxIterations ?? 300
  if (options.initial) return referenceLloyd(m, options.initial.data, maxIterations, tol)
  const rng = createRng(options.seed)
  let best: ReturnType<typeof referenceLloyd> | null = null
  for (let run = 0; run < (options.nInit ?? 4); run++) {
    const initial = referenceSeed(m, options.k, rng.fork(run))
    const result = referenceLloyd(m, initial, maxIterations, tol)
    if (best === null || result.inertia < best.inertia) best = result
  }
  return best!
}

function fit(m: Matrix, options: Options): KMeansResult {
  const { initial, ...rest } = options
  return fitKMeans(m, initial ? { ...rest, initialCentroids: initial } : rest)
}

// Expects the same labels and iterations exactly, and centroids and inertia to rounding. The
// running cluster sums add and remove rows in another order than a full pass.
function expectSameAsReference(m: Matrix, options: Options): KMeansResult {
  const ours = fit(m, options)
  const reference = referenceFit(m, options)
  expect(Array.from(ours.labels)).toEqual(Array.from(reference.labels))
  expect(ours.iterations).toBe(reference.iterations)
  expect(ours.converged).toBe(reference.converged)
  const scale = Math.max(1, reference.inertia)
  expect(Math.abs(ours.inertia - reference.inertia)).toBeLessThanOrEqual(1e-9 * scale)
  ours.centroids.data.forEach((value, p) => {
    const expected = reference.centroids[p] as number
    expect(Math.abs(value - expected)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(expected)))
  })
  return ours
}

/** Gaussian blobs: `groups` centres in [-spread, spread]^cols, unit deviation, fixed seed. */
function blobs(rows: number, cols: number, groups: number, spread: number, seed: number): Matrix {
  const rng = createRng(seed)
  const centres = Array.from({ length: groups * cols }, () => spread * (2 * rng.next() - 1))
  const m = createMatrix(rows, cols)
  for (let i = 0; i < rows; i++) {
    const g = rng.int(groups)
    for (let j = 0; j < cols; j++) m.data[i * cols + j] = centres[g * cols + j]! + rng.normal()
  }
  return m
}

/** Integer points of a side x side grid, so many rows are equally near two centroids. */
function grid(side: number): Matrix {
  const rows: number[][] = []
  for (let a = 0; a < side; a++) for (let b = 0; b < side; b++) rows.push([a, b])
  return fromRows(rows)
}

// Rows whose nearest centroid is not unique.
function countTies(m: Matrix, centroids: Matrix): number {
  let ties = 0
  for (let i = 0; i < m.rows; i++) {
    const distances = Array.from({ length: centroids.rows }, (_, c) =>
      distance2(m.data, i * m.cols, centroids.data, c * m.cols, m.cols),
    )
    const least = Math.min(...distances)
    if (distances.filter((d) => d === least).length > 1) ties++
  }
  return ties
}

describe('kmeans bounds against plain Lloyd', () => {
  it('uses both bound kinds in these tests', () => {
    // k = 8 runs on Elkan's bounds and k = 40 on Hamerly's.
    expect(8).toBeLessThanOrEqual(ELKAN_MAX_K)
    expect(40).toBeGreaterThan(ELKAN_MAX_K)
  })

  for (const k of [2, 8, 40]) {
    it(`matches k-means++ runs, k = ${k}`, () => {
      const m = blobs(1500, 6, 8, 2, 11)
      expectSameAsReference(m, { k, seed: 5, nInit: 2, tolerance: 0 })
    })
  }

  it('matches with the default tolerance', () => {
    const m = blobs(2000, 16, 8, 1.2, 3)
    const result = expectSameAsReference(m, { k: 8, seed: 1, nInit: 1 })
    expect(result.iterations).toBeGreaterThan(5)
  })

  it('matches well separated blobs', () => {
    // Far apart groups, where the k-means++ start skips most rows by its bound.
    const m = blobs(1200, 3, 6, 40, 8)
    expectSameAsReference(m, { k: 6, seed: 2, nInit: 3, tolerance: 0 })
  })

  it('matches data far from the origin', () => {
    const m = blobs(800, 4, 5, 1, 4)
    for (let p = 0; p < m.data.length; p++) m.data[p] = m.data[p]! + 1e6
    expectSameAsReference(m, { k: 5, seed: 3, nInit: 2, tolerance: 0 })
  })

  for (const k of [3, 8, 40]) {
    it(`breaks ties to the lower index, k = ${k}`, () => {
      const m = grid(9)
      const rng = createRng(k)
      const rowsChosen = new Set<number>()
      while (rowsChosen.size < k) rowsChosen.add(rng.int(m.rows))
      const initial = selectRows(m, [...rowsChosen])
      expect(countTies(m, initial)).toBeGreaterThan(0)
      expectSameAsReference(m, { k, seed: 1, initial, tolerance: 0 })
    })
  }

  // From the start [5], [8], [4], the third iteration finds row 4 (value 3) equally near
  // centroids 0 and 2 (4.5 and 1.5) while it is labelled 2.
  const tieValues = [5, 8, 4, 0, 3]

  it('breaks a tie after the centroids move', () => {
    for (const values of [tieValues, [...tieValues, 8]]) {
      const m = fromRows(values.map((value) => [value]))
      const result = expectSameAsReference(m, {
        k: 3,
        seed: 1,
        initial: fromRows([[5], [8], [4]]),
        tolerance: 0,
      })
      expect(result.labels[4]).toBe(0)
    }
  })

  it('breaks a tie after the centroids move, Hamerly', () => {
    // The same rows plus far single-row clusters, so that k is above ELKAN_MAX_K.
    const far = Array.from({ length: ELKAN_MAX_K }, (_, f) => [1000 * (f + 1)])
    const m = fromRows([...tieValues.map((value) => [value]), ...far])
    const initial = fromRows([[5], [8], [4], ...far])
    const result = expectSameAsReference(m, { k: initial.rows, seed: 1, initial, tolerance: 0 })
    expect(result.labels[4]).toBe(0)
  })

  it('breaks ties in later iterations', () => {
    // Small integer data sets, where centroids often become exactly equally near a row after
    // they move. k above ELKAN_MAX_K runs the Hamerly path.
    const rng = createRng(21)
    for (let trial = 0; trial < 150; trial++) {
      const cols = 1 + (trial % 2)
      const large = trial % 3 === 0
      const rows = large ? 60 + rng.int(20) : 6 + rng.int(15)
      const k = large ? ELKAN_MAX_K + 1 + rng.int(8) : 2 + rng.int(4)
      const m = createMatrix(rows, cols)
      for (let p = 0; p < m.data.length; p++) m.data[p] = rng.int(7)
      expectSameAsReference(m, { k, seed: trial, nInit: 1, tolerance: 0 })
    }
  })

  it('breaks ties from a k-means++ start', () => {
    expectSameAsReference(grid(12), { k: 7, seed: 9, nInit: 3, tolerance: 0 })
  })

  it('relocates empty clusters as before', () => {
    // Centroid 1 duplicates centroid 0 and loses every tie to it, and centroid 3 is far from
    // every row, so both start empty and take the rows farthest from their centroids.
    const m = blobs(600, 2, 3, 5, 6)
    const initial = fromRows([
      [m.data[0]!, m.data[1]!],
      [m.data[0]!, m.data[1]!],
      [m.data[2]!, m.data[3]!],
      [1000, 1000],
    ])
    const reference = referenceLloyd(m, initial.data, 1, 0)
    expect(reference.centroids[6]).not.toBe(1000)
    const result = expectSameAsReference(m, { k: 4, seed: 1, initial, tolerance: 0 })
    expect(new Set(result.labels).size).toBe(4)
  })

  it('relocates into a far centroid, k = rows', () => {
    // Three rows and k = 3 from a start where centroid 2 is far away: the first iteration
    // moves row 1 to it, after which every cluster has one row.
    const m = fromRows([[0], [1], [2]])
    const initial = fromRows([[0], [1.5], [100]])
    const result = expectSameAsReference(m, { k: 3, seed: 1, initial, tolerance: 0 })
    expect(result.inertia).toBe(0)
  })

  it('matches k = 1', () => {
    const m = blobs(500, 3, 2, 3, 12)
    const result = expectSameAsReference(m, { k: 1, seed: 4, nInit: 2 })
    const mean = [0, 1, 2].map((j) => {
      let sum = 0
      for (let i = 0; i < m.rows; i++) sum += m.data[i * 3 + j] as number
      return sum / m.rows
    })
    mean.forEach((value, j) => expect(result.centroids.data[j]).toBeCloseTo(value, 12))
    expect(result.labels.every((label) => label === 0)).toBe(true)
  })

  for (const rows of [10, 45]) {
    it(`matches k = rows = ${rows}`, () => {
      const m = blobs(rows, 3, 4, 3, rows)
      const result = expectSameAsReference(m, { k: rows, seed: 7, nInit: 2 })
      expect(result.inertia).toBe(0)
      expect(new Set(result.labels).size).toBe(rows)
    })
  }

  it('matches a run cut off by maxIterations', () => {
    const m = blobs(1000, 5, 8, 1.5, 13)
    for (const maxIterations of [1, 2, 5]) {
      const result = expectSameAsReference(m, {
        k: 8,
        seed: 2,
        nInit: 1,
        tolerance: 0,
        maxIterations,
      })
      expect(result.iterations).toBe(maxIterations)
    }
  })
})
