/**
 * The data of a bundle's training report, `report.html`, and how it is built from a training
 * run. `ReportInput` contains plain arrays of numbers and strings. Every section but the persona
 * list and the training run is optional, so the report renders for bundles trained before
 * that data existed and shows "not available in this bundle" in its place.
 */
import type { Manifest } from '../src/registry/manifest.ts'
import {
  brierScore,
  prAuc,
  reliabilityCurve,
  rocAuc,
  type ReliabilityBin,
} from '../src/ml/metrics.ts'
import type { ChurnCandidate, ChurnTraining } from './churn.ts'
import type { PersonaTraining } from './personas.ts'

export interface ReportPersona {
  id: number
  name: string
  description: string
  size: number
  /** Centroid in original feature units, one value per entry of `ReportInput.personas.features`. */
  centroid: number[]
  /** Mean share of human engagement per local hour, 24 values. */
  hourProfile: number[]
}

/** Silhouette and inertia of k-means for each k tried, in parallel arrays. */
export interface KSelectionReport {
  k: number[]
  /** Sampled silhouette, NaN where it could not be computed. */
  silhouette: number[]
  inertia: number[]
  chosenK: number
}

export interface DbscanReport {
  eps: number
  /** Neighbours within eps that make a core point (scikit-learn's min_samples). */
  minPoints: number
  /** Rows DBSCAN was fitted on. Every other contact joins the cluster of its nearest core row within eps, or is noise. */
  sampleSize: number
  clusters: number
  /** Share of the contacts that DBSCAN labels as noise, from 0 to 1. */
  noiseShare: number
  /** Contacts per DBSCAN cluster, cluster 0 first. */
  sizes: number[]
  /** Rank in the sorted sample as a share from 0 to 1 (x) against the distance to neighbour minPoints (y). */
  kDistance: Curve
}

export interface Curve {
  x: number[]
  y: number[]
}

export interface ChurnModelReport {
  /** Model kind, as the manifest's `churn.modelKind` names it. */
  name: string
  /** Reason the model was not trained, which leaves the metrics absent. */
  skipped?: string
  /** Metrics of the calibrated probabilities on the test window. */
  rocAuc?: number
  /** Average precision, the area under the precision-recall curve. */
  prAuc?: number
  brier?: number
  /** Brier score of the scores before calibration. */
  brierUncalibrated?: number
  /** False positive rate (x) against true positive rate (y). */
  roc?: Curve
  /** Mean predicted probability (x) against the observed churn rate (y) per non-empty bin. */
  reliability?: Curve & { counts: number[] }
}

export interface ImportanceReport {
  /** Model the importance was measured on. */
  model?: string
  /** Rows it was measured on, such as "validation window". */
  split?: string
  features: string[]
  /** Mean drop of the metric when the feature's column is permuted. */
  mean: number[]
  std?: number[]
  /** Metric whose drop is measured, such as "ROC AUC". */
  metric?: string
}

export interface ReportInput {
  name: string
  version: string
  createdAt: string
  training: {
    /** Cutoff of the earliest window, the churn training features. */
    featuresAsOf: string
    /** Cutoff T: features of the test window and of the personas. */
    cutoff: string
    labelsUntil: string
    horizonDays: number
    /** Contacts in the churn training split. */
    churnContacts: number
    dataHash: string
  }
  libraries: { name: string; version: string }[]
  personas: {
    features: string[]
    /** Contacts the personas were fitted on. */
    contacts: number
    list: ReportPersona[]
  }
  kSelection?: KSelectionReport
  dbscan?: DbscanReport
  churn?: {
    models: ChurnModelReport[]
    chosen?: string
    /** Rule that picked the chosen model among the candidates. */
    selectedBy?: string
  }
  importance?: ImportanceReport
}

/** Input of `reportInputFromTraining`: the manifest before its file list, and the fitted parts. */
export interface ReportSource {
  manifest: Omit<Manifest, 'files'>
  personas: PersonaTraining
  churn: ChurnTraining
}

