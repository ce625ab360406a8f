import { describe, expect, it } from 'vitest'
import {
  bestSendTime,
  GLOBAL_PSEUDO_OPENS,
  parseHourOfWeekOpens,
  PERSONA_PSEUDO_OPENS,
  readSendTimeProfiles,
} from '../../../inference/send-time.ts'
import { fitWeekProfiles, HOURS_PER_WEEK, toDenseWeek } from '../../../src/features/send-time.ts'
import type { Manifest } from '../../../src/registry/manifest.ts'

const UNIFORM = new Array<number>(HOURS_PER_WEEK).fill(1 / HOURS_PER_WEEK)

/** Builds a profile with `peak` share in `peakSlot`, `second` in `secondSlot`, and the rest spread evenly. */
function profileWith(peakSlot: number, peak: number, secondSlot: number, second: number): number[] {
  const rest = (1 - peak - second) / (HOURS_PER_WEEK - 2)
  const profile = new Array<number>(HOURS_PER_WEEK).fill(rest)
  profile[peakSlot] = peak
  profile[secondSlot] = second
  return profile
}

function opensAt(entries: Record<number, number>): Float64Array {
  const opens = new Float64Array(HOURS_PER_WEEK)
  for (const [slot, count] of Object.entries(entries)) opens[Number(slot)] = count
  return opens
}

describe('bestSendTime', () => {
  it('follows own opens over uniform priors', () => {
    const result = bestSendTime(opensAt({ 10: 1, 50: 3 }), UNIFORM, UNIFORM)

    // Slot 50 is Wednesday (day 2) at 02:00. The total weight is 4 + 84 + 21 = 109.
    expect(result.hourOfWeek).toBe(50)
    expect(result.weekday).toBe('wed')
    expect(result.hour).toBe(2)
    expect(result.ownShare).toBeCloseTo(4 / 109, 15)
    expect(result.personaShare).toBeCloseTo(84 / 109, 15)
    expect(result.globalShare).toBeCloseTo(21 / 109, 15)
  })

  it('uses the persona without opens', () => {
    const persona = profileWith(100, 0.5, 20, 0.1)
    const global = profileWith(20, 0.5, 100, 0.1)

    // Slot 100: 84 * 0.5 + 21 * 0.1 = 44.1; slot 20: 84 * 0.1 + 21 * 0.5 = 18.9.
    const result = bestSendTime(undefined, persona, global)

    expect(result.hourOfWeek).toBe(100)
    expect(result.weekday).toBe('fri')
    expect(result.hour).toBe(4)
    expect(result.ownShare).toBe(0)
    expect(result.personaShare).toBeCloseTo(0.8, 15)
    expect(result.globalShare).toBeCloseTo(0.2, 15)
  })

  it('uses everyone without a persona peak', () => {
    const global = profileWith(167, 0.2, 0, 0.01)

    const result = bestSendTime(new Float64Array(HOURS_PER_WEEK), UNIFORM, global)

    expect(result.hourOfWeek).toBe(167)
    expect(result.weekday).toBe('sun')
    expect(result.hour).toBe(23)
  })

  it('needs two opens to leave the peak', () => {
    // The persona's peak, slot 30, has four times the uniform share and slot 31 the uniform
    // share: 84 * 4 / 168 = 2 pseudo-opens against 84 / 168 = 0.5 plus the contact's opens.
    const persona = profileWith(30, 4 / HOURS_PER_WEEK, 31, 1 / HOURS_PER_WEEK)

    expect(bestSendTime(opensAt({ 31: 1 }), persona, UNIFORM).hourOfWeek).toBe(30)
    expect(bestSendTime(opensAt({ 31: 2 }), persona, UNIFORM).hourOfWeek).toBe(31)
  })

  it('breaks ties at the earliest slot', () => {
    const result = bestSendTime(opensAt({ 70: 2, 12: 2 }), UNIFORM, UNIFORM)

    expect(result.hourOfWeek).toBe(12)
  })

  it('sums the shares to 1', () => {
    const result = bestSendTime(opensAt({ 5: 200 }), UNIFORM, UNIFORM)
    const total = result.ownShare + result.personaShare + result.globalShare

    expect(total).toBeCloseTo(1, 15)
    expect(result.ownShare).toBeCloseTo(
      200 / (200 + PERSONA_PSEUDO_OPENS + GLOBAL_PSEUDO_OPENS),
      15,
    )
  })
})

describe('parseHourOfWeekOpens', () => {
  it('accepts 168 counts', () => {
    const values = Array.from({ length: HOURS_PER_WEEK }, (_, slot) => slot % 3)

    const parsed = parseHourOfWeekOpens(values)

    expect('opens' in parsed).toBe(true)
    expect(Array.from((parsed as { opens: Float64Array }).opens)).toEqual(values)
  })

  it('rejects the wrong length', () => {
    expect(parseHourOfWeekOpens([1, 2, 3])).toEqual({
      message: 'hourOfWeekOpens must have 168 values (Monday 00:00 first), received 3',
      path: [],
    })
  })

  it('rejects a negative count', () => {
    const values = new Array<number>(HOURS_PER_WEEK).fill(0)
    values[7] = -1

    expect(parseHourOfWeekOpens(values)).toEqual({
      message: 'hourOfWeekOpens[7] must be an integer from 0 to 1e9, received -1',
      path: [7],
    })
  })

  it('rejects a fractional count', () => {
    const values = new Array<number>(HOURS_PER_WEEK).fill(0)
    values[5] = 1.5

    expect(parseHourOfWeekOpens(values)).toEqual({
      message: 'hourOfWeekOpens[5] must be an integer from 0 to 1e9, received 1.5',
      path: [5],
    })
  })

  it('rejects a count past 1e9', () => {
    const values = new Array<number>(HOURS_PER_WEEK).fill(0)
    values[167] = 2e9

    expect(parseHourOfWeekOpens(values)).toEqual({
      message: 'hourOfWeekOpens[167] must be an integer from 0 to 1e9, received 2000000000',
      path: [167],
    })
  })
})

