import { FEATURES, FEATURE_NAMES } from '../src/features/catalogue.ts'
import { selectFeatures, type FeatureMatrix } from '../src/features/compute.ts'
import { applyCalibration, fitIsotonic, type IsotonicCalibration } from '../src/ml/calibration.ts'
import { trainForest, type ForestModel } from '../src/ml/forest.ts'
import { columnMedians, permutationImportance } from '../src/ml/importance.ts'
import { selectRows, type Matrix } from '../src/ml/matrix.ts'
import {
  brierScore,
  logLoss,
  prAuc,
  reliabilityCurve,
  rocAuc,
  type ReliabilityBin,
} from '../src/ml/metrics.ts'
import type { ScalerParams } from '../src/ml/scaler.ts'
import { loadTfBackend } from '../inference/tf-backend.ts'
import { TrainingDataError } from './errors.ts'
import { trainMlp, type TrainedMlp } from './mlp.ts'

/** Contacts that unsubscribed or bounced hard cannot engage, so they are left out of churn training and scoring. */
const EXCLUSION_FEATURES = ['unsubscribed', 'hard_bounced']

export const CHURN_FEATURES = FEATURE_NAMES.filter((name) => !EXCLUSION_FEATURES.includes(name))

/**
 * Churners and engaged contacts each window needs at the least. Below it training stops:
 * isotonic calibration and the metrics have too few of the rarer class to mean anything.
 */
export const MIN_WINDOW_CLASS_ROWS = 10

/**
 * Churners the training window needs for the MLP to be trained at all. With fewer the MLP is
 * skipped and the forest is the churn model.
 * NOTE: this threshold is an estimate, not a measured learning curve.
 */
export const MIN_MLP_TRAIN_CHURNERS = 200

export type ChurnModelKind = 'histogram-forest' | 'tfjs-mlp'

/** Row indices of contacts still reachable: not unsubscribed and without a hard bounce. */
export function reachableRows(features: FeatureMatrix): number[] {
  const exclusion = selectFeatures(features, EXCLUSION_FEATURES)
  const rows: number[] = []
  for (let i = 0; i < exclusion.rows; i++) {
    if (exclusion.data[i * 2] === 0 && exclusion.data[i * 2 + 1] === 0) rows.push(i)
  }
  return rows
}

export interface ChurnSplit {
  features: FeatureMatrix
  /** Churn label per row of `features`. */
  labels: Uint8Array
}

/** The three windows in time order, each with features as of its cutoff and labels after it. */
export interface ChurnWindows {
  train: ChurnSplit
  validation: ChurnSplit
  test: ChurnSplit
}

/** Metrics of calibrated probabilities on one window. */
export interface WindowMetrics {
  rows: number
  churnRate: number
  rocAuc: number
  prAuc: number
  brier: number
  logLoss: number
  reliability: ReliabilityBin[]
}

/** One churn model trained on the split, or the reason it was not. */
export interface ChurnCandidate {
  kind: ChurnModelKind
  /** Set when the model was not trained; the other fields are then absent. */
  skipped?: string
  /** tfjs backend the MLP was trained on. */
  backend?: string
  /** PR AUC of the uncalibrated scores on the validation window, the selection metric. */
  validationPrAuc?: number
  /** In-sample for the calibration, which is fitted on this window. */
  validation?: WindowMetrics
  test?: WindowMetrics
  /** Test Brier score before calibration, to show what calibration changed. */
  testBrierUncalibrated?: number
  /** Calibrated test probabilities in the order of `ChurnTraining.test.contactKeys`. */
  testScores?: Float64Array
}

export interface ChurnTraining {
  /** The model that scores: the candidate with the higher validation PR AUC. */
  chosen: ChurnModelKind
  /** The forest candidate, always trained. */
  model: ForestModel
  /** The MLP candidate, absent when it was skipped. */
  mlp?: TrainedMlp
  /** Isotonic calibration of the chosen model's scores, fitted on the validation window. */
  calibration: IsotonicCalibration
  features: string[]
  /** Median of each churn feature on the training window, the reference of per-contact reasons. */
  medians: number[]
  /** Permutation importance of the chosen model on the validation window, largest first. */
  importance: { feature: string; mean: number; std: number }[]
  candidates: ChurnCandidate[]
  metrics: {
    trainRows: number
    trainChurnRate: number
    validationRows: number
    validationChurnRate: number
    testRows: number
    testChurnRate: number
    testRocAuc: number
    testPrAuc: number
    testBrier: number
  }
  /** Test rows' contact keys, labels and the chosen model's calibrated probabilities. */
  test: { contactKeys: string[]; labels: Uint8Array; scores: Float64Array }
}

