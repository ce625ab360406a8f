import { selectColumns } from '../src/features/compute.ts'
import { contributionReasons, substitutionReasons, type Reason } from '../src/ml/importance.ts'
import { assignNearest } from '../src/ml/kmeans.ts'
import type { Matrix } from '../src/ml/matrix.ts'
import { transform } from '../src/ml/scaler.ts'
import type { ScoringModel } from './model.ts'
import { bestSendTime, sendTimeProfilesOf, type BestSendTime } from './send-time.ts'

export type RiskBand = 'low' | 'medium' | 'high'

export interface ContactScore {
  persona: { id: number; name: string; distance: number }
  churn: { probability: number; band: RiskBand }
  /**
   * Up to CHURN_REASON_COUNT features that move the churn probability most,
   * each with the probability change its value causes against the training median.
   */
  reasons: Reason[]
  /** Best local hour of the week to send, and the weights of the evidence behind it. */
  bestSendTime: BestSendTime
  modelVersion: string
}

/** Reasons returned per contact. */
export const CHURN_REASON_COUNT = 3

/**
 * Features tried as reasons by substitution (the MLP): the most important ones on the
 * validation window. Each costs one extra prediction per contact that is off the median.
 *
 * NOTE: substitution reasons dominate MLP scoring time. For 10,000 contacts of the demo data
 * (2-core machine under load), the forest's prediction alone took 0.1 s, and substituting
 * 20 candidates 1.5 s. The forest uses its path contributions instead, at about the cost of
 * one more prediction.
 */
export const CHURN_REASON_CANDIDATES = 20

/** Column indices of the CHURN_REASON_CANDIDATES most important churn features, or all of them. */
function reasonCandidates(model: ScoringModel): number[] | undefined {
  const { features, importance } = model.manifest.churn
  if (!importance) return undefined
  const index = new Map(features.map((name, j) => [name, j]))
  return [...importance]
    .sort((a, b) => b.mean - a.mean)
    .slice(0, CHURN_REASON_CANDIDATES)
    .flatMap((entry) => index.get(entry.feature) ?? [])
}

/**
 * Calibrated churn probabilities of the rows and up to CHURN_REASON_COUNT
 * reasons each: from the forest's path contributions, or by substituting
 * training medians for the MLP. A bundle without training medians (older
 * bundles) gets no reasons.
 */
function scoreChurn(model: ScoringModel, churnRows: Matrix) {
  const { churn, churnMedians, manifest } = model
  if (churn.contributions) {
    // One pass over the trees gives both the scores and their contributions.
    const { contributions, scores } = churn.contributions(churnRows)
    const reasons = contributionReasons(contributions, churnRows, scores, manifest.churn.features, {
      top: CHURN_REASON_COUNT,
      calibrate: (values) => churn.calibrate(values),
    })
    return { probabilities: churn.calibrate(scores), reasons }
  }
  const scores = churn.predictScores(churnRows)
  const probabilities = churn.calibrate(scores)
  if (!churnMedians) {
    return { probabilities, reasons: Array.from({ length: churnRows.rows }, (): Reason[] => []) }
  }
  const candidates = reasonCandidates(model)
  const reasons = substitutionReasons(
    (x) => churn.predictScores(x),
    churnRows,
    scores,
    churnMedians,
    manifest.churn.features,
    {
      top: CHURN_REASON_COUNT,
      calibrate: (values) => churn.calibrate(values),
      ...(candidates ? { candidates } : {}),
    },
  )
  return { probabilities, reasons }
}

function band(probability: number, model: ScoringModel): RiskBand {
  const { medium, high } = model.manifest.churn.bands
  if (probability >= high) return 'high'
  return probability >= medium ? 'medium' : 'low'
}

/**
 * Scores rows of features laid out as `featureNames` (which must include
 * every feature of the bundle): nearest persona, churn probability and band,
 * and the best send time from `weekOpens[i]`, row i's human opens per hour
 * of the week (undefined or absent without any), shrunk towards the
 * persona's and everyone's profiles.
 */
export function scoreRows(
  model: ScoringModel,
  featureNames: string[],
  rows: Matrix,
  weekOpens: readonly (ArrayLike<number> | undefined)[] = [],
): ContactScore[] {
  const { manifest } = model
  const personaInput = transform(
    model.scaler,
    selectColumns(rows, featureNames, manifest.personas.features),
  )
  const nearest = assignNearest(personaInput, model.centroids)
  const churn = scoreChurn(model, selectColumns(rows, featureNames, manifest.churn.features))
  const sendTime = sendTimeProfilesOf(manifest)

  return Array.from({ length: rows.rows }, (_, i) => {
    const personaId = nearest.labels[i] as number
    const persona = manifest.personas.list.find((entry) => entry.id === personaId)
    const probability = churn.probabilities[i] as number
    return {
      persona: {
        id: personaId,
        name: persona?.name ?? `persona ${personaId}`,
        distance: nearest.distances[i] as number,
      },
      churn: { probability, band: band(probability, model) },
      reasons: churn.reasons[i] as Reason[],
      bestSendTime: bestSendTime(
        weekOpens[i],
        sendTime.personas[personaId] ?? sendTime.global,
        sendTime.global,
      ),
      modelVersion: manifest.version,
    }
  })
}