const DAY_MS = 86_400_000

/**
 * Computes ROC curve points from labels (0 or 1) and scores as scikit-learn 1.2's
 * `roc_curve(drop_intermediate=True)` does: one point per distinct score, from the highest
 * down, after (0, 0), with the inner points of straight horizontal or vertical runs dropped.
 * Throws a RangeError for unequal or empty inputs, a label other than 0 or 1, a non-finite
 * score, or labels of only one class.
 */
export function rocCurve(labels: ArrayLike<number>, scores: ArrayLike<number>): Curve {
  if (labels.length !== scores.length || labels.length === 0) {
    throw new RangeError(
      `labels and scores must have the same non-zero length, got ${labels.length} and ${scores.length}`,
    )
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 0 && labels[i] !== 1) {
      throw new RangeError(`labels must be 0 or 1, got ${labels[i]} at index ${i}`)
    }
    if (!Number.isFinite(scores[i]))
      throw new RangeError(`scores contains ${scores[i]} at index ${i}`)
  }
  const order = Array.from({ length: scores.length }, (_, i) => i).sort(
    (a, b) => (scores[b] as number) - (scores[a] as number),
  )

  // Cumulative true and false positives at the last row of each distinct score, from the top.
  const tps: number[] = []
  const fps: number[] = []
  let truePositives = 0
  for (let i = 0; i < order.length; i++) {
    truePositives += labels[order[i] as number] as number
    const next = order[i + 1]
    if (next === undefined || scores[next] !== scores[order[i] as number]) {
      tps.push(truePositives)
      fps.push(i + 1 - truePositives)
    }
  }

  const positives = tps[tps.length - 1] as number
  const negatives = fps[fps.length - 1] as number
  if (positives === 0 || negatives === 0) {
    throw new RangeError(
      `a ROC curve needs both classes, got ${positives} positive and ${negatives} negative labels`,
    )
  }

  // A point is kept when the second difference of fps or tps is non-zero at it, as in scikit-learn.
  const keep = (i: number) =>
    i === 0 ||
    i === tps.length - 1 ||
    (fps[i + 1] as number) - 2 * (fps[i] as number) + (fps[i - 1] as number) !== 0 ||
    (tps[i + 1] as number) - 2 * (tps[i] as number) + (tps[i - 1] as number) !== 0
  const curve: Curve = { x: [0], y: [0] }
  for (let i = 0; i < tps.length; i++) {
    if (tps.length > 2 && !keep(i)) continue
    curve.x.push((fps[i] as number) / negatives)
    curve.y.push((tps[i] as number) / positives)
  }
  return curve
}

/**
 * Converts reliability bins to the points of a reliability curve, leaving out empty bins as
 * scikit-learn 1.2's `calibration_curve` does.
 */
export function reliabilityPoints(bins: readonly ReliabilityBin[]): Curve & { counts: number[] } {
  const curve = { x: [] as number[], y: [] as number[], counts: [] as number[] }
  for (const bin of bins) {
    if (bin.count === 0 || bin.meanPredicted === null || bin.observedRate === null) continue
    curve.x.push(bin.meanPredicted)
    curve.y.push(bin.observedRate)
    curve.counts.push(bin.count)
  }
  return curve
}

function readKSelection(personas: PersonaTraining): KSelectionReport | undefined {
  if (personas.kSelection.length === 0) return undefined
  return {
    k: personas.kSelection.map((row) => row.k),
    silhouette: personas.kSelection.map((row) => row.silhouette ?? Number.NaN),
    inertia: personas.kSelection.map((row) => row.inertia),
    chosenK: personas.chosenK,
  }
}

