import { describe, expect, it } from 'vitest'
import { utcToLocalParts, zonedToUtcMs, zoneOffsetMs } from '../../../src/simulate/time-zones.ts'

const HOUR_MS = 3_600_000

function utc(text: string): number {
  return Date.parse(text)
}

describe('simulate', () => {
  describe('zonedToUtcMs', () => {
    it('converts Warsaw winter and summer time', () => {
      expect(zonedToUtcMs('Europe/Warsaw', 2025, 1, 15, 12, 0)).toBe(utc('2025-01-15T11:00:00Z'))
      expect(zonedToUtcMs('Europe/Warsaw', 2025, 7, 15, 12, 0)).toBe(utc('2025-07-15T10:00:00Z'))
    })

    it('handles the Warsaw spring-forward night', () => {
      // Clocks jump from 02:00 CET to 03:00 CEST at 01:00 UTC on 30 March 2025.
      expect(zonedToUtcMs('Europe/Warsaw', 2025, 3, 30, 1, 30)).toBe(utc('2025-03-30T00:30:00Z'))
      expect(zonedToUtcMs('Europe/Warsaw', 2025, 3, 30, 3, 0)).toBe(utc('2025-03-30T01:00:00Z'))
      expect(zonedToUtcMs('Europe/Warsaw', 2025, 3, 30, 3, 30)).toBe(utc('2025-03-30T01:30:00Z'))
    })

    it('moves a skipped local time forward', () => {
      // 02:30 does not exist in Warsaw on 30 March 2025. It reads as 03:30 CEST.
      expect(zonedToUtcMs('Europe/Warsaw', 2025, 3, 30, 2, 30)).toBe(utc('2025-03-30T01:30:00Z'))
    })

    it('picks the earlier of a repeated local time', () => {
      // Clocks go back from 03:00 CEST to 02:00 CET at 01:00 UTC on 26 October 2025.
      expect(zonedToUtcMs('Europe/Warsaw', 2025, 10, 26, 2, 30)).toBe(utc('2025-10-26T00:30:00Z'))
      expect(zonedToUtcMs('Europe/Warsaw', 2025, 10, 26, 3, 30)).toBe(utc('2025-10-26T02:30:00Z'))
    })

    it('handles New York DST changes', () => {
      // Spring forward at 02:00 EST on 9 March 2025, fall back at 02:00 EDT on 2 November 2025.
      expect(zonedToUtcMs('America/New_York', 2025, 3, 9, 1, 59)).toBe(utc('2025-03-09T06:59:00Z'))
      expect(zonedToUtcMs('America/New_York', 2025, 3, 9, 3, 0)).toBe(utc('2025-03-09T07:00:00Z'))
      expect(zonedToUtcMs('America/New_York', 2025, 3, 9, 2, 15)).toBe(utc('2025-03-09T07:15:00Z'))
      expect(zonedToUtcMs('America/New_York', 2025, 11, 2, 1, 30)).toBe(utc('2025-11-02T05:30:00Z'))
      expect(zonedToUtcMs('America/New_York', 2025, 11, 2, 2, 30)).toBe(utc('2025-11-02T07:30:00Z'))
    })

    it('handles the half-hour Kolkata offset', () => {
      expect(zonedToUtcMs('Asia/Kolkata', 2025, 6, 1, 10, 0)).toBe(utc('2025-06-01T04:30:00Z'))
      expect(zonedToUtcMs('Asia/Kolkata', 2025, 1, 1, 0, 15)).toBe(utc('2024-12-31T18:45:00Z'))
    })

    it('rolls overflowing fields over', () => {
      expect(zonedToUtcMs('Asia/Kolkata', 2025, 6, 1, 26, 0)).toBe(utc('2025-06-01T20:30:00Z'))
      expect(zonedToUtcMs('Europe/London', 2025, 12, 31, 0, 24 * 60 + 5)).toBe(
        utc('2026-01-01T00:05:00Z'),
      )
    })

    it('rejects an unknown zone', () => {
      expect(() => zonedToUtcMs('Mars/Olympus_Mons', 2025, 1, 1, 0, 0)).toThrow(RangeError)
    })
  })

  describe('utcToLocalParts', () => {
    it('reads Kolkata wall-clock fields', () => {
      expect(utcToLocalParts('Asia/Kolkata', utc('2025-06-01T18:45:30Z'))).toEqual({
        year: 2025,
        month: 6,
        day: 2,
        hour: 0,
        minute: 15,
        second: 30,
        weekday: 1,
      })
    })

    it('follows the Warsaw offset across DST', () => {
      expect(utcToLocalParts('Europe/Warsaw', utc('2025-03-30T00:59:00Z')).hour).toBe(1)
      expect(utcToLocalParts('Europe/Warsaw', utc('2025-03-30T01:00:00Z')).hour).toBe(3)
      expect(utcToLocalParts('Europe/Warsaw', utc('2025-10-26T00:30:00Z')).hour).toBe(2)
      expect(utcToLocalParts('Europe/Warsaw', utc('2025-10-26T01:30:00Z')).hour).toBe(2)
    })

    it('reports New York offsets around DST', () => {
      expect(zoneOffsetMs('America/New_York', utc('2025-03-09T06:59:59Z'))).toBe(-5 * HOUR_MS)
      expect(zoneOffsetMs('America/New_York', utc('2025-03-09T07:00:00Z'))).toBe(-4 * HOUR_MS)
      expect(zoneOffsetMs('America/New_York', utc('2025-11-02T05:59:59Z'))).toBe(-4 * HOUR_MS)
      expect(zoneOffsetMs('America/New_York', utc('2025-11-02T06:00:00Z'))).toBe(-5 * HOUR_MS)
    })

    it('inverts zonedToUtcMs every 15 minutes', () => {
      const zones = ['Europe/Warsaw', 'America/New_York', 'Asia/Kolkata', 'Australia/Sydney']
      const from = utc('2025-03-01T00:00:00Z')
      const to = utc('2025-11-15T00:00:00Z')
      for (const zone of zones) {
        for (let ms = from; ms < to; ms += 15 * 60_000) {
          const local = utcToLocalParts(zone, ms)
          const { year, month, day, hour, minute } = local
          const back = zonedToUtcMs(zone, year, month, day, hour, minute)
          // A repeated local time maps back to its earlier instant, one hour before `ms`.
          if (back !== ms) expect(ms - back, `${zone} ${new Date(ms).toISOString()}`).toBe(HOUR_MS)
        }
      }
    })

    it('matches Intl for local hours', () => {
      const format = new Intl.DateTimeFormat('en-GB', {
        timeZone: 'Australia/Sydney',
        hour: '2-digit',
        hourCycle: 'h23',
      })
      const to = utc('2025-04-07T00:00:00Z')
      for (let ms = utc('2025-04-05T10:00:00Z'); ms < to; ms += 1_800_000) {
        expect(utcToLocalParts('Australia/Sydney', ms).hour).toBe(Number(format.format(ms)))
      }
    })
  })
})
