import { describe, expect, it } from 'vitest'

import { fromRows } from '../../../src/ml/matrix.ts'
import {
  fitScaler,
  inverseTransformRow,
  parseScalerParams,
  transform,
} from '../../../src/ml/scaler.ts'

const E = Math.E

// Column 0 (log1p) contains e^t - 1 for t = 0, 1, 2, so it becomes 0, 1, 2: mean 1, std sqrt(2/3).
// Column 1 (plain) is 1, 2, 6: mean 3, deviations -2, -1, 3, std sqrt(14 / 3).
// Column 2 is constant.
const training = fromRows([
  [0, 1, 5],
  [E - 1, 2, 5],
  [E * E - 1, 6, 5],
])
const options = { log1p: [true, false, false] }

describe('scaler', () => {
  it('fits log1p, mean and population std', () => {
    const params = fitScaler(training, options)
    expect(params.kind).toBe('log1p-standard')
    expect(params.formatVersion).toBe(1)
    expect(params.log1p).toEqual([true, false, false])
    expect(params.mean[0]).toBeCloseTo(1, 12)
    expect(params.mean[1]).toBeCloseTo(3, 12)
    expect(params.std[0]).toBeCloseTo(Math.sqrt(2 / 3), 12)
    expect(params.std[1]).toBeCloseTo(Math.sqrt(14 / 3), 12)
  })

  it('maps a constant column to exactly 0', () => {
    const params = fitScaler(training, options)
    expect(params.mean[2]).toBe(5)
    expect(params.std[2]).toBe(1)
    // (0.1 + 0.1 + 0.1) / 3 is not 0.1 in floating point, so the mean must be the value itself.
    const tenths = fromRows([[0.1], [0.1], [0.1]])
    const scaled = transform(fitScaler(tenths, { log1p: [false] }), tenths)
    expect(Array.from(scaled.data)).toEqual([0, 0, 0])
  })

  it('transforms to hand-computed values', () => {
    const scaled = transform(fitScaler(training, options), training)
    const a = 1 / Math.sqrt(2 / 3)
    const s = Math.sqrt(14 / 3)
    const expected = [-a, -2 / s, 0, 0, -1 / s, 0, a, 3 / s, 0]
    expected.forEach((value, k) => expect(scaled.data[k]).toBeCloseTo(value, 12))
  })

  it('clamps negative log1p inputs to 0', () => {
    const params = fitScaler(training, options)
    const scaled = transform(params, fromRows([[-3, 3, 5]]))
    const zero = transform(params, fromRows([[0, 3, 5]]))
    expect(scaled.data[0]).toBe(zero.data[0])
    expect(Number.isFinite(scaled.data[0])).toBe(true)
  })

  it('inverts a transformed row', () => {
    const params = fitScaler(training, options)
    const scaled = transform(params, training)
    const original = inverseTransformRow(params, scaled.data.subarray(3, 6))
    expect(original[0]).toBeCloseTo(E - 1, 12)
    expect(original[1]).toBeCloseTo(2, 12)
    expect(original[2]).toBe(5)
  })

  it('round-trips parameters through JSON', () => {
    const params = fitScaler(training, options)
    expect(parseScalerParams(JSON.parse(JSON.stringify(params)))).toEqual(params)
  })

  it('names invalid parameter fields', () => {
    const params = { ...fitScaler(training, options), std: [1, 0, 1] }
    expect(() => parseScalerParams(params)).toThrow(/std\[1\]/)
    const short = { ...fitScaler(training, options), mean: [0, 0] }
    expect(() => parseScalerParams(short)).toThrow(/same length/)
    expect(() => parseScalerParams({ kind: 'minmax' })).toThrow(/kind/)
  })

  it('rejects invalid input', () => {
    expect(() => fitScaler(training, { log1p: [true] })).toThrow(RangeError)
    expect(() => fitScaler(fromRows([]), { log1p: [] })).toThrow(/without rows/)
    expect(() => fitScaler(fromRows([[Number.POSITIVE_INFINITY]]), { log1p: [false] })).toThrow(
      'scaler input contains Infinity at row 0, column 0',
    )
    const params = fitScaler(training, options)
    expect(() => transform(params, fromRows([[1, 2]]))).toThrow(/fitted on 3/)
    expect(() => inverseTransformRow(params, [1])).toThrow(RangeError)
  })
})
