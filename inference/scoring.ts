import { HOUR_FEATURES } from '../src/features/catalogue.ts'
import { selectColumns } from '../src/features/compute.ts'
import { assignNearest } from '../src/ml/kmeans.ts'
import type { Matrix } from '../src/ml/matrix.ts'
import { transform } from '../src/ml/scaler.ts'
import type { ScoringModel } from './model.ts'

export type RiskBand = 'low' | 'medium' | 'high'

export interface ContactScore {
  persona: { id: number; name: string; distance: number }
  churn: { probability: number; band: RiskBand }
  /** Best local hour of day to send, and the weight of the contact's own history in it (0 to 1). */
  bestSendHour: { hour: number; ownShare: number }
  modelVersion: string
}

/**
 * Weight of the persona's hour profile, in engagements: a contact with this
 * many human opens and clicks counts as much as its persona.
 */
const PERSONA_PRIOR_WEIGHT = 10

function band(probability: number, model: ScoringModel): RiskBand {
  const { medium, high } = model.manifest.churn.bands
  if (probability >= high) return 'high'
  return probability >= medium ? 'medium' : 'low'
}

function bestHour(ownShares: ArrayLike<number>, engagements: number, personaProfile: number[]) {
  const ownShare = engagements / (engagements + PERSONA_PRIOR_WEIGHT)
  let hour = 0
  let best = -1
  for (let h = 0; h < 24; h++) {
    const blended =
      ownShare * (ownShares[h] as number) + (1 - ownShare) * (personaProfile[h] as number)
    if (blended > best) {
      best = blended
      hour = h
    }
  }
  return { hour, ownShare }
}

/**
 * Scores rows of features laid out as `featureNames` (which must include
 * every feature of the bundle): nearest persona, churn probability and band,
 * and the best local send hour, shrunk towards the persona's profile when the
 * contact has few engagements.
 */
export function scoreRows(
  model: ScoringModel,
  featureNames: string[],
  rows: Matrix,
): ContactScore[] {
  const { manifest } = model
  const personaInput = transform(
    model.scaler,
    selectColumns(rows, featureNames, manifest.personas.features),
  )
  const nearest = assignNearest(personaInput, model.centroids)
  const probabilities = model.forest.predictProba(
    selectColumns(rows, featureNames, manifest.churn.features),
  )
  const hours = selectColumns(
    rows,
    featureNames,
    HOUR_FEATURES.map((feature) => feature.name),
  )
  const engagements = selectColumns(rows, featureNames, ['opens_90d', 'clicks_90d'])

  return Array.from({ length: rows.rows }, (_, i) => {
    const personaId = nearest.labels[i] as number
    const persona = manifest.personas.list.find((entry) => entry.id === personaId)
    const probability = probabilities[i] as number
    const count = (engagements.data[i * 2] as number) + (engagements.data[i * 2 + 1] as number)
    return {
      persona: {
        id: personaId,
        name: persona?.name ?? `persona ${personaId}`,
        distance: nearest.distances[i] as number,
      },
      churn: { probability, band: band(probability, model) },
      bestSendHour: bestHour(
        hours.data.subarray(i * 24, i * 24 + 24),
        count,
        persona?.hourProfile ?? [],
      ),
      modelVersion: manifest.version,
    }
  })
}
