import { FEATURE_NAMES } from '../src/features/catalogue.ts'
import { applyCalibration, parseCalibration } from '../src/ml/calibration.ts'
import { loadForest } from '../src/ml/forest.ts'
import { createMatrix, type Matrix } from '../src/ml/matrix.ts'
import { loadMlp, MlpArtifactError, prepareMlpInput, type MlpModel } from '../src/ml/mlp-model.ts'
import { parseScalerParams, type ScalerParams } from '../src/ml/scaler.ts'
import { BundleError, readJsonArtifact, type LoadedBundle } from '../src/registry/bundle.ts'
import type { Manifest } from '../src/registry/manifest.ts'
import { join } from 'node:path'
import { z } from 'zod'

/** Churn model kinds this version can load. */
export const CHURN_MODEL_KINDS = ['histogram-forest', 'tfjs-mlp'] as const
export type ChurnModelKind = (typeof CHURN_MODEL_KINDS)[number]

/** The bundle's churn model with its calibration, as scoring calls it. */
export interface ChurnPredictor {
  kind: ChurnModelKind
  /** Columns of the input: the manifest's churn.features, in that order. */
  nFeatures: number
  /**
   * Returns the calibrated churn probability of every row; many rows per call
   * are much faster than one. Tensors of the MLP are disposed before it
   * returns. Throws a RangeError on a column count mismatch or a non-finite entry.
   */
  predictProba(rows: Matrix): Float64Array
  /** Returns the model's uncalibrated scores, which `calibrate` maps to `predictProba`'s values. */
  predictScores(rows: Matrix): Float64Array
  /** Maps uncalibrated scores to probabilities; the identity for bundles without a calibration. */
  calibrate(scores: Float64Array): Float64Array
  /**
   * Splits the uncalibrated scores into a bias plus one additive contribution per feature and
   * row, and returns the scores of the same pass, equal to predictScores'. Present for the
   * forest (path contributions), absent for the MLP.
   */
  contributions?: (rows: Matrix) => ScoreContributions
  /** Frees the MLP's weight tensors, and does nothing for the forest. No call may follow it. */
  dispose(): void
}

/** Uncalibrated scores of rows with their additive split into a bias and per-feature parts. */
export interface ScoreContributions {
  contributions: Matrix
  bias: number
  scores: Float64Array
}

/** A bundle turned into the objects scoring needs, built once per loaded bundle. */
export interface ScoringModel {
  manifest: Manifest
  scaler: ScalerParams
  centroids: Matrix
  churn: ChurnPredictor
  /** Training-window median per churn feature for score reasons; absent in older bundles. */
  churnMedians: Float64Array | undefined
}

const centroidsSchema = z
  .array(z.array(z.number().refine(Number.isFinite, 'expected a finite number')).min(1))
  .min(1)

function parseArtifact<T>(bundle: LoadedBundle, name: string, parse: (json: unknown) => T): T {
  try {
    return parse(readJsonArtifact(bundle, name))
  } catch (error) {
    if (error instanceof BundleError) throw error
    throw new BundleError(join(bundle.dir, name), (error as Error).message)
  }
}

/**
 * Rejects a bundle whose files pass their hashes but do not fit together or
 * with this version of the code.
 */
function checkConsistency(bundle: LoadedBundle): void {
  const { manifest } = bundle
  const manifestPath = join(bundle.dir, 'manifest.json')
  const computed = new Set(FEATURE_NAMES)
  const notComputed = manifest.featureNames.filter((name) => !computed.has(name))
  if (notComputed.length > 0) {
    throw new BundleError(
      manifestPath,
      `featureNames has ${notComputed.join(', ')}, which this version does not compute; retrain the bundle`,
    )
  }
  const listed = new Set(manifest.featureNames)
  for (const [field, names] of [
    ['personas.features', manifest.personas.features],
    ['churn.features', manifest.churn.features],
  ] as const) {
    const missing = names.filter((name) => !listed.has(name))
    if (missing.length > 0) {
      throw new BundleError(
        manifestPath,
        `${field} has ${missing.join(', ')}, which featureNames lacks`,
      )
    }
  }
  const ids = manifest.personas.list.map((persona) => persona.id).sort((a, b) => a - b)
  if (ids.some((id, index) => id !== index)) {
    throw new BundleError(manifestPath, 'personas.list ids must be 0 to n - 1, one per centroid')
  }
  const { medium, high } = manifest.churn.bands
  if (!(medium >= 0 && medium < high && high <= 1)) {
    throw new BundleError(
      manifestPath,
      `churn.bands needs 0 <= medium < high <= 1, received ${medium} and ${high}`,
    )
  }
}

function requireField(bundle: LoadedBundle, field: 'weightsFile' | 'scalerFile'): string {
  const name = bundle.manifest.churn[field]
  if (name === undefined) {
    throw new BundleError(
      join(bundle.dir, 'manifest.json'),
      `churn.${field} is missing, which modelKind tfjs-mlp needs`,
    )
  }
  return name
}

