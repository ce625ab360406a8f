import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  DAY_OF_WEEK_FEATURES,
  FEATURE_NAMES,
  FEATURES,
  HOUR_FEATURES,
  PERSONA_FEATURES,
} from '../../../src/features/catalogue.ts'

const DOCS = readFileSync(new URL('../../../docs/features.md', import.meta.url), 'utf8')

describe('feature catalogue', () => {
  it('has unique names', () => {
    expect(new Set(FEATURE_NAMES).size).toBe(FEATURE_NAMES.length)
  })

  it('keeps the names other modules read', () => {
    const read = ['opens_90d', 'clicks_90d', 'unsubscribed', 'hard_bounced', ...PERSONA_FEATURES]
    for (const name of read) expect(FEATURE_NAMES, name).toContain(name)
    expect(HOUR_FEATURES.map((feature) => feature.name)).toEqual(
      Array.from({ length: 24 }, (_, hour) => `hour_share_${String(hour).padStart(2, '0')}`),
    )
  })

  it('orders the week from Monday', () => {
    expect(DAY_OF_WEEK_FEATURES.map((feature) => feature.name)).toEqual([
      'day_of_week_share_mon',
      'day_of_week_share_tue',
      'day_of_week_share_wed',
      'day_of_week_share_thu',
      'day_of_week_share_fri',
      'day_of_week_share_sat',
      'day_of_week_share_sun',
    ])
  })

  it('gives every feature a finite no-data value', () => {
    for (const feature of FEATURES) {
      expect(Number.isFinite(feature.noData), feature.name).toBe(true)
      expect(feature.description.length, feature.name).toBeGreaterThan(0)
    }
  })

  it('is documented feature by feature', () => {
    const hourly = new Set(HOUR_FEATURES.map((feature) => feature.name))
    for (const name of FEATURE_NAMES) {
      if (hourly.has(name)) continue
      expect(DOCS, name).toMatch(new RegExp(`^\\| \`${name}\` +\\|`, 'm'))
    }
    expect(DOCS).toMatch(/^\| `hour_share_00` \.\.\. `hour_share_23` +\|/m)
  })
})
