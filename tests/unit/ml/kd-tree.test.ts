import { describe, expect, it } from 'vitest'

import { KdTree, squaredThreshold } from '../../../src/ml/kd-tree.ts'
import { createMatrix, fromRows, type Matrix } from '../../../src/ml/matrix.ts'
import { createRng } from '../../../src/ml/random.ts'

/** Distance in the order the tree sums, so brute force and tree compare the same doubles. */
function distance(query: Float64Array, offset: number, m: Matrix, row: number): number {
  let sum = 0
  for (let j = 0; j < m.cols; j++) {
    const d = (query[offset + j] as number) - (m.data[row * m.cols + j] as number)
    sum += d * d
  }
  return Math.sqrt(sum)
}

function bruteRadius(m: Matrix, query: Float64Array, radius: number, offset = 0): number[] {
  const found: number[] = []
  for (let i = 0; i < m.rows; i++) if (distance(query, offset, m, i) <= radius) found.push(i)
  return found
}

function bruteSortedDistances(m: Matrix, query: Float64Array, offset = 0): number[] {
  return Array.from({ length: m.rows }, (_, i) => distance(query, offset, m, i)).sort(
    (a, b) => a - b,
  )
}

const sorted = (values: ArrayLike<number>) => Array.from(values).sort((a, b) => a - b)

/**
 * Uniform points in [0, 1)^cols. A `gridStep` rounds them to a grid, which makes ties and
 * duplicates.
 */
function randomMatrix(rows: number, cols: number, seed: number, gridStep = 0): Matrix {
  const rng = createRng(seed)
  const m = createMatrix(rows, cols)
  for (let i = 0; i < m.data.length; i++) {
    const value = rng.next()
    m.data[i] = gridStep > 0 ? Math.round(value / gridStep) * gridStep : value
  }
  return m
}

function randomQuery(cols: number, rng: ReturnType<typeof createRng>): Float64Array {
  return Float64Array.from({ length: cols }, () => 1.2 * rng.next() - 0.1)
}

describe('KdTree radius queries', () => {
  const cases = [
    { name: 'dims 1', rows: 500, cols: 1, grid: 0, radii: [0.001, 0.01, 0.2] },
    { name: 'dims 2 on a grid', rows: 800, cols: 2, grid: 0.05, radii: [0, 0.05, 0.1, 0.25] },
    { name: 'dims 4', rows: 1000, cols: 4, grid: 0, radii: [0.1, 0.3] },
    { name: 'dims 16', rows: 600, cols: 16, grid: 0, radii: [0.8, 1.1, 1.4] },
  ]
  for (const c of cases) {
    it(`matches brute force, ${c.name}`, () => {
      const m = randomMatrix(c.rows, c.cols, 3, c.grid)
      const tree = new KdTree(m, 8)
      const rng = createRng(17)
      for (let q = 0; q < 40; q++) {
        // Half the queries are rows of the matrix, the other half random points.
        const fromRow = q % 2 === 0
        const query = fromRow ? m.data : randomQuery(c.cols, rng)
        const offset = fromRow ? rng.int(c.rows) * c.cols : 0
        for (const radius of c.radii) {
          const expected = bruteRadius(m, query, radius, offset)
          expect(sorted(tree.queryRadius(query, radius, offset))).toEqual(expected)
          expect(tree.countInRadius(query, offset, radius)).toBe(expected.length)
        }
      }
    })
  }

  it('includes points at exactly the radius', () => {
    const m = fromRows([
      [0, 0],
      [3, 4],
      [0, 5],
      [5, 0.0000001],
      [-3, -4],
    ])
    const tree = new KdTree(m, 1)
    expect(sorted(tree.queryRadius(new Float64Array([0, 0]), 5))).toEqual([0, 1, 2, 4])
    expect(tree.countInRadius(new Float64Array([0, 0]), 0, 5)).toBe(4)
    expect(sorted(tree.queryRadius(new Float64Array([0, 0]), 4.999999))).toEqual([0])
  })

  it('finds a tie at a radius that is not a square root', () => {
    // 0.1 + 0.2 is not 0.3 in doubles, so the test is the rounded distance against the radius.
    const m = fromRows([[0.1], [0.3], [0.4]])
    const tree = new KdTree(m)
    const query = new Float64Array([0.2])
    for (const radius of [0.1, 0.09999999999999999, 0.10000000000000003, 0.2]) {
      expect(sorted(tree.queryRadius(query, radius))).toEqual(bruteRadius(m, query, radius))
    }
  })

  it('counts duplicate points', () => {
    const m = fromRows(Array.from({ length: 50 }, (_, i) => (i < 40 ? [1, 2] : [1, 2 + i])))
    const tree = new KdTree(m, 4)
    expect(tree.countInRadius(new Float64Array([1, 2]), 0, 0)).toBe(40)
    expect(sorted(tree.queryRadius(new Float64Array([1, 2]), 0))).toEqual(
      Array.from({ length: 40 }, (_, i) => i),
    )
    // With a limit the count may stop early, anywhere from the limit to the full count.
    const limited = tree.countInRadius(new Float64Array([1, 2]), 0, 0, 10)
    expect(limited).toBeGreaterThanOrEqual(10)
    expect(limited).toBeLessThanOrEqual(40)
  })

  it('stops counting at the limit', () => {
    const m = randomMatrix(300, 2, 5)
    const tree = new KdTree(m)
    const query = new Float64Array([0.5, 0.5])
    const total = bruteRadius(m, query, 0.3).length
    expect(total).toBeGreaterThan(20)
    const limited = tree.countInRadius(query, 0, 0.3, 20)
    expect(limited).toBeGreaterThanOrEqual(20)
    expect(limited).toBeLessThanOrEqual(total)
  })

  it('handles one point', () => {
    const tree = new KdTree(fromRows([[2, -1]]))
    expect(Array.from(tree.queryRadius(new Float64Array([2, -1]), 0))).toEqual([0])
    expect(Array.from(tree.queryRadius(new Float64Array([3, -1]), 0.5))).toEqual([])
    expect(tree.kthNearestDistance(new Float64Array([5, 3]), 1)).toBe(5)
  })
})

