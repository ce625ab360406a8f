import { describe, expect, it } from 'vitest'
import { FEATURE_NAMES } from '../../../src/features/catalogue.ts'
import {
  buildFeatureQuery,
  CLASSIFICATION_CONTEXT_MS,
  GOOGLE_PREFETCH_SECONDS,
  localTimesSql,
  SCANNER_BURST_SECONDS,
  SCANNER_DELIVERY_SECONDS,
  zoneLiteral,
} from '../../../src/features/sql.ts'

/** Names of the outermost SELECT list, in order, from a query that aliases every column. */
function outerColumns(query: string): string[] {
  const select = query.slice(query.indexOf('SELECT') + 'SELECT'.length, query.indexOf('\nFROM ('))
  return [...select.matchAll(/(?:^\s*|\sAS\s)(\w+),?\s*$/gm)].map((match) => match[1] as string)
}

describe('feature query', () => {
  it('selects the catalogue in order', () => {
    const query = buildFeatureQuery({ zones: ['Europe/Warsaw'], defaultZone: 'UTC' })
    expect(outerColumns(query)).toEqual(['contact_key', 'time_zone', ...FEATURE_NAMES])
  })

  it('filters by key only when asked', () => {
    const unfiltered = buildFeatureQuery({ zones: [], defaultZone: 'UTC' })
    const filtered = buildFeatureQuery({ zones: [], defaultZone: 'UTC', filterKeys: true })
    expect(unfiltered).not.toContain('{keys:Array(String)}')
    expect(filtered).toContain('contact_key IN {keys:Array(String)}')
  })

  it('rejects invalid zone names', () => {
    expect(() => zoneLiteral("UTC'; DROP TABLE events")).toThrow(RangeError)
    expect(() => buildFeatureQuery({ zones: ['Bad zone'], defaultZone: 'UTC' })).toThrow(
      /Invalid time zone name/,
    )
    expect(zoneLiteral('America/Argentina/Buenos_Aires')).toBe("'America/Argentina/Buenos_Aires'")
  })
})

describe('localTimesSql', () => {
  it('branches once per zone besides the fallback', () => {
    const sql = localTimesSql('zone', 'times', ['Asia/Kolkata', 'UTC', 'Europe/Warsaw'], 'UTC')
    expect(sql.startsWith('multiIf(')).toBe(true)
    expect(sql.match(/zone = '/g)?.length).toBe(2)
    expect(sql.match(/toTimeZone\(/g)?.length).toBe(3)
  })

  it('needs no branch for the fallback alone', () => {
    const sql = localTimesSql('zone', 'times', ['UTC'], 'UTC')
    expect(sql.startsWith('arrayMap(')).toBe(true)
    expect(sql).toContain("'UTC'")
  })
})

describe('machine rules', () => {
  it('reads enough context for every rule', () => {
    const longest = Math.max(
      GOOGLE_PREFETCH_SECONDS,
      SCANNER_DELIVERY_SECONDS,
      SCANNER_BURST_SECONDS,
    )
    expect(CLASSIFICATION_CONTEXT_MS).toBe(longest * 1000)
  })
})