describe('fitWeekProfiles', () => {
  it('averages shares per persona', () => {
    // a: 3 opens in slot 0 and 1 in slot 1 (shares 0.75, 0.25); b: 1 in slot 1; both persona 0.
    // c: 2 opens in slot 2, persona 1. d has no opens and counts nowhere.
    const weekOpens = new Map([
      ['a', { slots: [0, 1], counts: [3, 1] }],
      ['b', { slots: [1], counts: [1] }],
      ['c', { slots: [2], counts: [2] }],
    ])

    const profiles = fitWeekProfiles(weekOpens, ['a', 'b', 'c', 'd'], [0, 0, 1, 2], 3)

    expect(profiles.personas[0]?.slice(0, 3)).toEqual([0.375, 0.625, 0])
    expect(profiles.personas[1]?.slice(0, 3)).toEqual([0, 0, 1])
    // Global: (0.75 + 0, 0.25 + 1, 1) / 3 contacts with opens.
    expect(profiles.global.slice(0, 3)).toEqual([0.25, 1.25 / 3, 1 / 3])
    // Persona 2 has no member with opens, so it takes the global profile.
    expect(profiles.personas[2]).toEqual(profiles.global)
    for (const profile of [...profiles.personas, profiles.global]) {
      expect(profile).toHaveLength(HOURS_PER_WEEK)
      expect(profile.reduce((sum, share) => sum + share, 0)).toBeCloseTo(1, 12)
    }
  })

  it('is uniform without opens', () => {
    const profiles = fitWeekProfiles(new Map(), ['a'], [0], 1)

    expect(profiles.global).toEqual(UNIFORM)
    expect(profiles.personas[0]).toEqual(UNIFORM)
  })

  it('rejects a label outside the personas', () => {
    const weekOpens = new Map([['a', { slots: [0], counts: [1] }]])

    expect(() => fitWeekProfiles(weekOpens, ['a'], [2], 2)).toThrow(
      'Persona label 2 of row 0 is outside 0 to 1',
    )
  })

  it('expands sparse counts', () => {
    const dense = toDenseWeek({ slots: [3, 160], counts: [2, 5] })

    expect(dense).toHaveLength(HOURS_PER_WEEK)
    expect(dense[3]).toBe(2)
    expect(dense[160]).toBe(5)
    expect(dense.reduce((sum, value) => sum + value, 0)).toBe(7)
  })
})

describe('readSendTimeProfiles', () => {
  const hourProfile = (peakHour: number) =>
    Array.from({ length: 24 }, (_, hour) => (hour === peakHour ? 0.54 : 0.02))

  function manifestWith(personas: Partial<Manifest['personas']>): Manifest {
    return { personas: { list: [], ...personas } } as unknown as Manifest
  }

  it('reads stored week profiles', () => {
    const week = profileWith(5, 0.3, 6, 0.1)
    const global = profileWith(7, 0.3, 8, 0.1)
    const manifest = manifestWith({
      list: [
        {
          id: 0,
          name: 'a',
          description: '',
          size: 1,
          centroid: {},
          hourProfile: hourProfile(1),
          weekProfile: week,
        },
      ],
      weekProfile: global,
    })

    const profiles = readSendTimeProfiles(manifest)

    expect(Array.from(profiles.personas[0] as Float64Array)).toEqual(week)
    expect(Array.from(profiles.global)).toEqual(global)
  })

  it('spreads older hour profiles over the week', () => {
    // Persona 0 (size 3) peaks at 09:00 and persona 1 (size 1) at 21:00. Each hour's share is
    // split over the 7 days, and everyone's profile weighs the personas 3 to 1.
    const manifest = manifestWith({
      list: [
        { id: 1, name: 'b', description: '', size: 1, centroid: {}, hourProfile: hourProfile(21) },
        { id: 0, name: 'a', description: '', size: 3, centroid: {}, hourProfile: hourProfile(9) },
      ],
    })

    const profiles = readSendTimeProfiles(manifest)
    const first = profiles.personas[0] as Float64Array

    expect(first[9]).toBeCloseTo(0.54 / 7, 15)
    expect(first[24 * 6 + 9]).toBeCloseTo(0.54 / 7, 15)
    expect(first[10]).toBeCloseTo(0.02 / 7, 15)
    expect((profiles.personas[1] as Float64Array)[21]).toBeCloseTo(0.54 / 7, 15)
    expect(profiles.global[9]).toBeCloseTo((0.75 * 0.54 + 0.25 * 0.02) / 7, 15)
    expect(profiles.global[21]).toBeCloseTo((0.75 * 0.02 + 0.25 * 0.54) / 7, 15)
    expect(profiles.global.reduce((sum, share) => sum + share, 0)).toBeCloseTo(1, 12)
  })
})