describe('KdTree nearest queries', () => {
  for (const [cols, grid] of [
    [1, 0],
    [3, 0.1],
    [16, 0],
  ] as const) {
    it(`k nearest match brute force, dims ${cols}`, () => {
      const m = randomMatrix(700, cols, 9, grid)
      const tree = new KdTree(m, 8)
      const rng = createRng(23)
      for (let q = 0; q < 30; q++) {
        const fromRow = q % 2 === 0
        const query = fromRow ? m.data : randomQuery(cols, rng)
        const offset = fromRow ? rng.int(m.rows) * cols : 0
        const expected = bruteSortedDistances(m, query, offset)
        for (const k of [1, 5, 22]) {
          const result = tree.kNearest(query, k, offset)
          expect(Array.from(result.distances)).toEqual(expected.slice(0, k))
          // Each index is a distinct row at its reported distance.
          expect(new Set(result.indices).size).toBe(k)
          result.indices.forEach((row, r) => {
            expect(distance(query, offset, m, row)).toBe(result.distances[r])
          })
          expect(tree.kthNearestDistance(query, k, offset)).toBe(expected[k - 1])
        }
      }
    })
  }

  it('finds the row itself first', () => {
    const m = randomMatrix(200, 2, 4)
    const tree = new KdTree(m)
    const result = tree.kNearest(m.data, 1, 37 * 2)
    expect(Array.from(result.indices)).toEqual([37])
    expect(Array.from(result.distances)).toEqual([0])
  })
})

describe('KdTree deletion', () => {
  it('skips deleted rows in every query', () => {
    const m = randomMatrix(400, 2, 8)
    const tree = new KdTree(m, 4)
    const rng = createRng(2)
    const deleted = new Set<number>()
    for (let d = 0; d < 250; d++) {
      const row = rng.int(m.rows)
      tree.delete(row)
      deleted.add(row)
    }
    expect(tree.isDeleted([...deleted][0] as number)).toBe(true)
    const live = Array.from({ length: m.rows }, (_, i) => i).filter((i) => !deleted.has(i))
    for (let q = 0; q < 20; q++) {
      const query = randomQuery(2, rng)
      const expected = bruteRadius(m, query, 0.2).filter((i) => !deleted.has(i))
      expect(sorted(tree.queryRadius(query, 0.2))).toEqual(expected)
      expect(tree.countInRadius(query, 0, 0.2)).toBe(expected.length)
      const nearest = live.map((i) => distance(query, 0, m, i)).sort((a, b) => a - b)
      expect(Array.from(tree.kNearest(query, 3).distances)).toEqual(nearest.slice(0, 3))
    }
    for (const row of live) tree.delete(row)
    expect(tree.countInRadius(new Float64Array([0.5, 0.5]), 0, 10)).toBe(0)
    expect(tree.kNearest(new Float64Array([0.5, 0.5]), 3).indices).toHaveLength(0)
    expect(() => tree.kthNearestDistance(new Float64Array([0.5, 0.5]), 1)).toThrow(
      'k 1 exceeds the 0 rows left in the tree',
    )
  })
})

describe('KdTree input checks', () => {
  it('rejects invalid input', () => {
    expect(() => new KdTree(fromRows([]))).toThrow(/at least one row and one column, got 0 x 0/)
    expect(() => new KdTree(fromRows([[1], [Number.NaN]]))).toThrow(
      'k-d tree input has a non-finite value at row 1, column 0',
    )
    expect(() => new KdTree(fromRows([[1]]), 0)).toThrow('leafSize must be an integer >= 1, got 0')
    const tree = new KdTree(fromRows([[1, 2]]))
    expect(() => tree.queryRadius(new Float64Array([1, 2]), -1)).toThrow(
      'radius must be a finite number >= 0, got -1',
    )
    expect(() => tree.queryRadius(new Float64Array([1]), 1)).toThrow(
      'query offset 0 with 2 columns is out of range for 1 values',
    )
    expect(() => tree.kNearest(new Float64Array([1, 2]), 0)).toThrow('k must be an integer >= 1')
    expect(() => tree.delete(1)).toThrow('row 1 is out of range [0, 1)')
  })
})

/** Returns the smallest double above a finite non-negative value. */
function nextDouble(value: number): number {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, value)
  view.setBigUint64(0, view.getBigUint64(0) + 1n)
  return view.getFloat64(0)
}

describe('squaredThreshold', () => {
  it('is the largest sum whose square root is within the radius', () => {
    const rng = createRng(41)
    const radii = [
      0,
      1,
      0.1,
      0.7,
      5,
      1e-300,
      1e154,
      ...Array.from({ length: 200 }, () => rng.next() * 3),
    ]
    for (const radius of radii) {
      const threshold = squaredThreshold(radius)
      expect(Math.sqrt(threshold)).toBeLessThanOrEqual(radius)
      expect(Math.sqrt(nextDouble(threshold))).toBeGreaterThan(radius)
    }
  })
})
