import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { ScoringModel } from '../../../inference/model.ts'
import { encodeScoreLogLines, type ScoredBatch } from '../../../inference/score-log.ts'
import type { ContactScore } from '../../../inference/scoring.ts'

const featureNames = ['opens_30d', 'clicks_30d', 'ctr_30d']

const score = (probability: number): ContactScore => ({
  persona: { id: 2, name: 'night "owls"', distance: 1.25 },
  churn: { probability, band: probability >= 0.5 ? 'high' : 'low' },
  reasons: [{ feature: 'opens_30d', value: 3, effect: -0.125 }],
  bestSendTime: {
    hourOfWeek: 33,
    weekday: 'tue',
    hour: 9,
    ownShare: 0.5,
    personaShare: 0.25,
    globalShare: 0.25,
  },
  modelVersion: 'v7',
})

function batchOf(contacts: ScoredBatch['contacts']): ScoredBatch {
  const model = { manifest: { name: 'segments', featureNames } } as unknown as ScoringModel
  return { model, contacts, requestId: 'req-1' }
}

describe('encodeScoreLogLines', () => {
  it('writes one JSON line per contact', () => {
    const features = Float64Array.of(3, 0, 0.1 + 0.2)
    const lines = encodeScoreLogLines(
      batchOf([
        { key: 'a@example.com', asOfMs: Date.UTC(2025, 3, 6), features, score: score(0.75) },
        { key: null, asOfMs: null, features: [1, 2, 0.5], score: score(0.125) },
      ]),
      Date.UTC(2026, 11, 4, 10, 0, 0, 123),
    )
    expect(lines).toHaveLength(2)
    for (const line of lines) expect(line.endsWith('}\n')).toBe(true)

    const first = JSON.parse(lines[0] as string)
    expect(first).toEqual({
      scored_at: '2026-12-04 10:00:00.123',
      request_id: 'req-1',
      model_name: 'segments',
      feature_names_hash: createHash('sha256').update(JSON.stringify(featureNames)).digest('hex'),
      contact_key: 'a@example.com',
      as_of: '2025-04-06 00:00:00.000',
      model_version: 'v7',
      persona_id: 2,
      persona_distance: 1.25,
      churn_probability: 0.75,
      churn_band: 'high',
      result: JSON.stringify(score(0.75)),
      features: [3, 0, 0.30000000000000004],
    })
    const second = JSON.parse(lines[1] as string)
    expect(second.contact_key).toBeNull()
    expect(second.as_of).toBeNull()
    expect(second.features).toEqual([1, 2, 0.5])
  })

  it('writes a non-finite value as null', () => {
    const [line] = encodeScoreLogLines(
      batchOf([
        { key: null, asOfMs: null, features: [Number.NaN, 1, Infinity], score: score(0.5) },
      ]),
      0,
    )
    expect(JSON.parse(line as string).features).toEqual([null, 1, null])
  })
})
