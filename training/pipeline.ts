import { createHash } from 'node:crypto'
import type { ClickHouseClient } from '@clickhouse/client'
import { computeFeatures, type FeatureMatrix } from '../src/features/compute.ts'
import { churnLabels } from '../src/features/labels.ts'
import { toRows } from '../src/ml/matrix.ts'
import { featureReferences } from '../src/drift/psi.ts'
import { publishBundle } from '../src/registry/bundle.ts'
import { promote } from '../src/registry/champion.ts'
import { BUNDLE_FORMAT_VERSION, BUNDLE_KIND, type Manifest } from '../src/registry/manifest.ts'
import { CHURN_FEATURES, trainChurn, type ChurnTraining } from './churn.ts'
import { trainPersonas, type PersonaTraining } from './personas.ts'
import { TrainingDataError } from './errors.ts'
import { libraryVersions } from './versions.ts'

const DAY_MS = 86_400_000

export interface TrainOptions {
  name: string
  modelsDir: string
  /** Cutoff T: the test split has features as of T and labels from [T, T + horizon). */
  asOfMs: number
  horizonDays: number
  k: number
  seed: number
  nTrees?: number
  defaultZone: string
  /** Version name; default derived from the cutoff and the data hash. */
  version?: string
  createdAt?: Date
}

export interface TrainStageEvent {
  stage: 'features' | 'labels' | 'personas' | 'churn' | 'bundle'
  done: number
  total: number
}

export interface TrainResult {
  dir: string
  manifest: Manifest
  train: FeatureMatrix
  test: FeatureMatrix
  personas: PersonaTraining
  churn: ChurnTraining
}

/** Risk bands on the churn probability: at or above `high` is high risk, at or above `medium` is medium. */
export const RISK_BANDS = { medium: 0.4, high: 0.7 }

function hashFeatures(...matrices: FeatureMatrix[]): string {
  const hash = createHash('sha256')
  for (const features of matrices) {
    hash.update(features.contactKeys.join('\n'))
    hash.update(
      new Uint8Array(
        features.matrix.data.buffer,
        features.matrix.data.byteOffset,
        features.matrix.data.byteLength,
      ),
    )
  }
  return hash.digest('hex')
}

/** Names a version by its creation time, so versions sort in the order they were trained. */
function versionName(createdAt: Date, dataHash: string): string {
  const time = createdAt
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
  return `${time}-${dataHash.slice(0, 8)}`
}

const isoDay = (ms: number) => new Date(ms).toISOString()

/**
 * Rejects a cutoff the stored events cannot support: the test labels need
 * events until T + horizon, and the training features need history before
 * T - horizon.
 */
async function checkCoverage(client: ClickHouseClient, options: SplitOptions): Promise<void> {
  const result = await client.query({
    query: `SELECT count() AS events,
                   toUnixTimestamp64Milli(min(occurred_at)) AS first_ms,
                   toUnixTimestamp64Milli(max(occurred_at)) AS last_ms
            FROM events`,
    format: 'JSONEachRow',
  })
  const [row] = await result.json<{ events: number; first_ms: number; last_ms: number }>()
  if (!row || row.events === 0)
    throw new TrainingDataError('No events are stored; ingest events before training.')

  const horizonMs = options.horizonDays * DAY_MS
  const needUntil = options.asOfMs + horizonMs
  // A day of slack, because the last campaign of a window rarely lands on its last hour.
  if (row.last_ms < needUntil - DAY_MS) {
    throw new TrainingDataError(
      `Events end at ${isoDay(row.last_ms)}, but labels for a cutoff of ${isoDay(options.asOfMs)} ` +
        `need events until ${isoDay(needUntil)}. Choose --as-of at most ${isoDay(row.last_ms + DAY_MS - horizonMs)} ` +
        'or a shorter --horizon.',
    )
  }
  if (row.first_ms >= options.asOfMs - horizonMs) {
    throw new TrainingDataError(
      `Events start at ${isoDay(row.first_ms)}, after the training cutoff ${isoDay(options.asOfMs - horizonMs)} ` +
        `(the cutoff minus the horizon), so the training window has no history. Choose a later --as-of.`,
    )
  }
}

/** Feature matrices and churn labels of both sides of the time split. */
export interface TrainingData {
  train: FeatureMatrix
  trainLabels: Uint8Array
  test: FeatureMatrix
  testLabels: Uint8Array
}

type SplitOptions = Pick<TrainOptions, 'asOfMs' | 'horizonDays' | 'defaultZone'>

