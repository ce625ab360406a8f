/**
 * Isotonic calibration of classifier scores: a non-decreasing map from a score to the
 * probability of label 1, fitted by pool adjacent violators (PAVA) on a held-out window.
 * It reproduces scikit-learn 1.2's IsotonicRegression(out_of_bounds='clip'), which
 * CalibratedClassifierCV(method='isotonic') fits per class.
 */
import { z } from 'zod'

/** A fitted isotonic calibration as plain JSON, stored in model bundles. */
export interface IsotonicCalibration {
  kind: 'isotonic'
  formatVersion: 1
  /** Increasing scores at which the map is known; between them it is linear, outside clipped. */
  x: number[]
  /** Probability at each entry of `x`, non-decreasing. */
  y: number[]
}

const finite = z.number().refine(Number.isFinite, 'expected a finite number')

const calibrationSchema = z
  .object({
    kind: z.literal('isotonic'),
    formatVersion: z.literal(1),
    x: z.array(finite).min(1),
    y: z.array(z.number().min(0).max(1)).min(1),
  })
  .superRefine((value, context) => {
    if (value.x.length !== value.y.length) {
      context.addIssue({
        code: 'custom',
        message: 'x and y must have the same length',
        path: ['y'],
      })
      return
    }
    for (let i = 1; i < value.x.length; i++) {
      if (!((value.x[i] as number) > (value.x[i - 1] as number))) {
        context.addIssue({ code: 'custom', message: 'x must be increasing', path: ['x', i] })
        return
      }
      if ((value.y[i] as number) < (value.y[i - 1] as number)) {
        context.addIssue({ code: 'custom', message: 'y must be non-decreasing', path: ['y', i] })
        return
      }
    }
  })

/**
 * Fits an isotonic calibration of `scores` to 0/1 `labels`. Tied scores are merged first into
 * their mean label, weighted by count, as scikit-learn does. Throws a RangeError for empty or
 * unequal inputs, a non-finite score or a label other than 0 or 1.
 */
export function fitIsotonic(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
): IsotonicCalibration {
  if (scores.length !== labels.length || scores.length === 0) {
    throw new RangeError(
      `scores and labels must have the same non-zero length, got ${scores.length} and ${labels.length}`,
    )
  }
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i]))
      throw new RangeError(`scores contains ${scores[i]} at index ${i}`)
    if (labels[i] !== 0 && labels[i] !== 1) {
      throw new RangeError(`labels must be 0 or 1, got ${labels[i]} at index ${i}`)
    }
  }
  const order = Array.from({ length: scores.length }, (_, i) => i).sort(
    (a, b) => (scores[a] as number) - (scores[b] as number),
  )

  // Distinct scores with the label sum and count of each.
  const xs: number[] = []
  const sums: number[] = []
  const weights: number[] = []
  for (const i of order) {
    const score = scores[i] as number
    if (xs.length > 0 && xs[xs.length - 1] === score) {
      sums[sums.length - 1]! += labels[i] as number
      weights[weights.length - 1]! += 1
    } else {
      xs.push(score)
      sums.push(labels[i] as number)
      weights.push(1)
    }
  }

  // PAVA: a stack of blocks, each with its first point index, label sum and weight. A new
  // point merges with the blocks before it while their means would decrease.
  const starts: number[] = []
  const blockSums: number[] = []
  const blockWeights: number[] = []
  for (let k = 0; k < xs.length; k++) {
    starts.push(k)
    blockSums.push(sums[k] as number)
    blockWeights.push(weights[k] as number)
    while (blockSums.length > 1) {
      const last = blockSums.length - 1
      const lastMean = (blockSums[last] as number) / (blockWeights[last] as number)
      const previousMean = (blockSums[last - 1] as number) / (blockWeights[last - 1] as number)
      if (previousMean < lastMean) break
      blockSums[last - 1]! += blockSums[last] as number
      blockWeights[last - 1]! += blockWeights[last] as number
      starts.pop()
      blockSums.pop()
      blockWeights.pop()
    }
  }

  // Each block is flat, so its first and last scores suffice for linear interpolation.
  const x: number[] = []
  const y: number[] = []
  for (let b = 0; b < starts.length; b++) {
    const mean = (blockSums[b] as number) / (blockWeights[b] as number)
    const first = starts[b] as number
    const last = b + 1 < starts.length ? (starts[b + 1] as number) - 1 : xs.length - 1
    x.push(xs[first] as number)
    y.push(mean)
    if (last > first) {
      x.push(xs[last] as number)
      y.push(mean)
    }
  }
  return { kind: 'isotonic', formatVersion: 1, x, y }
}

/**
 * Maps scores to calibrated probabilities by linear interpolation between the fitted points,
 * clipped to the first and last probability outside them (numpy.interp). A NaN score maps to
 * NaN.
 *
 * NOTE: the lowest and highest levels are 0 or 1 when the extreme scores of the fitting window
 * were all one class, as in scikit-learn, so a few contacts can get a certain 0 or 1.
 */
export function applyCalibration(
  calibration: IsotonicCalibration,
  scores: ArrayLike<number>,
): Float64Array {
  const { x, y } = calibration
  const last = x.length - 1
  const probabilities = new Float64Array(scores.length)
  for (let i = 0; i < scores.length; i++) {
    const score = scores[i] as number
    if (Number.isNaN(score)) {
      probabilities[i] = NaN
    } else if (score <= (x[0] as number)) {
      probabilities[i] = y[0] as number
    } else if (score >= (x[last] as number)) {
      probabilities[i] = y[last] as number
    } else {
      // The first index whose x is greater than the score; x[high - 1] <= score < x[high].
      let low = 0
      let high = last
      while (low < high) {
        const middle = (low + high) >>> 1
        if ((x[middle] as number) <= score) low = middle + 1
        else high = middle
      }
      const x0 = x[high - 1] as number
      const y0 = y[high - 1] as number
      const slope = ((y[high] as number) - y0) / ((x[high] as number) - x0)
      probabilities[i] = y0 + slope * (score - x0)
    }
  }
  return probabilities
}

/**
 * Validates a calibration read from JSON. Throws an Error that names each invalid field, for
 * example `y[3]`.
 */
export function parseCalibration(json: unknown): IsotonicCalibration {
  const result = calibrationSchema.safeParse(json)
  if (!result.success) {
    throw new Error(`invalid isotonic calibration: ${z.prettifyError(result.error)}`)
  }
  return result.data
}