export interface ChurnOptions {
  seed: number
  nTrees?: number
  maxDepth?: number
  /** MLP epochs; default 20. */
  epochs?: number
  /** Train only the forest, as when the MLP would be skipped for too few churners. */
  forestOnly?: boolean
}

interface WindowSet {
  x: Matrix
  y: Uint8Array
  keys: string[]
}

function reachable(split: ChurnSplit): WindowSet {
  const rows = reachableRows(split.features)
  return {
    x: selectRows(selectFeatures(split.features, CHURN_FEATURES), rows),
    y: Uint8Array.from(rows, (row) => split.labels[row] as number),
    keys: rows.map((row) => split.features.contactKeys[row] as string),
  }
}

const WINDOW_CUTOFFS: Record<keyof ChurnWindows, string> = {
  train: 'the cutoff minus twice the horizon',
  validation: 'the cutoff minus the horizon',
  test: 'the cutoff',
}

/** Rejects a window with fewer than MIN_WINDOW_CLASS_ROWS churners or engaged contacts. */
function requireClasses(window: keyof ChurnWindows, labels: Uint8Array): void {
  const churners = labels.reduce((sum, value) => sum + value, 0)
  const engaged = labels.length - churners
  const shortOf = [
    churners < MIN_WINDOW_CLASS_ROWS ? `${churners} churners` : undefined,
    engaged < MIN_WINDOW_CLASS_ROWS ? `${engaged} engaged contacts` : undefined,
  ].filter((part) => part !== undefined)
  if (shortOf.length === 0) return
  throw new TrainingDataError(
    `The ${window} window (features as of ${WINDOW_CUTOFFS[window]}) has ${labels.length} reachable contacts ` +
      `with ${shortOf.join(' and ')}; at least ${MIN_WINDOW_CLASS_ROWS} of each are needed. ` +
      'Ingest more contacts or a longer history, or move --as-of.',
  )
}

const mean = (values: Uint8Array) =>
  values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length)

function windowMetrics(labels: Uint8Array, probabilities: Float64Array): WindowMetrics {
  return {
    rows: labels.length,
    churnRate: mean(labels),
    rocAuc: rocAuc(labels, probabilities),
    prAuc: prAuc(labels, probabilities),
    brier: brierScore(labels, probabilities),
    logLoss: logLoss(labels, probabilities),
    reliability: reliabilityCurve(labels, probabilities),
  }
}

/** Flags the features the catalogue marks as skewed (counts, day spans) for log1p in the MLP scaler. */
export function log1pFlags(): boolean[] {
  const skewed = new Map(FEATURES.map((feature) => [feature.name, feature.skewed]))
  return CHURN_FEATURES.map((name) => skewed.get(name) === true)
}

interface Evaluated {
  candidate: ChurnCandidate
  predict: (x: Matrix) => Float64Array
  calibration: IsotonicCalibration
}

function evaluate(
  kind: ChurnModelKind,
  predict: (x: Matrix) => Float64Array,
  validation: WindowSet,
  test: WindowSet,
): Evaluated {
  const validationScores = predict(validation.x)
  const calibration = fitIsotonic(validationScores, validation.y)
  const testScores = predict(test.x)
  const calibratedTest = applyCalibration(calibration, testScores)
  return {
    predict,
    calibration,
    candidate: {
      kind,
      validationPrAuc: prAuc(validation.y, validationScores),
      validation: windowMetrics(validation.y, applyCalibration(calibration, validationScores)),
      test: windowMetrics(test.y, calibratedTest),
      testBrierUncalibrated: brierScore(test.y, testScores),
      testScores: calibratedTest,
    },
  }
}

/**
 * Trains the churn forest and MLP on the training window and calibrates each on the validation
 * window. The one with the higher validation PR AUC of uncalibrated scores is kept, because
 * calibrated validation metrics would be in-sample. Both are then measured on the test window.
 * Every window's labels lie after its features, and the test labels after everything the
 * models saw. Both models
 * weight the classes as class_weight='balanced'. Throws a TrainingDataError when a window has
 * too few churners or engaged contacts.
 */
