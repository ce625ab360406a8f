import { FEATURE_NAMES } from '../src/features/catalogue.ts'
import { selectFeatures, type FeatureMatrix } from '../src/features/compute.ts'
import { trainForest, type ForestModel } from '../src/ml/forest.ts'
import { selectRows } from '../src/ml/matrix.ts'
import { brierScore, rocAuc } from '../src/ml/metrics.ts'
import { TrainingDataError } from './errors.ts'

/** Contacts that unsubscribed or bounced hard cannot engage, so they are left out of churn training and scoring. */
const EXCLUSION_FEATURES = ['unsubscribed', 'hard_bounced']

export const CHURN_FEATURES = FEATURE_NAMES.filter((name) => !EXCLUSION_FEATURES.includes(name))

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

export interface ChurnTraining {
  model: ForestModel
  features: string[]
  metrics: {
    trainRows: number
    trainChurnRate: number
    testRows: number
    testChurnRate: number
    testRocAuc: number
    testBrier: number
  }
  /** Test rows' contact keys, labels and scores, for reports. */
  test: { contactKeys: string[]; labels: Uint8Array; scores: Float64Array }
}

export interface ChurnOptions {
  seed: number
  nTrees?: number
  maxDepth?: number
}

function reachable(split: ChurnSplit) {
  const rows = reachableRows(split.features)
  return {
    x: selectRows(selectFeatures(split.features, CHURN_FEATURES), rows),
    y: Uint8Array.from(rows, (row) => split.labels[row] as number),
    keys: rows.map((row) => split.features.contactKeys[row] as string),
  }
}

function requireBothClasses(split: string, labels: Uint8Array): void {
  const churned = labels.reduce((sum, value) => sum + value, 0)
  if (labels.length > 0 && churned > 0 && churned < labels.length) return
  throw new TrainingDataError(
    `The ${split} split has ${labels.length} reachable contacts of which ${churned} churned: ` +
      'churn needs contacts that engage and contacts that do not in the horizon. ' +
      'Ingest more contacts or a longer history, or move --as-of.',
  )
}

const mean = (values: Uint8Array) =>
  values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length)

/**
 * Trains the churn forest on the earlier split and measures it on the later
 * one, so the test labels lie entirely after everything the model saw.
 */
export function trainChurn(
  train: ChurnSplit,
  test: ChurnSplit,
  options: ChurnOptions,
  onProgress?: (done: number, total: number) => void,
): ChurnTraining {
  const trainSet = reachable(train)
  const testSet = reachable(test)
  requireBothClasses('training', trainSet.y)
  requireBothClasses('test', testSet.y)
  const model = trainForest(
    trainSet.x,
    trainSet.y,
    {
      nTrees: options.nTrees ?? 100,
      maxDepth: options.maxDepth ?? 10,
      minSamplesLeaf: 10,
      seed: options.seed,
    },
    onProgress,
  )
  const scores = model.predictProba(testSet.x)
  return {
    model,
    features: CHURN_FEATURES,
    metrics: {
      trainRows: trainSet.x.rows,
      trainChurnRate: mean(trainSet.y),
      testRows: testSet.x.rows,
      testChurnRate: mean(testSet.y),
      testRocAuc: rocAuc(testSet.y, scores),
      testBrier: brierScore(testSet.y, scores),
    },
    test: { contactKeys: testSet.keys, labels: testSet.y, scores },
  }
}
