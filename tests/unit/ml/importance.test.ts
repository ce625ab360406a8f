import { describe, expect, it } from 'vitest'
import {
  columnMedians,
  contributionReasons,
  permutationImportance,
  substitutionReasons,
} from '../../../src/ml/importance.ts'
import { createMatrix, fromRows, type Matrix } from '../../../src/ml/matrix.ts'
import { createRng } from '../../../src/ml/random.ts'

// Probability 0.1 * x0 + 0.2 * x1: column 2 is ignored.
const linear = (x: Matrix) =>
  Float64Array.from({ length: x.rows }, (_, i) => {
    const offset = i * x.cols
    return 0.1 * (x.data[offset] as number) + 0.2 * (x.data[offset + 1] as number)
  })

function noisyRows(rows: number, seed: number): { x: Matrix; y: Uint8Array } {
  const rng = createRng(seed)
  const x = createMatrix(rows, 3)
  const y = new Uint8Array(rows)
  for (let i = 0; i < rows; i++) {
    x.data.set([rng.next(), rng.next(), rng.next()], i * 3)
    y[i] =
      rng.next() < 0.1 * (x.data[i * 3] as number) + 0.2 * (x.data[i * 3 + 1] as number) + 0.35
        ? 1
        : 0
  }
  return { x, y }
}

describe('permutationImportance', () => {
  const { x, y } = noisyRows(2000, 3)
  const result = permutationImportance(linear, x, y, { seed: 9, repeats: 4 })

  it('gives an ignored feature exactly 0', () => {
    expect(result.mean[2]).toBe(0)
    expect(result.std[2]).toBe(0)
  })

  it('ranks the features by weight', () => {
    expect(result.mean[0]).toBeGreaterThan(0)
    expect(result.mean[1]).toBeGreaterThan(result.mean[0] as number)
  })

  it('repeats for one seed', () => {
    const again = permutationImportance(linear, x, y, { seed: 9, repeats: 4 })
    expect(Array.from(again.mean)).toEqual(Array.from(result.mean))
  })

  it('leaves the input unchanged', () => {
    const copy = Float64Array.from(x.data)
    permutationImportance(linear, x, y, { seed: 1, repeats: 1 })
    expect(x.data).toEqual(copy)
  })

  it('rejects an invalid repeat count', () => {
    expect(() => permutationImportance(linear, x, y, { seed: 1, repeats: 0 })).toThrow(
      'repeats must be an integer >= 1, got 0',
    )
  })
})

describe('substitutionReasons', () => {
  const names = ['a', 'b', 'c']
  const reference = [0, 0, 0]

  it('orders reasons by absolute effect', () => {
    const x = fromRows([[1, 2, 5]])
    const [reasons] = substitutionReasons(linear, x, linear(x), reference, names)
    // b moves the probability by 0.2 * 2 = 0.4, a by 0.1; c changes nothing.
    expect(reasons).toEqual([
      { feature: 'b', value: 2, effect: expect.closeTo(0.4, 12) },
      { feature: 'a', value: 1, effect: expect.closeTo(0.1, 12) },
    ])
  })

  it('keeps the sign of a lowering feature', () => {
    const x = fromRows([[-3, 1, 0]])
    const [reasons] = substitutionReasons(linear, x, linear(x), reference, names)
    expect(reasons?.[0]).toEqual({ feature: 'a', value: -3, effect: expect.closeTo(-0.3, 12) })
  })

  it('returns nothing for a row at the reference', () => {
    const x = fromRows([[0, 0, 0]])
    expect(substitutionReasons(linear, x, linear(x), reference, names)).toEqual([[]])
  })

  it('limits the reasons to top', () => {
    const x = fromRows([[1, 1, 0]])
    const [reasons] = substitutionReasons(linear, x, linear(x), reference, names, { top: 1 })
    expect(reasons?.map((reason) => reason.feature)).toEqual(['b'])
  })

  it('tries only the candidate columns', () => {
    const x = fromRows([[1, 2, 5]])
    const [reasons] = substitutionReasons(linear, x, linear(x), reference, names, {
      candidates: [0],
    })
    expect(reasons?.map((reason) => reason.feature)).toEqual(['a'])
  })

  it('reports calibrated effects with score tie-breaks', () => {
    // A step calibration: scores below 0.3 map to 0.2, others to 0.6.
    const calibrate = (scores: Float64Array) => scores.map((score) => (score < 0.3 ? 0.2 : 0.6))
    const x = fromRows([[1, 2, 0]])
    // Score 0.5; without a it is 0.4 (same step), without b it is 0.1 (lower step).
    const [reasons] = substitutionReasons(linear, x, linear(x), reference, names, { calibrate })
    expect(reasons).toEqual([{ feature: 'b', value: 2, effect: expect.closeTo(0.4, 12) }])

    // Score 0.33: without a it is 0.18 and without b 0.15. Both cross the step, so the effects
    // tie, and b's larger score change puts it first.
    const tied = fromRows([[1.5, 0.9, 0]])
    const [both] = substitutionReasons(linear, tied, linear(tied), reference, names, { calibrate })
    expect(both?.map((reason) => reason.feature)).toEqual(['b', 'a'])
    expect(both?.[0]?.effect).toBeCloseTo(0.4, 12)
    expect(both?.[1]?.effect).toBeCloseTo(0.4, 12)
  })

  it('explains every row across batches', () => {
    const rows = 600
    const x = createMatrix(rows, 3)
    for (let i = 0; i < rows; i++) x.data.set([i, 0, 0], i * 3)
    const calls: number[] = []
    const counting = (m: Matrix) => {
      calls.push(m.rows)
      return linear(m)
    }
    const reasons = substitutionReasons(counting, x, linear(x), reference, names)
    expect(reasons).toHaveLength(rows)
    // Rows are sent in batches of 256; row 0 is at the reference, so the first has 255 copies.
    expect(calls).toEqual([255, 256, 88])
    reasons.forEach((row, i) => {
      if (i === 0) expect(row).toEqual([])
      else expect(row).toEqual([{ feature: 'a', value: i, effect: expect.closeTo(0.1 * i, 9) }])
    })
  })

  it('rejects a reference of the wrong length', () => {
    const x = fromRows([[1, 2, 3]])
    expect(() => substitutionReasons(linear, x, linear(x), [0], names)).toThrow(
      'reference has 1 values and featureNames 3, expected 3',
    )
  })
})

