/** Seeded synthetic data sets for the training benchmark. */
import { createMatrix, type Matrix } from '../../src/ml/matrix.ts'
import { createRng, type Rng } from '../../src/ml/random.ts'

export interface Mixture {
  x: Matrix
  /** Component each row was drawn from, or -1 for uniform background noise. */
  truth: Int32Array
}

/** Mixture weights that differ by up to 4x, so the clusters have unequal sizes. */
function componentWeights(k: number, rng: Rng): Float64Array {
  const weights = Float64Array.from({ length: k }, () => 1 + 3 * rng.next())
  const total = weights.reduce((sum, w) => sum + w, 0)
  return weights.map((w) => w / total)
}

function drawComponent(cumulative: Float64Array, rng: Rng): number {
  const u = rng.next()
  let c = 0
  while (c < cumulative.length - 1 && u >= (cumulative[c] as number)) c++
  return c
}

/**
 * Draws `rows` points from `k` Gaussian components in `cols` dimensions. Centres are uniform
 * in [-spread, spread] per axis and each component has its own standard deviation per axis
 * in [0.5, 1.5], so clusters overlap partly, as behavioural features do. A share
 * `noiseShare` of the rows is uniform background over the centres' box widened by 2.
 */
export function gaussianMixture(
  rows: number,
  cols: number,
  k: number,
  seed: number,
  spread = 4,
  noiseShare = 0,
): Mixture {
  const rng = createRng(seed)
  const centres = Float64Array.from({ length: k * cols }, () => spread * (2 * rng.next() - 1))
  const scales = Float64Array.from({ length: k * cols }, () => 0.5 + rng.next())
  const weights = componentWeights(k, rng)
  const cumulative = new Float64Array(k)
  weights.reduce((sum, w, c) => (cumulative[c] = sum + w), 0)

  const x = createMatrix(rows, cols)
  const truth = new Int32Array(rows)
  for (let i = 0; i < rows; i++) {
    if (rng.next() < noiseShare) {
      truth[i] = -1
      for (let j = 0; j < cols; j++) x.data[i * cols + j] = (spread + 2) * (2 * rng.next() - 1)
      continue
    }
    const c = drawComponent(cumulative, rng)
    truth[i] = c
    for (let j = 0; j < cols; j++) {
      const p = c * cols + j
      x.data[i * cols + j] = (centres[p] as number) + (scales[p] as number) * rng.normal()
    }
  }
  return { x, truth }
}

export interface Labelled {
  x: Matrix
  y: Uint8Array
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z))

/**
 * Draws `rows` rows of `cols` >= 8 standard normal features, with columns 6 and 7 correlated
 * with columns 0 and 1 (r about 0.7), and a label from a nonlinear logit: an interaction
 * sin(x0 * x1), a square x2^2, a threshold-gated slope on x3 and x4, and a product x5 * x6.
 * The remaining columns are noise. About 40% of the labels are 1.
 */
export function nonlinearClassification(rows: number, cols: number, seed: number): Labelled {
  if (cols < 8) throw new RangeError(`nonlinearClassification needs cols >= 8, got ${cols}`)
  const rng = createRng(seed)
  const x = createMatrix(rows, cols)
  const y = new Uint8Array(rows)
  for (let i = 0; i < rows; i++) {
    const o = i * cols
    for (let j = 0; j < cols; j++) x.data[o + j] = rng.normal()
    x.data[o + 6] = 0.7 * (x.data[o] as number) + 0.71 * (x.data[o + 6] as number)
    x.data[o + 7] = 0.7 * (x.data[o + 1] as number) + 0.71 * (x.data[o + 7] as number)
    const v = (j: number) => x.data[o + j] as number
    const logit =
      1.5 * Math.sin(v(0) * v(1)) +
      (v(2) * v(2) - 1) +
      (v(3) > 0.5 ? 1.2 * v(4) : -0.5) +
      0.8 * v(5) * v(6) -
      0.2
    y[i] = rng.next() < sigmoid(logit) ? 1 : 0
  }
  return { x, y }
}
