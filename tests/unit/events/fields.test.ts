import { describe, expect, it } from 'vitest'
import { isoTimeToMs } from '../../../src/events/fields.ts'

describe('iso time parsing', () => {
  it('reads offsets and fractions', () => {
    expect(isoTimeToMs('2025-03-09T06:30:00Z')).toBe(1741501800000)
    expect(isoTimeToMs('2025-03-09T06:30:00.104Z')).toBe(1741501800104)
    expect(isoTimeToMs('2025-03-09T01:30:05.8810000-05:00')).toBe(1741501805881)
    expect(isoTimeToMs('2025-03-09T12:00:00+05:30')).toBe(1741501800000)
    expect(isoTimeToMs('2025-03-09T06:30:00.9996Z')).toBe(1741501801000)
  })

  it('rejects malformed times', () => {
    const invalid = [
      '2025-03-09T06:30:00',
      '2025-03-09 06:30:00Z',
      '2025-02-30T06:30:00Z',
      '2025-03-09T24:00:00Z',
      '2025-03-09T06:60:00Z',
      '2025-03-09T06:30:00+0500',
      '2025-03-09T06:30:00.Z',
      'yesterday',
    ]
    for (const text of invalid) expect(isoTimeToMs(text), text).toBeNaN()
  })
})