describe('columnMedians', () => {
  it('takes the middle value or the mean of the middle two', () => {
    expect(
      Array.from(
        columnMedians(
          fromRows([
            [3, 1],
            [1, 4],
            [2, 9],
          ]),
        ),
      ),
    ).toEqual([2, 4])
    expect(Array.from(columnMedians(fromRows([[4], [1], [2], [10]])))).toEqual([3])
  })

  it('rejects a matrix without rows', () => {
    expect(() => columnMedians(createMatrix(0, 2))).toThrow('without rows')
  })
})

describe('contributionReasons', () => {
  // Two rows of three features; scores are bias 0.5 plus the contributions.
  const x = fromRows([
    [1, 2, 3],
    [4, 5, 6],
  ])
  const contributions = fromRows([
    [0.2, -0.05, 0],
    [-0.1, 0.1, 0.3],
  ])
  const scores = Float64Array.of(0.65, 0.8)
  const names = ['a', 'b', 'c']

  it('orders reasons by absolute effect', () => {
    const reasons = contributionReasons(contributions, x, scores, names)
    // Identity calibration: each effect is the contribution itself; c of row 0 is zero.
    expect(reasons[0]).toEqual([
      { feature: 'a', value: 1, effect: expect.closeTo(0.2, 12) },
      { feature: 'b', value: 2, effect: expect.closeTo(-0.05, 12) },
    ])
    expect(reasons[1]!.map((reason) => reason.feature)).toEqual(['c', 'a', 'b'])
  })

  it('applies the calibration to both scores', () => {
    // A step calibration: 0 below 0.6, 1 from 0.6. Only contributions that cross it count.
    const step = (values: Float64Array) => values.map((value) => (value >= 0.6 ? 1 : 0))
    const reasons = contributionReasons(contributions, x, scores, names, { calibrate: step })
    expect(reasons[0]).toEqual([{ feature: 'a', value: 1, effect: 1 }])
    expect(reasons[1]).toEqual([{ feature: 'c', value: 6, effect: 1 }])
  })

  it('keeps at most top reasons', () => {
    const reasons = contributionReasons(contributions, x, scores, names, { top: 1 })
    expect(reasons.map((row) => row.length)).toEqual([1, 1])
  })

  it('rejects mismatched shapes', () => {
    expect(() => contributionReasons(fromRows([[1, 2]]), x, scores, names)).toThrow(RangeError)
  })

  it('matches a sort of every cell, ties included', () => {
    const rng = createRng(5)
    const rows = 40
    const cols = 12
    const randomX = createMatrix(rows, cols)
    const randomContributions = createMatrix(rows, cols)
    for (let k = 0; k < rows * cols; k++) {
      randomX.data[k] = rng.int(5)
      // Few distinct values, so equal effects and equal score changes are common; some zeros.
      randomContributions.data[k] = (rng.int(7) - 3) / 10
    }
    const randomScores = Float64Array.from({ length: rows }, () => rng.next())
    const columns = Array.from({ length: cols }, (_, j) => `f${j}`)
    // A coarse calibration, so that different contributions can have equal effects.
    const coarse = (values: Float64Array) => values.map((value) => Math.round(value * 4) / 4)
    for (const top of [1, 3, 5]) {
      const reasons = contributionReasons(randomContributions, randomX, randomScores, columns, {
        top,
        calibrate: coarse,
      })
      for (let i = 0; i < rows; i++) {
        const probability = coarse(Float64Array.of(randomScores[i] as number))[0] as number
        const expected = columns
          .map((feature, j) => {
            const contribution = randomContributions.data[i * cols + j] as number
            const without = coarse(Float64Array.of((randomScores[i] as number) - contribution))
            return {
              feature,
              value: randomX.data[i * cols + j] as number,
              effect: probability - (without[0] as number),
              change: Math.abs(contribution),
            }
          })
          .filter((cell) => cell.change !== 0 && cell.effect !== 0)
          // Array.prototype.sort is stable, so equal cells stay in feature order.
          .sort((a, b) => Math.abs(b.effect) - Math.abs(a.effect) || b.change - a.change)
          .slice(0, top)
          .map(({ feature, value, effect }) => ({ feature, value, effect }))
        expect(reasons[i]).toEqual(expected)
      }
    }
  })
})