function readDbscan(personas: PersonaTraining): DbscanReport | undefined {
  const dbscan = personas.dbscan
  if (!dbscan) return undefined
  return {
    eps: dbscan.eps,
    minPoints: dbscan.minPts,
    sampleSize: dbscan.sampleSize,
    clusters: dbscan.clusters,
    noiseShare: dbscan.noiseShare,
    sizes: dbscan.sizes,
    // The curve contains distances at evenly spaced ranks of the sorted sample, both ends included.
    kDistance: {
      x: dbscan.kDistanceCurve.map((_, i, all) => (all.length > 1 ? i / (all.length - 1) : 0)),
      y: [...dbscan.kDistanceCurve],
    },
  }
}

/**
 * Builds one model's churn report from its test labels and probabilities: ROC and
 * reliability curves, ROC AUC, average precision and Brier score.
 */
export function churnModelReport(
  name: string,
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
): ChurnModelReport {
  return {
    name,
    rocAuc: rocAuc(labels, probabilities),
    prAuc: prAuc(labels, probabilities),
    brier: brierScore(labels, probabilities),
    roc: rocCurve(labels, probabilities),
    reliability: reliabilityPoints(reliabilityCurve(labels, probabilities)),
  }
}

/** Reports one candidate from its test metrics, and its ROC curve from its test probabilities. */
function candidateReport(candidate: ChurnCandidate, labels: Uint8Array): ChurnModelReport {
  if (candidate.skipped !== undefined || !candidate.test) {
    return { name: candidate.kind, skipped: candidate.skipped ?? 'no test metrics recorded' }
  }
  const scores = candidate.testScores
  return {
    name: candidate.kind,
    rocAuc: candidate.test.rocAuc,
    prAuc: candidate.test.prAuc,
    brier: candidate.test.brier,
    brierUncalibrated: candidate.testBrierUncalibrated,
    roc: scores && scores.length === labels.length ? rocCurve(labels, scores) : undefined,
    reliability: reliabilityPoints(candidate.test.reliability),
  }
}

function readChurn(churn: ChurnTraining): NonNullable<ReportInput['churn']> {
  const models = churn.candidates.map((candidate) => candidateReport(candidate, churn.test.labels))
  // Without candidates, the chosen model's test probabilities are all there is to report.
  if (models.length === 0)
    models.push(churnModelReport(churn.chosen, churn.test.labels, churn.test.scores))
  return { models, chosen: churn.chosen }
}

function readImportance(churn: ChurnTraining): ImportanceReport | undefined {
  if (churn.importance.length === 0) return undefined
  return {
    model: churn.chosen,
    metric: 'ROC AUC',
    split: 'validation window',
    features: churn.importance.map((entry) => entry.feature),
    mean: churn.importance.map((entry) => entry.mean),
    std: churn.importance.map((entry) => entry.std),
  }
}

/** Builds the report's data from a training run, before the bundle is published. */
export function reportInputFromTraining(result: ReportSource): ReportInput {
  const { manifest, personas, churn } = result
  const features = manifest.personas.features
  return {
    name: manifest.name,
    version: manifest.version,
    createdAt: manifest.createdAt,
    training: {
      featuresAsOf: manifest.training.featuresAsOf,
      cutoff: new Date(
        Date.parse(manifest.training.labelsUntil) - manifest.churn.horizonDays * DAY_MS,
      ).toISOString(),
      labelsUntil: manifest.training.labelsUntil,
      horizonDays: manifest.churn.horizonDays,
      churnContacts: manifest.training.contacts,
      dataHash: manifest.training.dataHash,
    },
    libraries: Object.entries(manifest.libraries).map(([name, version]) => ({ name, version })),
    personas: {
      features,
      contacts: manifest.personas.contacts,
      list: manifest.personas.list.map((persona) => ({
        id: persona.id,
        name: persona.name,
        description: persona.description,
        size: persona.size,
        centroid: features.map((feature) => persona.centroid[feature] ?? Number.NaN),
        hourProfile: persona.hourProfile,
      })),
    },
    kSelection: readKSelection(personas),
    dbscan: readDbscan(personas),
    churn: { ...readChurn(churn), selectedBy: manifest.churn.selectedBy },
    importance: readImportance(churn),
  }
}
