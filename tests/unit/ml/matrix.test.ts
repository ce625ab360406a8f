import { describe, expect, it } from 'vitest'

import {
  assertFinite,
  column,
  createMatrix,
  fromRows,
  row,
  selectRows,
  toRows,
} from '../../../src/ml/matrix.ts'

describe('matrix', () => {
  it('creates a zero-filled matrix', () => {
    const m = createMatrix(2, 3)
    expect(m.rows).toBe(2)
    expect(m.cols).toBe(3)
    expect(Array.from(m.data)).toEqual([0, 0, 0, 0, 0, 0])
  })

  it('rejects invalid sizes', () => {
    expect(() => createMatrix(-1, 2)).toThrow(RangeError)
    expect(() => createMatrix(2, 1.5)).toThrow(/cols must be a non-negative integer/)
  })

  it('stores rows in row-major order', () => {
    const m = fromRows([
      [1, 2, 3],
      [4, 5, 6],
    ])
    expect(Array.from(m.data)).toEqual([1, 2, 3, 4, 5, 6])
    expect(toRows(m)).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ])
  })

  it('builds an empty matrix from no rows', () => {
    const m = fromRows([])
    expect(m.rows).toBe(0)
    expect(m.cols).toBe(0)
  })

  it('rejects ragged rows', () => {
    expect(() => fromRows([[1, 2], [3]])).toThrow('row 1 has 1 values, expected 2')
  })

  it('returns a row view that shares memory', () => {
    const m = fromRows([
      [1, 2],
      [3, 4],
    ])
    const second = row(m, 1)
    expect(Array.from(second)).toEqual([3, 4])
    second[0] = 30
    expect(m.data[2]).toBe(30)
    expect(() => row(m, 2)).toThrow('row 2 is out of range [0, 2)')
  })

  it('copies a column', () => {
    const m = fromRows([
      [1, 2],
      [3, 4],
      [5, 6],
    ])
    const second = column(m, 1)
    expect(Array.from(second)).toEqual([2, 4, 6])
    second[0] = 20
    expect(m.data[1]).toBe(2)
    expect(() => column(m, -1)).toThrow(RangeError)
  })

  it('selects rows in order with repeats', () => {
    const m = fromRows([
      [1, 10],
      [2, 20],
      [3, 30],
    ])
    const selected = selectRows(m, [2, 0, 2])
    expect(toRows(selected)).toEqual([
      [3, 30],
      [1, 10],
      [3, 30],
    ])
    expect(() => selectRows(m, [3])).toThrow('row 3 is out of range [0, 3)')
  })

  it('names the first non-finite entry', () => {
    const m = fromRows([
      [1, 2],
      [3, Number.NaN],
    ])
    expect(() => assertFinite(m, 'input')).toThrow('input contains NaN at row 1, column 1')
    expect(() => assertFinite(fromRows([[1, 2]]), 'input')).not.toThrow()
  })
})
