import { z } from 'zod'

import { assertFinite, createMatrix, type Matrix } from './matrix.ts'

/**
 * Fitted scaler parameters as plain JSON, stored in model bundles. Column j is first
 * mapped through log1p when `log1p[j]` is set, then standardized with `mean[j]` and `std[j]`.
 */
export interface ScalerParams {
  kind: 'log1p-standard'
  formatVersion: 1
  log1p: boolean[]
  mean: number[]
  std: number[]
}

export interface ScalerOptions {
  /** Per column: apply log1p before standardizing (for counts and day spans). */
  log1p: boolean[]
}

const scalerParamsSchema = z
  .object({
    kind: z.literal('log1p-standard'),
    formatVersion: z.literal(1),
    log1p: z.array(z.boolean()),
    mean: z.array(z.number()),
    std: z.array(z.number().positive()),
  })
  .refine((p) => p.mean.length === p.log1p.length && p.std.length === p.log1p.length, {
    message: 'log1p, mean and std must have the same length',
    path: ['std'],
  })

// Negative inputs of a log1p column are clamped to 0, because counts and day spans cannot be
// negative and log1p(-1) is -Infinity.
function prepare(value: number, log1p: boolean): number {
  return log1p ? Math.log1p(Math.max(value, 0)) : value
}

function assertColumns(m: Matrix, expected: number): void {
  if (m.cols !== expected) {
    throw new RangeError(`matrix has ${m.cols} columns, but the scaler was fitted on ${expected}`)
  }
}

function fitColumn(m: Matrix, j: number, log1p: boolean): { mean: number; std: number } {
  let sum = 0
  let min = Infinity
  let max = -Infinity
  for (let i = 0; i < m.rows; i++) {
    const value = prepare(m.data[i * m.cols + j] as number, log1p)
    sum += value
    min = Math.min(min, value)
    max = Math.max(max, value)
  }
  // A constant column gets std 1 and its exact value as mean, so it maps to exactly 0.
  // Computing the mean as sum / rows would leave rounding residue such as 1e-17.
  if (min === max) {
    return { mean: min, std: 1 }
  }
  const mean = sum / m.rows
  let squares = 0
  for (let i = 0; i < m.rows; i++) {
    const deviation = prepare(m.data[i * m.cols + j] as number, log1p) - mean
    squares += deviation * deviation
  }
  const std = Math.sqrt(squares / m.rows)
  return { mean, std: std > 0 ? std : 1 }
}

/**
 * Fits per-column log1p flags, means and population standard deviations (as scikit-learn's
 * StandardScaler). Negative values in log1p columns are clamped to 0 before log1p, here and in
 * `transform`. Throws a RangeError for a matrix without rows, a non-finite entry or a `log1p`
 * list whose length differs from the column count.
 */
export function fitScaler(m: Matrix, options: ScalerOptions): ScalerParams {
  if (options.log1p.length !== m.cols) {
    const flags = options.log1p.length
    throw new RangeError(`log1p has ${flags} flags, expected one per column (${m.cols})`)
  }
  if (m.rows === 0) {
    throw new RangeError('cannot fit a scaler on a matrix without rows')
  }
  assertFinite(m, 'scaler input')
  const mean: number[] = []
  const std: number[] = []
  for (let j = 0; j < m.cols; j++) {
    const fitted = fitColumn(m, j, options.log1p[j] === true)
    mean.push(fitted.mean)
    std.push(fitted.std)
  }
  return { kind: 'log1p-standard', formatVersion: 1, log1p: [...options.log1p], mean, std }
}

/**
 * Returns a scaled copy of `m`. Throws a RangeError on a column count mismatch or a
 * non-finite entry.
 */
export function transform(params: ScalerParams, m: Matrix): Matrix {
  assertColumns(m, params.mean.length)
  assertFinite(m, 'scaler input')
  const scaled = createMatrix(m.rows, m.cols)
  for (let i = 0; i < m.rows; i++) {
    for (let j = 0; j < m.cols; j++) {
      const k = i * m.cols + j
      const value = prepare(m.data[k] as number, params.log1p[j] === true)
      scaled.data[k] = (value - (params.mean[j] as number)) / (params.std[j] as number)
    }
  }
  return scaled
}

/**
 * Maps one scaled row back to original units, for example to describe a centroid. Values that
 * were clamped to 0 before log1p come back as 0, not as the original negative value.
 */
export function inverseTransformRow(
  params: ScalerParams,
  scaledRow: ArrayLike<number>,
): Float64Array {
  if (scaledRow.length !== params.mean.length) {
    throw new RangeError(
      `row has ${scaledRow.length} values, but the scaler was fitted on ${params.mean.length}`,
    )
  }
  const original = new Float64Array(scaledRow.length)
  for (let j = 0; j < scaledRow.length; j++) {
    const value = (scaledRow[j] as number) * (params.std[j] as number) + (params.mean[j] as number)
    original[j] = params.log1p[j] === true ? Math.expm1(value) : value
  }
  return original
}

/**
 * Validates scaler parameters read from JSON. Throws an Error that names each invalid field,
 * for example `std[2]`.
 */
export function parseScalerParams(json: unknown): ScalerParams {
  const result = scalerParamsSchema.safeParse(json)
  if (!result.success) {
    throw new Error(`invalid scaler parameters: ${z.prettifyError(result.error)}`)
  }
  return result.data
}
