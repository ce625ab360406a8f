import { FEATURES, HOUR_FEATURES, PERSONA_FEATURES } from '../src/features/catalogue.ts'
import { selectFeatures, type FeatureMatrix } from '../src/features/compute.ts'
import { TrainingDataError } from './errors.ts'
import { fitDbscan, type ScalableDbscanResult } from '../src/ml/dbscan.ts'
import { fitKMeans, type KMeansResult } from '../src/ml/kmeans.ts'
import { createMatrix, type Matrix } from '../src/ml/matrix.ts'
import { fitScaler, inverseTransformRow, transform, type ScalerParams } from '../src/ml/scaler.ts'
import { sampledSilhouette } from '../src/ml/silhouette.ts'
import type { Persona } from '../src/registry/manifest.ts'
import { describePersona, namePersonas, type Centroid } from '../src/segments/naming.ts'
import {
  matchByName,
  matchClusters,
  previousDistances,
  type ClusterMatch,
  type PreviousPersonas,
} from '../src/segments/stability.ts'

export type { PreviousPersonas } from '../src/segments/stability.ts'

/** One k tried by the k selection. */
export interface KSelectionRow {
  k: number
  /** Sampled silhouette of the best k-means run, or null when it found fewer than 2 clusters. */
  silhouette: number | null
  /** Inertia of the best of the nInit runs, over all rows, in scaled units. */
  inertia: number
}

/** DBSCAN on the scaled persona features: a second view for the report, not used for scoring. */
export interface PersonaDbscan {
  eps: number
  minPts: number
  sampleSize: number
  clusters: number
  noiseShare: number
  /** Contacts per DBSCAN cluster, cluster 0 first. */
  sizes: number[]
  /** k in the k-distance curve: minPts. */
  kDistanceK: number
  /** Sorted k-distances of the sample at evenly spaced ranks, whose knee is eps. */
  kDistanceCurve: number[]
  /** DBSCAN cluster per contact, -1 for noise. The manifest does not store it. */
  labels: Int32Array
}

export interface PersonaTraining {
  features: string[]
  scaler: ScalerParams
  /** k x features centroids in scaled units, as scoring compares them. Row i is persona id i. */
  centroids: Matrix
  personas: Persona[]
  /** Persona id per contact. */
  labels: Int32Array
  inertia: number
  iterations: number
  converged: boolean
  chosenK: number
  /** Sampled silhouette of the chosen k, or null when it could not be computed. */
  silhouette: number | null
  kSelection: KSelectionRow[]
  /** Match of every persona to the previous bundle's personas, by persona id. */
  matches: ClusterMatch[]
  previousVersion: string | null
  maxMatchDistance: number
  dbscan: PersonaDbscan | null
}

export interface PersonaOptions {
  /** A fixed number of personas. When absent, k is chosen over `kRange`. */
  k?: number
  /** Inclusive range of k tried by the silhouette, by default 4 to 12. */
  kRange?: { min: number; max: number }
  seed: number
  /** k-means++ starts per k, of which the run with the lowest inertia is kept. Default 4. */
  nInit?: number
  /** Rows the silhouette is computed on. Default 5,000. */
  silhouetteSampleSize?: number
  /** DBSCAN settings, or false to skip it. */
  dbscan?: { minPts?: number; sampleSize?: number } | false
  /** Personas of the previous bundle, to keep ids and names stable. */
  previous?: PreviousPersonas
  /** Largest centroid distance, in scaled units, at which a cluster keeps a previous persona. Default 1. */
  maxMatchDistance?: number
}

export const DEFAULT_K_RANGE = { min: 4, max: 12 }
const DEFAULT_SILHOUETTE_SAMPLE = 5_000
const DEFAULT_DBSCAN_SAMPLE = 5_000
const DEFAULT_MAX_MATCH_DISTANCE = 1

/** Features the names and descriptions read, besides the persona features. */
const NAMING_FEATURES = [
  'open_rate_90d',
  'click_rate_90d',
  'night_share',
  'morning_share',
  'office_share',
  'weekend_share',
  'days_since_last_engagement',
  'tenure_days',
  'engagement_trend',
]

const skewed = (name: string) => FEATURES.find((feature) => feature.name === name)?.skewed ?? false

