import { createHash } from 'node:crypto'
import type { ClickHouseClient } from '@clickhouse/client'
import { computeFeatures, type FeatureMatrix } from '../src/features/compute.ts'
import { churnLabels } from '../src/features/labels.ts'
import { countWeekOpens, fitWeekProfiles, type WeekOpenCounts } from '../src/features/send-time.ts'
import { toRows } from '../src/ml/matrix.ts'
import { featureReferences } from '../src/drift/psi.ts'
import { BundleError, loadChampion, publishBundle, readChampion } from '../src/registry/bundle.ts'
import { promote } from '../src/registry/champion.ts'
import { BUNDLE_FORMAT_VERSION, BUNDLE_KIND, type Manifest } from '../src/registry/manifest.ts'
import {
  CHURN_FEATURES,
  CHURN_FILES,
  churnArtifacts,
  trainChurn,
  type ChurnCandidate,
  type ChurnTraining,
} from './churn.ts'
import { trainPersonas, type PersonaTraining, type PreviousPersonas } from './personas.ts'
import { reportInputFromTraining } from './report.ts'
import { renderReport } from './report-html.ts'
import { TrainingDataError } from './errors.ts'
import { libraryVersions } from './versions.ts'

const DAY_MS = 86_400_000

export interface TrainOptions {
  name: string
  modelsDir: string
  /**
   * Cutoff T: the churn test window has features as of T and labels from
   * (T, T + horizon]; validation and training end one and two horizons earlier.
   */
  asOfMs: number
  horizonDays: number
  /** A fixed number of personas. When absent, k is chosen by the silhouette over `kRange`. */
  k?: number
  /** Inclusive range of k tried when `k` is absent, by default 4 to 12. */
  kRange?: { min: number; max: number }
  seed: number
  nTrees?: number
  /** Epochs of the churn MLP; default 20. */
  mlpEpochs?: number
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
  validation: FeatureMatrix
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

type ChurnFiles = Awaited<ReturnType<typeof churnArtifacts>>

const CANDIDATE_METRIC_PREFIX: Record<ChurnCandidate['kind'], string> = {
  'histogram-forest': 'churnForest',
  'tfjs-mlp': 'churnMlp',
}

/** Builds the manifest's churn section: the chosen model's files, its reasons data and every candidate. */
function churnManifest(churn: ChurnTraining, files: ChurnFiles, horizonDays: number) {
  return {
    modelFile: files.modelFile,
    modelKind: churn.chosen,
    ...(files.weightsFile ? { weightsFile: files.weightsFile } : {}),
    ...(files.scalerFile ? { scalerFile: files.scalerFile } : {}),
    calibrationFile: CHURN_FILES.calibration,
    features: CHURN_FEATURES,
    horizonDays,
    bands: RISK_BANDS,
    medians: churn.medians,
    importance: churn.importance,
    selectedBy: 'validation PR AUC of uncalibrated scores',
    candidates: churn.candidates.map(({ testScores: _scores, ...candidate }) => candidate),
  }
}

/** Flat churn metrics: the chosen model's as before, then each trained candidate's. */
function churnMetrics(churn: ChurnTraining): Record<string, number> {
  const metrics: Record<string, number> = {
    churnTestRocAuc: churn.metrics.testRocAuc,
    churnTestPrAuc: churn.metrics.testPrAuc,
    churnTestBrier: churn.metrics.testBrier,
    churnTestRate: churn.metrics.testChurnRate,
    churnValidationRate: churn.metrics.validationChurnRate,
  }
  for (const candidate of churn.candidates) {
    if (!candidate.test || !candidate.validation) continue
    const prefix = CANDIDATE_METRIC_PREFIX[candidate.kind]
    metrics[`${prefix}ValidationRocAuc`] = candidate.validation.rocAuc
    metrics[`${prefix}ValidationPrAuc`] = candidate.validationPrAuc as number
    metrics[`${prefix}ValidationBrier`] = candidate.validation.brier
    metrics[`${prefix}TestRocAuc`] = candidate.test.rocAuc
    metrics[`${prefix}TestPrAuc`] = candidate.test.prAuc
    metrics[`${prefix}TestBrier`] = candidate.test.brier
    metrics[`${prefix}TestLogLoss`] = candidate.test.logLoss
  }
  return metrics
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
 * T - 2 * horizon.
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
  const trainCutoff = options.asOfMs - 2 * horizonMs
  if (row.first_ms >= trainCutoff) {
    const history = Math.max(0, Math.ceil((options.asOfMs - row.first_ms) / DAY_MS))
    throw new TrainingDataError(
      `Events start at ${isoDay(row.first_ms)}, after the training cutoff ${isoDay(trainCutoff)} ` +
        '(the cutoff minus twice the horizon), so the training window has no history: ' +
        `the events before the cutoff span ${history} days, and more than ${2 * options.horizonDays} are needed. ` +
        `Choose --as-of after ${isoDay(row.first_ms + 2 * horizonMs)} or a --horizon under ${Math.floor(history / 2)} days.`,
    )
  }
}

/**
 * Feature matrices and churn labels of the three windows of the time split:
 * train (features as of T - 2 * horizon), validation (T - horizon) and test
 * (T), each labelled over the horizon after its cutoff.
 */
export interface TrainingData {
  train: FeatureMatrix
  trainLabels: Uint8Array
  validation: FeatureMatrix
  validationLabels: Uint8Array
  test: FeatureMatrix
  testLabels: Uint8Array
  /** Human opens per hour of the week as of T, for the send-time profiles. Without them the profiles are uniform. */
  weekOpens?: Map<string, WeekOpenCounts>
}

type SplitOptions = Pick<TrainOptions, 'asOfMs' | 'horizonDays' | 'defaultZone'>

/**
 * Computes the time split in ClickHouse. Each window has features as of its
 * cutoff C and labels from (C, C + horizon]. The training window's C is
 * T - 2 * horizon, the validation window's T - horizon and the test window's
 * T, so each window's labels end where the next window's features do.
 */
export async function prepareTrainingData(
  client: ClickHouseClient,
  options: SplitOptions,
  onStage: (event: TrainStageEvent) => void = () => undefined,
): Promise<TrainingData> {
  await checkCoverage(client, options)
  const validationAsOf = options.asOfMs - options.horizonDays * DAY_MS
  const trainAsOf = options.asOfMs - 2 * options.horizonDays * DAY_MS
  onStage({ stage: 'features', done: 0, total: 3 })
  const train = await computeFeatures(client, trainAsOf, options.defaultZone)
  onStage({ stage: 'features', done: 1, total: 3 })
  const validation = await computeFeatures(client, validationAsOf, options.defaultZone)
  onStage({ stage: 'features', done: 2, total: 3 })
  const test = await computeFeatures(client, options.asOfMs, options.defaultZone)
  const weekOpens = await countWeekOpens(client, options.asOfMs, options.defaultZone)
  onStage({ stage: 'features', done: 3, total: 3 })

  onStage({ stage: 'labels', done: 0, total: 1 })
  const { horizonDays } = options
  const trainLabels = await churnLabels(client, train.contactKeys, trainAsOf, horizonDays)
  const validationLabels = await churnLabels(
    client,
    validation.contactKeys,
    validationAsOf,
    horizonDays,
  )
  const testLabels = await churnLabels(client, test.contactKeys, options.asOfMs, horizonDays)
  onStage({ stage: 'labels', done: 1, total: 1 })
  return { train, trainLabels, validation, validationLabels, test, testLabels, weekOpens }
}

/**
 * Returns the personas of the current champion of `name`, so a retrain keeps their ids and
 * names, or undefined when no champion is marked. A champion that fails its checks is skipped
 * with a warning, because it must not block training a replacement.
 */
async function previousPersonas(
  modelsDir: string,
  name: string,
): Promise<PreviousPersonas | undefined> {
  if ((await readChampion(modelsDir, name)) === undefined) return undefined
  try {
    const { manifest } = await loadChampion(modelsDir, name)
    return { version: manifest.version, list: manifest.personas.list }
  } catch (error) {
    if (!(error instanceof BundleError)) throw error
    process.emitWarning(`previous personas not used: ${error.message}`)
    return undefined
  }
}

/** Returns the k selection, persona matches and DBSCAN summary as the manifest stores them. */
function personaSelection(personas: PersonaTraining) {
  const { dbscan } = personas
  return {
    chosenK: personas.chosenK,
    kSelection: personas.kSelection,
    stability: {
      previousVersion: personas.previousVersion,
      maxDistance: personas.maxMatchDistance,
      matches: personas.matches.map((match) => ({
        id: match.id,
        previousId: match.previous?.id ?? null,
        previousName: match.previous?.name ?? null,
        distance: match.previous?.distance ?? null,
        matchedBy: match.previous?.by ?? null,
      })),
    },
    ...(dbscan
      ? {
          dbscan: {
            eps: dbscan.eps,
            minPts: dbscan.minPts,
            sampleSize: dbscan.sampleSize,
            clusters: dbscan.clusters,
            noiseShare: dbscan.noiseShare,
            sizes: dbscan.sizes,
            kDistanceK: dbscan.kDistanceK,
            kDistanceCurve: dbscan.kDistanceCurve,
          },
        }
      : {}),
  }
}

/**
 * Fits personas on the features as of T, trains both churn models on the
 * training window, calibrates them and picks one on the validation window,
 * measures both on the test window, then publishes the bundle atomically and
 * marks it champion.
 */
export async function fitBundle(
  data: TrainingData,
  options: TrainOptions,
  onStage: (event: TrainStageEvent) => void = () => undefined,
): Promise<TrainResult> {
  const { train, test } = data
  onStage({ stage: 'personas', done: 0, total: 1 })
  const personas = trainPersonas(test, {
    k: options.k,
    kRange: options.kRange,
    seed: options.seed,
    previous: await previousPersonas(options.modelsDir, options.name),
  })
  const weekProfiles = fitWeekProfiles(
    data.weekOpens ?? new Map(),
    test.contactKeys,
    personas.labels,
    personas.chosenK,
  )
  onStage({ stage: 'personas', done: 1, total: 1 })

  const churn = await trainChurn(
    {
      train: { features: train, labels: data.trainLabels },
      validation: { features: data.validation, labels: data.validationLabels },
      test: { features: test, labels: data.testLabels },
    },
    { seed: options.seed, nTrees: options.nTrees, epochs: options.mlpEpochs },
    (done, total) => onStage({ stage: 'churn', done, total }),
  )
  const churnFiles = await churnArtifacts(churn)

  onStage({ stage: 'bundle', done: 0, total: 1 })
  const dataHash = hashFeatures(train, data.validation, test)
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
      list: personas.personas.map((persona) => ({
        ...persona,
        weekProfile: weekProfiles.personas[persona.id] as number[],
      })),
      weekProfile: weekProfiles.global,
      ...personaSelection(personas),
    },
    churn: churnManifest(churn, churnFiles, options.horizonDays),
    training: {
      featuresAsOf: new Date(train.asOfMs).toISOString(),
      labelsUntil: new Date(options.asOfMs + options.horizonDays * DAY_MS).toISOString(),
      contacts: train.contactKeys.length,
      dataHash,
    },
    metrics: {
      ...churnMetrics(churn),
      personaInertia: personas.inertia,
    },
    // The latest window, which the personas were fitted on, is what live data is compared with.
    reference: featureReferences(test),
    libraries: libraryVersions(),
  }
  const published = await publishBundle(options.modelsDir, manifest, {
    'persona-scaler.json': JSON.stringify(personas.scaler),
    'persona-centroids.json': JSON.stringify(toRows(personas.centroids)),
    ...churnFiles.files,
    'report.html': renderReport(reportInputFromTraining({ manifest, personas, churn })),
  })
  await promote(options.modelsDir, options.name, version, createdAt)
  onStage({ stage: 'bundle', done: 1, total: 1 })
  const { dir, manifest: checked } = published
  return { dir, manifest: checked, train, validation: data.validation, test, personas, churn }
}

/** Computes the time split and fits, publishes and promotes a bundle from it. */
export async function trainBundle(
  client: ClickHouseClient,
  options: TrainOptions,
  onStage: (event: TrainStageEvent) => void = () => undefined,
): Promise<TrainResult> {
  return fitBundle(await prepareTrainingData(client, options, onStage), options, onStage)
}
