import { beforeAll, describe, expect, it } from 'vitest'
import { FEATURE_NAMES } from '../../../src/features/catalogue.ts'
import type { FeatureMatrix } from '../../../src/features/compute.ts'
import { createMatrix } from '../../../src/ml/matrix.ts'
import { prAuc } from '../../../src/ml/metrics.ts'
import { createRng } from '../../../src/ml/random.ts'
import { loadTfBackend } from '../../../inference/tf-backend.ts'
import {
  CHURN_FEATURES,
  MIN_MLP_TRAIN_CHURNERS,
  MIN_WINDOW_CLASS_ROWS,
  trainChurn,
  type ChurnSplit,
  type ChurnTraining,
} from '../../../training/churn.ts'
import { TrainingDataError } from '../../../training/errors.ts'

const OPENS = FEATURE_NAMES.indexOf('opens_30d')
const RECENCY = FEATURE_NAMES.indexOf('days_since_last_open')
const UNSUBSCRIBED = FEATURE_NAMES.indexOf('unsubscribed')

/**
 * A window of `rows` contacts whose churn depends on opens_30d and days_since_last_open; every
 * tenth contact is unsubscribed and must be left out. `churnShift` moves the churn rate.
 */
function window(rows: number, seed: number, churnShift = 0): ChurnSplit {
  const rng = createRng(seed)
  const matrix = createMatrix(rows, FEATURE_NAMES.length)
  const labels = new Uint8Array(rows)
  for (let i = 0; i < rows; i++) {
    const opens = Math.floor(Math.exp(rng.next() * 3)) - 1
    const recency = Math.floor(rng.next() * 120)
    matrix.data[i * FEATURE_NAMES.length + OPENS] = opens
    matrix.data[i * FEATURE_NAMES.length + RECENCY] = recency
    matrix.data[i * FEATURE_NAMES.length + UNSUBSCRIBED] = i % 10 === 9 ? 1 : 0
    const logit = -0.8 * opens + 0.04 * (recency - 60) + churnShift
    labels[i] = rng.next() < 1 / (1 + Math.exp(-logit)) ? 1 : 0
  }
  const features: FeatureMatrix = {
    asOfMs: 0,
    featureNames: FEATURE_NAMES,
    contactKeys: Array.from({ length: rows }, (_, i) => `c${seed}-${i}@example.com`),
    timeZones: Array.from({ length: rows }, () => 'UTC'),
    matrix,
  }
  return { features, labels }
}

const OPTIONS = { seed: 3, nTrees: 15, epochs: 4 }

describe('trainChurn with both models', () => {
  let churn: ChurnTraining

  beforeAll(async () => {
    await loadTfBackend()
    churn = await trainChurn(
      { train: window(1500, 1), validation: window(1000, 2), test: window(1000, 3) },
      OPTIONS,
    )
  })

  it('trains, calibrates and measures both candidates', () => {
    expect(churn.candidates.map((candidate) => candidate.kind)).toEqual([
      'histogram-forest',
      'tfjs-mlp',
    ])
    for (const candidate of churn.candidates) {
      expect(candidate.skipped).toBeUndefined()
      // The signal is strong, so both rank well; 900 reachable rows per test window.
      expect(candidate.test?.rocAuc).toBeGreaterThan(0.8)
      expect(candidate.test?.rows).toBe(900)
      expect(candidate.test?.reliability.reduce((sum, bin) => sum + bin.count, 0)).toBe(900)
    }
  })

  it('chooses the higher validation PR AUC', () => {
    const [forest, mlp] = churn.candidates
    const expected =
      (mlp?.validationPrAuc as number) > (forest?.validationPrAuc as number)
        ? 'tfjs-mlp'
        : 'histogram-forest'
    expect(churn.chosen).toBe(expected)
    const chosen = churn.candidates.find((candidate) => candidate.kind === churn.chosen)
    expect(churn.metrics.testPrAuc).toBe(chosen?.test?.prAuc)
    expect(Array.from(churn.test.scores)).toEqual(Array.from(chosen?.testScores ?? []))
  })

  it('improves the Brier score by calibration', () => {
    expect(prAuc(churn.test.labels, churn.test.scores)).toBeCloseTo(churn.metrics.testPrAuc, 12)
    // Balanced class weights push raw scores away from the true rates; calibration undoes it.
    for (const candidate of churn.candidates) {
      expect(candidate.test?.brier).toBeLessThan(candidate.testBrierUncalibrated as number)
    }
  })

  it('leaves unsubscribed contacts out', () => {
    expect(churn.metrics.trainRows).toBe(1350)
    expect(churn.test.contactKeys.some((key) => key.endsWith('-9@example.com'))).toBe(false)
  })

  it('ranks the informative features first', () => {
    const top = churn.importance.slice(0, 2).map((entry) => entry.feature)
    expect(top.sort()).toEqual(['days_since_last_open', 'opens_30d'])
    expect(churn.importance).toHaveLength(CHURN_FEATURES.length)
  })

  it('stores the training medians', () => {
    expect(churn.medians).toHaveLength(CHURN_FEATURES.length)
    expect(churn.medians[CHURN_FEATURES.indexOf('tenure_days')]).toBe(0)
  })
})

describe('trainChurn fallbacks', () => {
  it('skips the MLP with few training churners', async () => {
    // About a fifth of 600 rows churn at this shift: fewer than MIN_MLP_TRAIN_CHURNERS.
    const train = window(600, 4, -1.5)
    const churners = train.labels.reduce((sum, label, i) => sum + (i % 10 === 9 ? 0 : label), 0)
    expect(churners).toBeLessThan(MIN_MLP_TRAIN_CHURNERS)
    const churn = await trainChurn(
      { train, validation: window(400, 5), test: window(400, 6) },
      OPTIONS,
    )
    expect(churn.chosen).toBe('histogram-forest')
    expect(churn.mlp).toBeUndefined()
    expect(churn.candidates[1]).toEqual({
      kind: 'tfjs-mlp',
      skipped: `the training window has ${churners} churners; at least ${MIN_MLP_TRAIN_CHURNERS} are needed`,
    })
  })

  it('stops when a window has too few churners', async () => {
    // A shift of -12 leaves almost no contact churning.
    const validation = window(300, 7, -12)
    const reachable = validation.labels.filter((_, i) => i % 10 !== 9)
    const churners = reachable.reduce((sum, label) => sum + label, 0)
    expect(churners).toBeLessThan(MIN_WINDOW_CLASS_ROWS)
    const run = trainChurn({ train: window(300, 8), validation, test: window(300, 9) }, OPTIONS)
    await expect(run).rejects.toThrow(TrainingDataError)
    await expect(run).rejects.toThrow(
      `The validation window (features as of the cutoff minus the horizon) has 270 reachable contacts ` +
        `with ${churners} churners; at least ${MIN_WINDOW_CLASS_ROWS} of each are needed. ` +
        'Ingest more contacts or a longer history, or move --as-of.',
    )
  })

  it('stops when a window has too few engaged contacts', async () => {
    const test = window(300, 10, 40)
    const engaged = test.labels.filter((label, i) => i % 10 !== 9 && label === 0).length
    const run = trainChurn({ train: window(300, 11), validation: window(300, 12), test }, OPTIONS)
    await expect(run).rejects.toThrow(
      `The test window (features as of the cutoff) has 270 reachable contacts with ${engaged} engaged contacts; ` +
        `at least ${MIN_WINDOW_CLASS_ROWS} of each are needed.`,
    )
  })
})