/** Mean of each listed feature per cluster, and over all contacts as the last entry. */
function featureMeans(
  features: FeatureMatrix,
  names: string[],
  labels: Int32Array,
  k: number,
): Centroid[] {
  const values = selectFeatures(features, names)
  const sums = Array.from({ length: k + 1 }, () => new Array<number>(names.length).fill(0))
  const counts = new Array<number>(k + 1).fill(0)
  for (let i = 0; i < values.rows; i++) {
    for (const group of [labels[i] as number, k]) {
      counts[group]! += 1
      for (let j = 0; j < names.length; j++) {
        sums[group]![j]! += values.data[i * names.length + j] as number
      }
    }
  }
  return sums.map((sum, group) =>
    Object.fromEntries(names.map((name, j) => [name, sum[j]! / Math.max(1, counts[group]!)])),
  )
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

/**
 * Minimum contacts per persona on average: k is capped at the contacts divided by this, so no
 * persona is fitted on a handful of contacts.
 */
export const MIN_CONTACTS_PER_PERSONA = 10

function kCandidates(options: PersonaOptions, rows: number): number[] {
  const largest = Math.floor(rows / MIN_CONTACTS_PER_PERSONA)
  if (options.k !== undefined) {
    if (!Number.isInteger(options.k) || options.k < 1) {
      throw new RangeError(`k must be a positive integer, got ${options.k}`)
    }
    if (options.k > largest) {
      throw new TrainingDataError(
        `${options.k} personas need at least ${options.k * MIN_CONTACTS_PER_PERSONA} contacts ` +
          `(${MIN_CONTACTS_PER_PERSONA} per persona), but ${rows} are known at the cutoff. ` +
          `Choose --k at most ${largest}, or ingest more contacts.`,
      )
    }
    return [options.k]
  }
  const { min, max } = options.kRange ?? DEFAULT_K_RANGE
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 2 || max < min) {
    throw new RangeError(`kRange must be integers with 2 <= min <= max, got ${min} to ${max}`)
  }
  // The silhouette needs at most rows - 1 clusters.
  const top = Math.min(max, largest, rows - 1)
  if (top < min) {
    throw new TrainingDataError(
      `Trying ${min} to ${max} personas needs at least ${min * MIN_CONTACTS_PER_PERSONA} contacts ` +
        `(${MIN_CONTACTS_PER_PERSONA} per persona), but ${rows} are known at the cutoff. ` +
        `Choose a range that starts at most at ${Math.max(2, largest)}, or ingest more contacts.`,
    )
  }
  if (top < max) {
    process.emitWarning(
      `k range ${min} to ${max} cut to ${min} to ${top}: ${rows} contacts allow at most ` +
        `${largest} personas (${MIN_CONTACTS_PER_PERSONA} per persona)`,
    )
  }
  return Array.from({ length: top - min + 1 }, (_, i) => min + i)
}

/** Returns the sampled silhouette, or null when the sample has fewer than 2 or more than rows - 1 clusters. */
function silhouetteOf(scaled: Matrix, fit: KMeansResult, options: PersonaOptions): number | null {
  try {
    return sampledSilhouette(scaled, fit.labels, {
      sampleSize: options.silhouetteSampleSize ?? DEFAULT_SILHOUETTE_SAMPLE,
      seed: options.seed,
    })
  } catch (error) {
    if (error instanceof RangeError && /distinct labels/.test(error.message)) return null
    throw error
  }
}

/**
 * Fits k-means for every candidate k and keeps the k with the highest sampled silhouette (the
 * smaller k on a tie). With a fixed k, that k is fitted and scored alone.
 */
function selectK(scaled: Matrix, options: PersonaOptions) {
  const table: KSelectionRow[] = []
  let best: { fit: KMeansResult; row: KSelectionRow } | null = null
  for (const k of kCandidates(options, scaled.rows)) {
    const fit = fitKMeans(scaled, { k, seed: options.seed, nInit: options.nInit ?? 4 })
    const row = { k, silhouette: silhouetteOf(scaled, fit, options), inertia: fit.inertia }
    table.push(row)
    const better =
      best === null || (row.silhouette ?? -Infinity) > (best.row.silhouette ?? -Infinity)
    if (better) best = { fit, row }
  }
  return { ...(best as { fit: KMeansResult; row: KSelectionRow }), table }
}

function runDbscan(scaled: Matrix, options: PersonaOptions): PersonaDbscan | null {
  if (options.dbscan === false) return null
  // Twice the number of features is a common choice of minPts.
  const minPts = Math.min(options.dbscan?.minPts ?? 2 * scaled.cols, scaled.rows)
  // Exact DBSCAN (a sample of every row) up to 20,000 rows, and a 5,000-row sample above. In
  // the DBSCAN part of bench/training on 11 features, exact took 4.2 s at 20,000 rows but 27 s
  // at 50,000, where the sample took 5.1 s with ARI 0.999 against exact (2-core x64, load 3.5).
  const sampleSize =
    options.dbscan?.sampleSize ?? (scaled.rows <= 20_000 ? scaled.rows : DEFAULT_DBSCAN_SAMPLE)

  let result: ScalableDbscanResult
  try {
    result = fitDbscan(scaled, {
      minPts,
      sampleSize,
      seed: options.seed,
    })
  } catch (error) {
    // DBSCAN only adds a view to the report, so data it cannot cluster does not stop training.
    if (!(error instanceof RangeError)) throw error
    process.emitWarning(`DBSCAN skipped: ${error.message}`)
    return null
  }
  const sizes = new Array<number>(result.clusters).fill(0)
  for (const label of result.labels) if (label >= 0) sizes[label]! += 1
  return {
    eps: result.eps,
    minPts: result.minPts,
    sampleSize: result.sampleSize,
    clusters: result.clusters,
    noiseShare: result.noiseShare,
    sizes,
    kDistanceK: result.minPts,
    kDistanceCurve: result.kDistanceCurve,
    labels: result.labels,
  }
}