export async function trainChurn(
  windows: ChurnWindows,
  options: ChurnOptions,
  onProgress?: (done: number, total: number) => void,
): Promise<ChurnTraining> {
  const train = reachable(windows.train)
  const validation = reachable(windows.validation)
  const test = reachable(windows.test)
  requireClasses('train', train.y)
  requireClasses('validation', validation.y)
  requireClasses('test', test.y)

  const trainChurners = train.y.reduce((sum, value) => sum + value, 0)
  const mlpSkipped = options.forestOnly
    ? 'not requested'
    : trainChurners < MIN_MLP_TRAIN_CHURNERS
      ? `the training window has ${trainChurners} churners; at least ${MIN_MLP_TRAIN_CHURNERS} are needed`
      : undefined
  const nTrees = options.nTrees ?? 100
  const epochs = options.epochs ?? 20
  const total = nTrees + (mlpSkipped ? 0 : epochs)

  const forest = trainForest(
    train.x,
    train.y,
    {
      nTrees,
      maxDepth: options.maxDepth ?? 10,
      minSamplesLeaf: 10,
      seed: options.seed,
      classWeight: 'balanced',
    },
    (done) => onProgress?.(done, total),
  )
  const evaluated = [evaluate('histogram-forest', (x) => forest.predictProba(x), validation, test)]
  let mlp: TrainedMlp | undefined
  if (mlpSkipped === undefined) {
    const backend = await loadTfBackend()
    mlp = await trainMlp(
      train.x,
      train.y,
      { seed: options.seed, epochs, log1p: log1pFlags() },
      (done) => onProgress?.(nTrees + done, total),
    )
    const trained = mlp
    const entry = evaluate('tfjs-mlp', (x) => trained.predictProba(x), validation, test)
    entry.candidate.backend = backend.name
    evaluated.push(entry)
  }

  const best = evaluated.reduce((a, b) =>
    (b.candidate.validationPrAuc as number) > (a.candidate.validationPrAuc as number) ? b : a,
  )
  const candidates = evaluated.map((entry) => entry.candidate)
  if (mlpSkipped !== undefined) candidates.push({ kind: 'tfjs-mlp', skipped: mlpSkipped })

  const importance = permutationImportance(best.predict, validation.x, validation.y, {
    seed: options.seed,
  })
  const ranked = CHURN_FEATURES.map((feature, j) => ({
    feature,
    mean: importance.mean[j] as number,
    std: importance.std[j] as number,
  })).sort((a, b) => b.mean - a.mean)

  const chosenTest = best.candidate.test as WindowMetrics
  return {
    chosen: best.candidate.kind,
    model: forest,
    ...(mlp ? { mlp } : {}),
    calibration: best.calibration,
    features: CHURN_FEATURES,
    medians: Array.from(columnMedians(train.x)),
    importance: ranked,
    candidates,
    metrics: {
      trainRows: train.x.rows,
      trainChurnRate: mean(train.y),
      validationRows: validation.x.rows,
      validationChurnRate: mean(validation.y),
      testRows: test.x.rows,
      testChurnRate: mean(test.y),
      testRocAuc: chosenTest.rocAuc,
      testPrAuc: chosenTest.prAuc,
      testBrier: chosenTest.brier,
    },
    test: {
      contactKeys: test.keys,
      labels: test.y,
      scores: best.candidate.testScores as Float64Array,
    },
  }
}

/** File names of the churn artifacts in a bundle. */
export const CHURN_FILES = {
  forest: 'churn-forest.json',
  mlp: 'churn-mlp.json',
  mlpWeights: 'churn-mlp.weights.bin',
  mlpScaler: 'churn-mlp-scaler.json',
  calibration: 'churn-calibration.json',
}

/** Serializes the chosen model's artifacts by bundle file name, with the manifest fields that name them. */
export async function churnArtifacts(churn: ChurnTraining): Promise<{
  files: Record<string, string | Buffer>
  modelFile: string
  weightsFile?: string
  scalerFile?: string
}> {
  const calibration = { [CHURN_FILES.calibration]: JSON.stringify(churn.calibration) }
  if (churn.chosen === 'histogram-forest' || !churn.mlp) {
    return {
      files: { [CHURN_FILES.forest]: JSON.stringify(churn.model.toJSON()), ...calibration },
      modelFile: CHURN_FILES.forest,
    }
  }
  const { modelJson, weights } = await churn.mlp.model.toArtifacts(CHURN_FILES.mlpWeights)
  const scaler: ScalerParams = churn.mlp.scaler
  return {
    files: {
      [CHURN_FILES.mlp]: JSON.stringify(modelJson),
      [CHURN_FILES.mlpWeights]: weights,
      [CHURN_FILES.mlpScaler]: JSON.stringify(scaler),
      ...calibration,
    },
    modelFile: CHURN_FILES.mlp,
    weightsFile: CHURN_FILES.mlpWeights,
    scalerFile: CHURN_FILES.mlpScaler,
  }
}
