/**
 * Dense row-major matrices over a Float64Array: the input and output type of the scaler,
 * k-means and the forest.
 */
export interface Matrix {
  rows: number
  cols: number
  /** Row-major values: entry (i, j) is at `data[i * cols + j]`. */
  data: Float64Array
}

function assertSize(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`)
  }
}

function assertIndex(value: number, size: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value >= size) {
    throw new RangeError(`${name} ${value} is out of range [0, ${size})`)
  }
}

/** Creates a zero-filled matrix. Throws a RangeError unless both sizes are integers >= 0. */
export function createMatrix(rows: number, cols: number): Matrix {
  assertSize(rows, 'rows')
  assertSize(cols, 'cols')
  return { rows, cols, data: new Float64Array(rows * cols) }
}

/** Returns row `i` as a view that shares memory with `m.data`, so writes to it change `m`. */
export function row(m: Matrix, i: number): Float64Array {
  assertIndex(i, m.rows, 'row')
  return m.data.subarray(i * m.cols, (i + 1) * m.cols)
}

/**
 * Copies nested rows into a matrix. Throws a RangeError when rows differ in length.
 * An empty list gives a 0 x 0 matrix.
 */
export function fromRows(rows: ArrayLike<ArrayLike<number>>): Matrix {
  const cols = rows.length === 0 ? 0 : (rows[0] as ArrayLike<number>).length
  const m = createMatrix(rows.length, cols)
  for (let i = 0; i < rows.length; i++) {
    const source = rows[i] as ArrayLike<number>
    if (source.length !== cols) {
      throw new RangeError(`row ${i} has ${source.length} values, expected ${cols}`)
    }
    m.data.set(source, i * cols)
  }
  return m
}

/** Copies the matrix into nested arrays, the input format of ml-kmeans and ml-random-forest. */
export function toRows(m: Matrix): number[][] {
  const rows: number[][] = []
  for (let i = 0; i < m.rows; i++) {
    rows.push(Array.from(row(m, i)))
  }
  return rows
}

/** Copies column `j` into a new array. */
export function column(m: Matrix, j: number): Float64Array {
  assertIndex(j, m.cols, 'column')
  const values = new Float64Array(m.rows)
  for (let i = 0; i < m.rows; i++) {
    values[i] = m.data[i * m.cols + j] as number
  }
  return values
}

/** Copies the listed rows, in the listed order and with repeats, into a new matrix. */
export function selectRows(m: Matrix, indices: ArrayLike<number>): Matrix {
  const selected = createMatrix(indices.length, m.cols)
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k] as number
    assertIndex(i, m.rows, 'row')
    selected.data.set(m.data.subarray(i * m.cols, (i + 1) * m.cols), k * m.cols)
  }
  return selected
}

/**
 * Throws a RangeError naming the first NaN or infinite entry, with `label` as the
 * matrix's name in the message. The learners call this before fitting or predicting.
 */
export function assertFinite(m: Matrix, label: string): void {
  if (m.data.length !== m.rows * m.cols) {
    throw new RangeError(
      `${label} has ${m.data.length} values, expected rows * cols = ${m.rows * m.cols}`,
    )
  }
  for (let k = 0; k < m.data.length; k++) {
    const value = m.data[k] as number
    if (!Number.isFinite(value)) {
      const i = Math.floor(k / m.cols)
      throw new RangeError(`${label} contains ${value} at row ${i}, column ${k - i * m.cols}`)
    }
  }
}