/**
 * Computes the time split in ClickHouse: features as of T - horizon with
 * labels from [T - horizon, T) to learn churn, and features as of T with
 * labels from [T, T + horizon) to test it.
 */
export async function prepareTrainingData(
  client: ClickHouseClient,
  options: SplitOptions,
  onStage: (event: TrainStageEvent) => void = () => undefined,
): Promise<TrainingData> {
  await checkCoverage(client, options)
  const trainAsOf = options.asOfMs - options.horizonDays * DAY_MS
  onStage({ stage: 'features', done: 0, total: 2 })
  const train = await computeFeatures(client, trainAsOf, options.defaultZone)
  onStage({ stage: 'features', done: 1, total: 2 })
  const test = await computeFeatures(client, options.asOfMs, options.defaultZone)
  onStage({ stage: 'features', done: 2, total: 2 })

  onStage({ stage: 'labels', done: 0, total: 1 })
  const trainLabels = await churnLabels(client, train.contactKeys, trainAsOf, options.horizonDays)
  const testLabels = await churnLabels(
    client,
    test.contactKeys,
    options.asOfMs,
    options.horizonDays,
  )
  onStage({ stage: 'labels', done: 1, total: 1 })
  return { train, trainLabels, test, testLabels }
}

/**
 * Fits personas on the features as of T and churn on the earlier split,
 * measures churn on the later one, then publishes the bundle atomically and
 * marks it champion.
 */
export async function fitBundle(
  data: TrainingData,
  options: TrainOptions,
  onStage: (event: TrainStageEvent) => void = () => undefined,
): Promise<TrainResult> {
  const { train, test } = data
  onStage({ stage: 'personas', done: 0, total: 1 })
  const personas = trainPersonas(test, { k: options.k, seed: options.seed })
  onStage({ stage: 'personas', done: 1, total: 1 })

  const churn = trainChurn(
    { features: train, labels: data.trainLabels },
    { features: test, labels: data.testLabels },
    { seed: options.seed, nTrees: options.nTrees },
    (done, total) => onStage({ stage: 'churn', done, total }),
  )

  onStage({ stage: 'bundle', done: 0, total: 1 })
  const dataHash = hashFeatures(train, test)
  const createdAt = options.createdAt ?? new Date()
  const version = options.version ?? versionName(createdAt, dataHash)
  const manifest: Omit<Manifest, 'files'> = {
    kind: BUNDLE_KIND,
    formatVersion: BUNDLE_FORMAT_VERSION,
    name: options.name,
    version,
    createdAt: createdAt.toISOString(),
    featureNames: test.featureNames,
    personas: {
      features: personas.features,
      contacts: test.contactKeys.length,
      scalerFile: 'persona-scaler.json',
      centroidsFile: 'persona-centroids.json',
      list: personas.personas,
    },
    churn: {
      modelFile: 'churn-forest.json',
      modelKind: 'histogram-forest',
      features: CHURN_FEATURES,
      horizonDays: options.horizonDays,
      bands: RISK_BANDS,
    },
    training: {
      featuresAsOf: new Date(train.asOfMs).toISOString(),
      labelsUntil: new Date(options.asOfMs + options.horizonDays * DAY_MS).toISOString(),
      contacts: train.contactKeys.length,
      dataHash,
    },
    metrics: {
      churnTestRocAuc: churn.metrics.testRocAuc,
      churnTestBrier: churn.metrics.testBrier,
      churnTestRate: churn.metrics.testChurnRate,
      personaInertia: personas.inertia,
    },
    // The latest window, which the personas were fitted on, is what live data is compared with.
    reference: featureReferences(test),
    libraries: libraryVersions(),
  }
  const published = await publishBundle(options.modelsDir, manifest, {
    'persona-scaler.json': JSON.stringify(personas.scaler),
    'persona-centroids.json': JSON.stringify(toRows(personas.centroids)),
    'churn-forest.json': JSON.stringify(churn.model.toJSON()),
  })
  await promote(options.modelsDir, options.name, version, createdAt)
  onStage({ stage: 'bundle', done: 1, total: 1 })
  return { dir: published.dir, manifest: published.manifest, train, test, personas, churn }
}

/** Computes the time split and fits, publishes and promotes a bundle from it. */
export async function trainBundle(
  client: ClickHouseClient,
  options: TrainOptions,
  onStage: (event: TrainStageEvent) => void = () => undefined,
): Promise<TrainResult> {
  return fitBundle(await prepareTrainingData(client, options, onStage), options, onStage)
}
