import { FEATURE_NAMES } from '../src/features/catalogue.ts'
import { loadForest, type ForestModel } from '../src/ml/forest.ts'
import { createMatrix, type Matrix } from '../src/ml/matrix.ts'
import { parseScalerParams, type ScalerParams } from '../src/ml/scaler.ts'
import { BundleError, readJsonArtifact, type LoadedBundle } from '../src/registry/bundle.ts'
import type { Manifest } from '../src/registry/manifest.ts'
import { join } from 'node:path'
import { z } from 'zod'

/** A bundle turned into the objects scoring needs, built once per loaded bundle. */
export interface ScoringModel {
  manifest: Manifest
  scaler: ScalerParams
  centroids: Matrix
  forest: ForestModel
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

/** Builds the scoring model of a checked bundle; a malformed artifact raises a BundleError naming it. */
export function buildScoringModel(bundle: LoadedBundle): ScoringModel {
  const { manifest } = bundle
  const scaler = parseArtifact(bundle, manifest.personas.scalerFile, parseScalerParams)
  const rows = parseArtifact(bundle, manifest.personas.centroidsFile, (json) =>
    centroidsSchema.parse(json),
  )
  const forest = parseArtifact(bundle, manifest.churn.modelFile, loadForest)

  checkConsistency(bundle)
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
  if (forest.nFeatures !== manifest.churn.features.length) {
    throw new BundleError(
      join(bundle.dir, manifest.churn.modelFile),
      `takes ${forest.nFeatures} features, but churn.features lists ${manifest.churn.features.length}`,
    )
  }
  const centroids = createMatrix(rows.length, width)
  rows.forEach((row, i) => centroids.data.set(row, i * width))
  return { manifest, scaler, centroids, forest }
}