/** Loads the MLP, its weights and its input scaler, naming the file that fails. */
function buildMlpPredictor(bundle: LoadedBundle): {
  nFeatures: number
  predict: (rows: Matrix) => Float64Array
  dispose(): void
} {
  const { churn } = bundle.manifest
  const weightsFile = requireField(bundle, 'weightsFile')
  const scalerFile = requireField(bundle, 'scalerFile')
  const scaler = parseArtifact(bundle, scalerFile, parseScalerParams)
  const weights = bundle.files.get(weightsFile)
  if (!weights) {
    throw new BundleError(join(bundle.dir, weightsFile), 'is not listed in the manifest')
  }
  const modelJson = readJsonArtifact(bundle, churn.modelFile)

  let mlp: MlpModel
  try {
    mlp = loadMlp(modelJson, weights)
  } catch (error) {
    if (!(error instanceof MlpArtifactError)) throw error
    const file = error.file === 'weights' ? weightsFile : churn.modelFile
    throw new BundleError(join(bundle.dir, file), error.message)
  }
  if (scaler.mean.length !== mlp.nFeatures) {
    mlp.dispose()
    throw new BundleError(
      join(bundle.dir, scalerFile),
      `has ${scaler.mean.length} columns, but the MLP takes ${mlp.nFeatures}`,
    )
  }
  return {
    nFeatures: mlp.nFeatures,
    predict: (rows) => mlp.predictScaled(prepareMlpInput(scaler, rows)),
    dispose: () => mlp.dispose(),
  }
}

/** Builds the uncalibrated predictor named by churn.modelKind. */
function buildRawPredictor(bundle: LoadedBundle): {
  kind: ChurnModelKind
  nFeatures: number
  predict: (rows: Matrix) => Float64Array
  contributions?: (rows: Matrix) => ScoreContributions
  dispose(): void
} {
  const { churn } = bundle.manifest
  if (churn.modelKind === 'histogram-forest') {
    const forest = parseArtifact(bundle, churn.modelFile, loadForest)
    return {
      kind: churn.modelKind,
      nFeatures: forest.nFeatures,
      predict: (rows) => forest.predictProba(rows),
      contributions: (rows) => {
        const { contributions, bias, probabilities } = forest.pathContributions(rows)
        return { contributions, bias, scores: probabilities }
      },
      dispose: () => {},
    }
  }
  if (churn.modelKind === 'tfjs-mlp') {
    const predictor = buildMlpPredictor(bundle)
    return { kind: churn.modelKind, ...predictor }
  }
  throw new BundleError(
    join(bundle.dir, 'manifest.json'),
    `churn.modelKind ${JSON.stringify(churn.modelKind)} is not one of ${CHURN_MODEL_KINDS.join(', ')}; retrain the bundle or upgrade`,
  )
}

/**
 * Builds the churn predictor of a bundle by churn.modelKind, with its isotonic
 * calibration applied. A bundle without calibrationFile (written before
 * calibration existed) scores with the model's raw probabilities.
 */
export function buildChurnPredictor(bundle: LoadedBundle): ChurnPredictor {
  const raw = buildRawPredictor(bundle)
  const { churn } = bundle.manifest
  let calibrate = (scores: Float64Array) => scores
  try {
    if (raw.nFeatures !== churn.features.length) {
      throw new BundleError(
        join(bundle.dir, churn.modelFile),
        `takes ${raw.nFeatures} features, but churn.features lists ${churn.features.length}`,
      )
    }
    if (churn.calibrationFile !== undefined) {
      const calibration = parseArtifact(bundle, churn.calibrationFile, parseCalibration)
      calibrate = (scores) => applyCalibration(calibration, scores)
    }
  } catch (error) {
    // A bundle that fails a check is checked again at every reload, so its weights must not pile up.
    raw.dispose()
    throw error
  }
  return {
    kind: raw.kind,
    nFeatures: raw.nFeatures,
    predictProba: (rows) => calibrate(raw.predict(rows)),
    predictScores: raw.predict,
    calibrate,
    ...(raw.contributions ? { contributions: raw.contributions } : {}),
    dispose: raw.dispose,
  }
}

/** Builds the scoring model of a checked bundle; a malformed artifact raises a BundleError naming it. */
export function buildScoringModel(bundle: LoadedBundle): ScoringModel {
  const { manifest } = bundle
  const scaler = parseArtifact(bundle, manifest.personas.scalerFile, parseScalerParams)
  const rows = parseArtifact(bundle, manifest.personas.centroidsFile, (json) =>
    centroidsSchema.parse(json),
  )
  checkConsistency(bundle)
  const churn = buildChurnPredictor(bundle)
  try {
    return assembleScoringModel(bundle, scaler, rows, churn)
  } catch (error) {
    churn.dispose()
    throw error
  }
}

/** Checks the personas and medians against the manifest and builds the model around `churn`. */
function assembleScoringModel(
  bundle: LoadedBundle,
  scaler: ScalerParams,
  rows: number[][],
  churn: ChurnPredictor,
): ScoringModel {
  const { manifest } = bundle
  const width = manifest.personas.features.length
  if (rows.length !== manifest.personas.list.length) {
    throw new BundleError(
      join(bundle.dir, manifest.personas.centroidsFile),
      `has ${rows.length} centroids for ${manifest.personas.list.length} personas`,
    )
  }
  if (rows.some((row) => row.length !== width) || scaler.mean.length !== width) {
    throw new BundleError(
      join(bundle.dir, manifest.personas.centroidsFile),
      `expected ${width} columns per centroid`,
    )
  }
  const medians = manifest.churn.medians
  if (medians !== undefined && medians.length !== manifest.churn.features.length) {
    throw new BundleError(
      join(bundle.dir, 'manifest.json'),
      `churn.medians has ${medians.length} values, but churn.features lists ${manifest.churn.features.length}`,
    )
  }
  const centroids = createMatrix(rows.length, width)
  rows.forEach((row, i) => centroids.data.set(row, i * width))
  const churnMedians = medians ? Float64Array.from(medians) : undefined
  return { manifest, scaler, centroids, churn, churnMedians }
}
