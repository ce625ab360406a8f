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

/** Builds the scoring model of a checked bundle; a malformed artifact raises a BundleError naming it. */
export function buildScoringModel(bundle: LoadedBundle): ScoringModel {
  const { manifest } = bundle
  const scaler = parseArtifact(bundle, manifest.personas.scalerFile, parseScalerParams)
  const rows = parseArtifact(bundle, manifest.personas.centroidsFile, (json) =>
    centroidsSchema.parse(json),
  )
  const forest = parseArtifact(bundle, manifest.churn.modelFile, loadForest)

  const width = manifest.personas.features.length
  if (rows.some((row) => row.length !== width) || scaler.mean.length !== width) {
    throw new BundleError(
      join(bundle.dir, manifest.personas.centroidsFile),
      `expected ${width} columns per centroid`,
    )
  }
  const centroids = createMatrix(rows.length, width)
  rows.forEach((row, i) => centroids.data.set(row, i * width))
  return { manifest, scaler, centroids, forest }
}
