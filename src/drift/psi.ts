import type { FeatureMatrix } from '../features/compute.ts'
import { column } from '../ml/matrix.ts'
import { populationStabilityIndex } from '../ml/metrics.ts'
import type { FeatureReference } from '../registry/manifest.ts'

/** PSI levels in common use: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a major one. */
export const PSI_THRESHOLDS = { moderate: 0.1, major: 0.25 }

export type DriftLevel = 'stable' | 'moderate' | 'major'

export interface FeatureDrift {
  feature: string
  psi: number
  level: DriftLevel
}

export function driftLevel(psi: number): DriftLevel {
  if (psi > PSI_THRESHOLDS.major) return 'major'
  if (psi >= PSI_THRESHOLDS.moderate) return 'moderate'
  return 'stable'
}

/** Reference distributions of every feature (decile edges and shares), stored in bundles for drift checks. */
export function featureReferences(features: FeatureMatrix, bins = 10): FeatureReference[] {
  return features.featureNames.map((feature, j) => {
    const values = column(features.matrix, j)
    const { edges, referenceShares } = populationStabilityIndex(values, values, { bins })
    return { feature, edges, shares: referenceShares }
  })
}

/** PSI per feature between two feature matrices with the same columns, largest first. */
export function compareFeatures(
  reference: FeatureMatrix,
  current: FeatureMatrix,
  bins = 10,
): FeatureDrift[] {
  const drifts = reference.featureNames.map((feature, j) => {
    const { psi } = populationStabilityIndex(
      column(reference.matrix, j),
      column(current.matrix, j),
      { bins },
    )
    return { feature, psi, level: driftLevel(psi) }
  })
  return drifts.sort((a, b) => b.psi - a.psi)
}
