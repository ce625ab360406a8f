import { describe, expect, it } from 'vitest'
import { applyCalibration, fitIsotonic, parseCalibration } from '../../../src/ml/calibration.ts'
import { logLoss, reliabilityCurve } from '../../../src/ml/metrics.ts'

// Produced with scikit-learn 1.2.1 (numpy's default_rng):
//   rng = np.random.default_rng(7)
//   scores = np.round(rng.uniform(0, 1, 24), 2)
//   labels = (rng.uniform(0, 1, 24) < scores).astype(int)
//   iso = IsotonicRegression(out_of_bounds='clip').fit(scores, labels)
//   iso.predict(QUERIES); iso.predict(scores)
//   log_loss(labels, iso.predict(scores))
//   calibration_curve(labels, scores, n_bins=5, strategy='uniform')
// CalibratedClassifierCV(method='isotonic') fits this same IsotonicRegression on the
// classifier's scores.
const SCORES = [
  0.63, 0.9, 0.78, 0.23, 0.3, 0.87, 0.01, 0.82, 0.8, 0.47, 0.3, 0.28, 0.25, 0.45, 0.5, 0.55, 1.0,
  0.79, 0.62, 0.99, 0.22, 0.16, 0.61, 0.04,
]
const LABELS = [1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0, 1, 0]
const QUERIES = [-0.5, 0.0, 0.05, 0.33, 0.5, 0.61, 0.9, 1.5]
const SKLEARN_QUERY_PROBABILITIES = [0.0, 0.0, 0.0, 0.4, 2 / 3, 5 / 6, 1.0, 1.0]
const SKLEARN_FITTED = [
  5 / 6,
  1,
  5 / 6,
  0,
  1 / 3,
  1,
  0,
  1,
  1,
  2 / 3,
  1 / 3,
  1 / 3,
  0,
  2 / 3,
  2 / 3,
  5 / 6,
  1,
  5 / 6,
  5 / 6,
  1,
  0,
  0,
  5 / 6,
  0,
]
const SKLEARN_LOG_LOSS = 0.2717688442902795
const SKLEARN_CURVE_OBSERVED = [0.0, 1 / 6, 0.75, 5 / 6, 1.0]
const SKLEARN_CURVE_PREDICTED = [0.07, 0.26333333333333336, 0.4925, 0.7050000000000001, 0.916]

describe('fitIsotonic', () => {
  const calibration = fitIsotonic(SCORES, LABELS)

  it('matches scikit-learn on new scores', () => {
    const probabilities = applyCalibration(calibration, QUERIES)
    SKLEARN_QUERY_PROBABILITIES.forEach((expected, i) => {
      expect(probabilities[i]).toBeCloseTo(expected, 12)
    })
  })

  it('matches scikit-learn on the fitted scores', () => {
    const probabilities = applyCalibration(calibration, SCORES)
    SKLEARN_FITTED.forEach((expected, i) => expect(probabilities[i]).toBeCloseTo(expected, 12))
    expect(logLoss(LABELS, probabilities)).toBeCloseTo(SKLEARN_LOG_LOSS, 12)
  })

  it('stores increasing x and non-decreasing y', () => {
    for (let i = 1; i < calibration.x.length; i++) {
      expect(calibration.x[i]).toBeGreaterThan(calibration.x[i - 1] as number)
      expect(calibration.y[i]).toBeGreaterThanOrEqual(calibration.y[i - 1] as number)
    }
  })

  it('merges tied scores into their mean label', () => {
    const tied = fitIsotonic([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 1])
    expect(tied.x).toEqual([0.5])
    expect(tied.y).toEqual([0.75])
  })

  it('pools a decreasing pair', () => {
    // Means 1 then 0 violate monotonicity, so both become 0.5.
    const pooled = fitIsotonic([0.1, 0.2, 0.3], [1, 0, 1])
    expect(applyCalibration(pooled, [0.1, 0.2, 0.3])).toEqual(Float64Array.from([0.5, 0.5, 1]))
  })

  it('rejects invalid input', () => {
    expect(() => fitIsotonic([], [])).toThrow(/same non-zero length/)
    expect(() => fitIsotonic([0.1, NaN], [0, 1])).toThrow('scores contains NaN at index 1')
    expect(() => fitIsotonic([0.1, 0.2], [0, 2])).toThrow('labels must be 0 or 1, got 2 at index 1')
  })
})

describe('parseCalibration', () => {
  it('round-trips a fitted calibration', () => {
    const calibration = fitIsotonic(SCORES, LABELS)
    expect(parseCalibration(JSON.parse(JSON.stringify(calibration)))).toEqual(calibration)
  })

  it('names the invalid field', () => {
    const base = { kind: 'isotonic', formatVersion: 1 }
    expect(() => parseCalibration({ ...base, x: [0.1, 0.1], y: [0, 1] })).toThrow(
      /x must be increasing[\s\S]*x\[1\]/,
    )
    expect(() => parseCalibration({ ...base, x: [0.1, 0.2], y: [1, 0.5] })).toThrow(
      /y must be non-decreasing/,
    )
    expect(() => parseCalibration({ ...base, x: [0.1], y: [1.5] })).toThrow(/y\[0\]/)
    expect(() => parseCalibration({ ...base, x: [0.1, 0.2], y: [0] })).toThrow(/same length/)
    expect(() => parseCalibration({ kind: 'platt', formatVersion: 1, x: [0], y: [0] })).toThrow(
      /kind/,
    )
  })
})

describe('reliabilityCurve', () => {
  it('matches calibration_curve on non-empty bins', () => {
    const curve = reliabilityCurve(LABELS, SCORES, 5)
    const filled = curve.filter((bin) => bin.count > 0)
    expect(filled.map((bin) => bin.observedRate)).toEqual(
      SKLEARN_CURVE_OBSERVED.map((value) => expect.closeTo(value, 12)),
    )
    expect(filled.map((bin) => bin.meanPredicted)).toEqual(
      SKLEARN_CURVE_PREDICTED.map((value) => expect.closeTo(value, 12)),
    )
    expect(curve.reduce((sum, bin) => sum + bin.count, 0)).toBe(SCORES.length)
  })

  it('keeps empty bins with null means', () => {
    const curve = reliabilityCurve([0, 1], [0.05, 1], 4)
    expect(curve.map((bin) => bin.count)).toEqual([1, 0, 0, 1])
    expect(curve[1]?.meanPredicted).toBeNull()
    expect(curve[1]?.observedRate).toBeNull()
    expect(curve[3]).toEqual({ lower: 0.75, upper: 1, count: 1, meanPredicted: 1, observedRate: 1 })
  })

  it('rejects an invalid bin count', () => {
    expect(() => reliabilityCurve([0], [0.5], 0)).toThrow('bins must be an integer >= 1, got 0')
  })
})

describe('logLoss', () => {
  it('clips certain wrong predictions', () => {
    // -ln(1e-15) for the wrong one, -ln(1 - 1e-15) for the right one, averaged.
    expect(logLoss([1, 0], [0, 0])).toBeCloseTo((-Math.log(1e-15) - Math.log(1 - 1e-15)) / 2, 10)
  })

  it('rejects a probability above 1', () => {
    expect(() => logLoss([1], [1.5])).toThrow('probabilities must be in [0, 1], got 1.5 at index 0')
  })
})
