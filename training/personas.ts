import { FEATURES, HOUR_FEATURES, PERSONA_FEATURES } from '../src/features/catalogue.ts'
import { selectFeatures, type FeatureMatrix } from '../src/features/compute.ts'
import { fitKMeans } from '../src/ml/kmeans.ts'
import type { Matrix } from '../src/ml/matrix.ts'
import { fitScaler, inverseTransformRow, transform, type ScalerParams } from '../src/ml/scaler.ts'
import type { Persona } from '../src/registry/manifest.ts'
import { namePersonas, type Centroid } from '../src/segments/naming.ts'

export interface PersonaTraining {
  features: string[]
  scaler: ScalerParams
  /** k x features centroids in scaled units, as scoring compares them. */
  centroids: Matrix
  personas: Persona[]
  labels: Int32Array
  inertia: number
  iterations: number
  converged: boolean
}

export interface PersonaOptions {
  k: number
  seed: number
  nInit?: number
}

const skewed = (name: string) => FEATURES.find((feature) => feature.name === name)?.skewed ?? false

function columnMeans(matrix: Matrix): number[] {
  const means = new Array<number>(matrix.cols).fill(0)
  for (let i = 0; i < matrix.rows; i++) {
    for (let j = 0; j < matrix.cols; j++) means[j]! += matrix.data[i * matrix.cols + j] as number
  }
  return means.map((sum) => sum / Math.max(1, matrix.rows))
}

/** Mean hour-of-day profile of each cluster's members that have any human engagement. */
function hourProfiles(features: FeatureMatrix, labels: Int32Array, k: number): number[][] {
  const hours = selectFeatures(
    features,
    HOUR_FEATURES.map((feature) => feature.name),
  )
  const sums = Array.from({ length: k }, () => new Array<number>(24).fill(0))
  const counts = new Array<number>(k).fill(0)
  for (let i = 0; i < hours.rows; i++) {
    const row = hours.data.subarray(i * 24, i * 24 + 24)
    if (row.reduce((a, b) => a + b, 0) === 0) continue
    const cluster = labels[i] as number
    counts[cluster]! += 1
    const sum = sums[cluster] as number[]
    row.forEach((share, hour) => (sum[hour]! += share))
  }
  return sums.map((sum, cluster) =>
    sum.map((value) => (counts[cluster] ? value / (counts[cluster] as number) : 1 / 24)),
  )
}

/** Fits the persona scaler and k-means, then names each cluster from its centroid. */
export function trainPersonas(features: FeatureMatrix, options: PersonaOptions): PersonaTraining {
  const names = PERSONA_FEATURES
  const raw = selectFeatures(features, names)
  const scaler = fitScaler(raw, { log1p: names.map(skewed) })
  const scaled = transform(scaler, raw)
  const fit = fitKMeans(scaled, { k: options.k, seed: options.seed, nInit: options.nInit ?? 4 })

  const toRecord = (values: ArrayLike<number>): Centroid =>
    Object.fromEntries(names.map((name, j) => [name, values[j] as number]))
  const centroids: Centroid[] = []
  for (let c = 0; c < fit.centroids.rows; c++) {
    const row = fit.centroids.data.subarray(c * names.length, (c + 1) * names.length)
    centroids.push(toRecord(inverseTransformRow(scaler, row)))
  }
  const named = namePersonas(centroids, toRecord(columnMeans(raw)))
  const profiles = hourProfiles(features, fit.labels, options.k)
  const sizes = new Array<number>(options.k).fill(0)
  for (const label of fit.labels) sizes[label]! += 1

  const personas: Persona[] = centroids.map((centroid, id) => ({
    id,
    name: named[id]?.name ?? `persona ${id}`,
    description: named[id]?.description ?? '',
    size: sizes[id] as number,
    centroid,
    hourProfile: profiles[id] as number[],
  }))
  return {
    features: names,
    scaler,
    centroids: fit.centroids,
    personas,
    labels: fit.labels,
    inertia: fit.inertia,
    iterations: fit.iterations,
    converged: fit.converged,
  }
}
