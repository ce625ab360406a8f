/**
 * The k-means++ start of src/ml/kmeans-seeding.ts, rebuilt here because fitKMeans does not
 * export its seeding. The benchmark hands these centroids to scikit-learn as `init=array`, so
 * both libraries run Lloyd iterations from the same start.
 * `checkSameStart` verifies that this copy still matches fitKMeans.
 */
import { fitKMeans } from '../../src/ml/kmeans.ts'
import type { Matrix } from '../../src/ml/matrix.ts'
import { createRng, type Rng } from '../../src/ml/random.ts'

function squaredDistance(a: Float64Array, ai: number, b: Float64Array, bi: number, cols: number) {
  let sum = 0
  for (let j = 0; j < cols; j++) {
    const d = (a[ai + j] as number) - (b[bi + j] as number)
    sum += d * d
  }
  return sum
}

function potential(m: Matrix, candidate: number, closest: Float64Array, out: Float64Array) {
  const { rows, cols, data } = m
  let sum = 0
  for (let i = 0; i < rows; i++) {
    const distance = Math.min(
      closest[i] as number,
      squaredDistance(data, i * cols, data, candidate * cols, cols),
    )
    out[i] = distance
    sum += distance
  }
  return sum
}

function draw(cumulative: Float64Array, total: number, rng: Rng): number {
  if (total <= 0) return rng.int(cumulative.length)
  const target = rng.next() * total
  let low = 0
  let high = cumulative.length - 1
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((cumulative[middle] as number) > target) high = middle
    else low = middle + 1
  }
  return low
}

/** Returns the k x cols start that fitKMeans draws for its first run (`nInit` index 0). */
export function kmeansPlusPlusStart(m: Matrix, k: number, seed: number): Matrix {
  const { rows, cols, data } = m
  const rng = createRng(seed).fork(0)
  const centroids = new Float64Array(k * cols)
  const first = rng.int(rows)
  centroids.set(data.subarray(first * cols, (first + 1) * cols), 0)
  let closest = new Float64Array(rows)
  potential(m, first, new Float64Array(rows).fill(Infinity), closest)
  let trial = new Float64Array(rows)
  let best = new Float64Array(rows)
  const cumulative = new Float64Array(rows)
  const trials = 2 + Math.floor(Math.log(k))
  for (let c = 1; c < k; c++) {
    let bestPotential = Infinity
    let bestIndex = 0
    let running = 0
    for (let i = 0; i < rows; i++) cumulative[i] = running += closest[i] as number
    for (let t = 0; t < trials; t++) {
      const candidate = draw(cumulative, running, rng)
      const value = potential(m, candidate, closest, trial)
      if (value < bestPotential) {
        bestPotential = value
        bestIndex = candidate
        ;[trial, best] = [best, trial]
      }
    }
    ;[closest, best] = [best, closest]
    centroids.set(data.subarray(bestIndex * cols, (bestIndex + 1) * cols), c * cols)
  }
  return { rows: k, cols, data: centroids }
}

/** Computes one Lloyd step by full scan: the means of the rows nearest each start centroid. */
function lloydStep(m: Matrix, start: Matrix): Float64Array {
  const { rows, cols, data } = m
  const k = start.rows
  const sums = new Float64Array(k * cols)
  const counts = new Float64Array(k)
  for (let i = 0; i < rows; i++) {
    let best = 0
    let bestDistance = Infinity
    for (let c = 0; c < k; c++) {
      const distance = squaredDistance(data, i * cols, start.data, c * cols, cols)
      if (distance < bestDistance) {
        bestDistance = distance
        best = c
      }
    }
    counts[best]! += 1
    for (let j = 0; j < cols; j++) sums[best * cols + j]! += data[i * cols + j] as number
  }
  return sums.map((sum, p) => sum / (counts[Math.floor(p / cols)] as number))
}

/**
 * Throws unless fitKMeans with one iteration from `seed` lands where one Lloyd step from
 * `start` lands, which holds only when both began at the same centroids. A start with an
 * empty cluster fails this check, because fitKMeans then relocates a row.
 */
export function checkSameStart(m: Matrix, start: Matrix, seed: number): void {
  const expected = lloydStep(m, start)
  const fitted = fitKMeans(m, { k: start.rows, seed, nInit: 1, maxIterations: 1 }).centroids.data
  let largest = 0
  for (let p = 0; p < expected.length; p++) {
    largest = Math.max(largest, Math.abs((expected[p] as number) - (fitted[p] as number)))
  }
  if (!(largest <= 1e-9)) {
    throw new Error(
      `kmeans-start.ts no longer matches fitKMeans (largest centroid difference ${largest}); ` +
        'update it to the seeding in src/ml/kmeans-seeding.ts',
    )
  }
}