/** Reorders clusters so that row `id` of the centroids and label `id` belong to persona `id`. */
function applyIds(fit: KMeansResult, matches: ClusterMatch[]) {
  const { rows, cols } = fit.centroids
  const centroids = createMatrix(rows, cols)
  for (const match of matches) {
    const source = fit.centroids.data.subarray(match.cluster * cols, (match.cluster + 1) * cols)
    centroids.data.set(source, match.id * cols)
  }
  const idOf = Int32Array.from(matches, (match) => match.id)
  const labels = Int32Array.from(fit.labels, (cluster) => idOf[cluster] as number)
  const byId = [...matches].sort((a, b) => a.id - b.id)
  return { centroids, labels, byId }
}

/** Returns a copy of `values` with entry i moved to position `to[i]`. */
function permute<T>(values: T[], to: Int32Array): T[] {
  const result = new Array<T>(values.length)
  values.forEach((value, i) => (result[to[i] as number] = value))
  return result
}

/**
 * Names each persona. A persona matched to the previous bundle keeps its name, with a
 * description of its current centroid. The others are named from their centroids among the
 * names still free. The naming profile is the centroid in original units, completed with member
 * means for naming features the clustering does not use.
 */
function namePersonaList(
  features: FeatureMatrix,
  names: string[],
  scaler: ScalerParams,
  centroids: Matrix,
  labels: Int32Array,
  byId: ClusterMatch[],
) {
  const k = centroids.rows
  const means = featureMeans(features, NAMING_FEATURES, labels, k)
  const population = means[k] as Centroid
  const original: Centroid[] = []
  const profiles: Centroid[] = []
  for (let id = 0; id < k; id++) {
    const row = inverseTransformRow(
      scaler,
      centroids.data.subarray(id * names.length, (id + 1) * names.length),
    )
    const centroid = Object.fromEntries(names.map((name, j) => [name, row[j] as number]))
    original.push(centroid)
    profiles.push({ ...(means[id] as Centroid), ...centroid })
  }

  const keptNames = new Set(byId.flatMap((match) => (match.previous ? [match.previous.name] : [])))
  const fresh = byId.filter((match) => !match.previous).map((match) => match.id)
  const named = namePersonas(
    fresh.map((id) => profiles[id] as Centroid),
    population,
    keptNames,
  )
  const result = new Array<{ name: string; description: string }>(k)
  fresh.forEach((id, i) => (result[id] = named[i] as { name: string; description: string }))
  for (const match of byId) {
    if (!match.previous) continue
    const name = match.previous.name
    result[match.id] = { name, description: describePersona(name, profiles[match.id] as Centroid) }
  }
  return { original, names: result }
}

/**
 * Fits the persona scaler (log1p on counts and day spans, then standardization) and k-means,
 * with k fixed or chosen by the sampled silhouette. Matches the clusters to the previous
 * bundle's personas so ids and names stay stable, and names the new ones from their centroids.
 * Runs DBSCAN on a sample as a second view.
 */
export function trainPersonas(features: FeatureMatrix, options: PersonaOptions): PersonaTraining {
  const names = PERSONA_FEATURES
  const raw = selectFeatures(features, names)
  const scaler = fitScaler(raw, { log1p: names.map(skewed) })
  const scaled = transform(scaler, raw)
  const selection = selectK(scaled, options)
  const fit = selection.fit
  const k = fit.centroids.rows

  const maxMatchDistance = options.maxMatchDistance ?? DEFAULT_MAX_MATCH_DISTANCE
  const matches = matchClusters(fit.centroids, names, scaler, options.previous, {
    maxDistance: maxMatchDistance,
  })
  let { centroids, labels, byId } = applyIds(fit, matches)
  let named = namePersonaList(features, names, scaler, centroids, labels, byId)
  const distances = previousDistances(fit.centroids, names, scaler, options.previous)
  const newId = matchByName(
    byId,
    named.names.map((entry) => entry.name),
    options.previous,
    distances,
  )
  if (newId.some((id, old) => id !== old)) {
    ;({ centroids, labels, byId } = applyIds(fit, matches))
    named = {
      original: permute(named.original, newId),
      names: permute(named.names, newId),
    }
  }
  const profiles = hourProfiles(features, labels, k)
  const sizes = new Array<number>(k).fill(0)
  for (const label of labels) sizes[label]! += 1

  const personas: Persona[] = named.original.map((centroid, id) => ({
    id,
    name: named.names[id]?.name ?? `persona ${id}`,
    description: named.names[id]?.description ?? '',
    size: sizes[id] as number,
    centroid,
    hourProfile: profiles[id] as number[],
  }))
  return {
    features: names,
    scaler,
    centroids,
    personas,
    labels,
    inertia: fit.inertia,
    iterations: fit.iterations,
    converged: fit.converged,
    chosenK: k,
    silhouette: selection.row.silhouette,
    kSelection: selection.table,
    matches: byId,
    previousVersion: options.previous?.version ?? null,
    maxMatchDistance,
    dbscan: runDbscan(scaled, options),
  }
}
