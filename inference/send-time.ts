/**
 * Best send time: the hour of the week, in the contact's local time, with the
 * most expected human opens. A contact's own opens per slot are shrunk towards
 * its persona's profile and everyone's profile by pseudo-counts,
 *
 *   score[s] = opens[s] + PERSONA_PSEUDO_OPENS * persona[s] + GLOBAL_PSEUDO_OPENS * global[s],
 *
 * which is the posterior mean of a Dirichlet-multinomial model up to a
 * common factor, and the best slot is the one with the highest score.
 */
import { WEEKDAYS } from '../src/features/catalogue.ts'
import { HOURS_PER_WEEK } from '../src/features/send-time.ts'
import type { Manifest } from '../src/registry/manifest.ts'

/**
 * Weight of the persona's profile, in human opens: half an open per slot on
 * average. A slot with four times the uniform share (4 / 168) leads a slot at
 * the uniform share by 84 * 3 / 168 = 1.5 pseudo-opens, so one stray open
 * elsewhere does not move the best slot off the persona's peak, and two opens
 * in one slot do. The contact's own opens weigh half of the total after 105.
 */
export const PERSONA_PSEUDO_OPENS = 84

/**
 * Weight of everyone's profile, in human opens: a quarter of the persona's,
 * so the persona leads, but slots that a persona's members never used (a
 * share of 0 in a small persona) still rank by how everyone reads.
 */
export const GLOBAL_PSEUDO_OPENS = 21

export type Weekday = (typeof WEEKDAYS)[number]

export interface BestSendTime {
  /** Slot 0 to 167: Monday 00:00 is 0, Sunday 23:00 is 167, local time. */
  hourOfWeek: number
  weekday: Weekday
  /** Local hour of day, 0 to 23. */
  hour: number
  /** Weights of the contact's own opens, its persona's profile and everyone's profile. They sum to 1. */
  ownShare: number
  personaShare: number
  globalShare: number
}

/** Profiles a bundle gives the send time, each of 168 shares that sum to 1. */
export interface SendTimeProfiles {
  /** Indexed by persona id. */
  personas: Float64Array[]
  global: Float64Array
}

/** Spreads a 24-hour profile evenly over the 7 days. */
function weekFromHours(hourProfile: readonly number[]): Float64Array {
  const total = hourProfile.reduce((sum, share) => sum + share, 0)
  const week = new Float64Array(HOURS_PER_WEEK)
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) {
    const share = total > 0 ? (hourProfile[slot % 24] as number) / total : 1 / 24
    week[slot] = share / 7
  }
  return week
}

/**
 * Reads the send-time profiles of a manifest. Bundles trained before the
 * 168-slot profiles existed have only 24-hour profiles: each persona's is
 * spread evenly over the week, and everyone's is their mean weighted by
 * persona size.
 */
export function readSendTimeProfiles(manifest: Manifest): SendTimeProfiles {
  const { list } = manifest.personas
  const byId = [...list].sort((a, b) => a.id - b.id)
  const personas = byId.map((persona) =>
    persona.weekProfile
      ? Float64Array.from(persona.weekProfile)
      : weekFromHours(persona.hourProfile),
  )
  if (manifest.personas.weekProfile) {
    return { personas, global: Float64Array.from(manifest.personas.weekProfile) }
  }
  // NOTE: without a stored global profile, the persona profiles stand in for everyone's, so a
  // bundle of that age gives persona and global weight to the same evidence.
  const global = new Float64Array(HOURS_PER_WEEK)
  const totalSize = byId.reduce((sum, persona) => sum + persona.size, 0)
  byId.forEach((persona, index) => {
    const weight = totalSize > 0 ? persona.size / totalSize : 1 / byId.length
    const profile = personas[index] as Float64Array
    for (let slot = 0; slot < HOURS_PER_WEEK; slot++) global[slot]! += weight * profile[slot]!
  })
  return { personas, global }
}

const profilesByManifest = new WeakMap<Manifest, SendTimeProfiles>()

/** Returns the send-time profiles of a manifest, read once per manifest object. */
export function sendTimeProfilesOf(manifest: Manifest): SendTimeProfiles {
  let profiles = profilesByManifest.get(manifest)
  if (profiles === undefined) {
    profiles = readSendTimeProfiles(manifest)
    profilesByManifest.set(manifest, profiles)
  }
  return profiles
}

/**
 * Picks the best send time from the contact's human opens per slot (168
 * values, or undefined without any) and the profiles of its persona and of
 * everyone. Ties go to the earliest slot of the week.
 */
export function bestSendTime(
  opens: ArrayLike<number> | undefined,
  personaProfile: ArrayLike<number>,
  globalProfile: ArrayLike<number>,
): BestSendTime {
  let own = 0
  if (opens) for (let slot = 0; slot < HOURS_PER_WEEK; slot++) own += opens[slot] as number
  let best = 0
  let bestScore = -Infinity
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) {
    const score =
      (opens ? (opens[slot] as number) : 0) +
      PERSONA_PSEUDO_OPENS * (personaProfile[slot] as number) +
      GLOBAL_PSEUDO_OPENS * (globalProfile[slot] as number)
    if (score > bestScore) {
      bestScore = score
      best = slot
    }
  }
  const total = own + PERSONA_PSEUDO_OPENS + GLOBAL_PSEUDO_OPENS
  return {
    hourOfWeek: best,
    weekday: WEEKDAYS[Math.floor(best / 24)] as Weekday,
    hour: best % 24,
    ownShare: own / total,
    personaShare: PERSONA_PSEUDO_OPENS / total,
    globalShare: GLOBAL_PSEUDO_OPENS / total,
  }
}

/**
 * Checks a request's `hourOfWeekOpens` and returns it as 168 counts, or the
 * problem: the length, or a value that is not an integer from 0 to 1e9.
 */
export function parseHourOfWeekOpens(
  values: readonly unknown[],
): { opens: Float64Array } | { message: string; path: number[] } {
  if (values.length !== HOURS_PER_WEEK) {
    return {
      message: `hourOfWeekOpens must have ${HOURS_PER_WEEK} values (Monday 00:00 first), received ${values.length}`,
      path: [],
    }
  }
  const opens = new Float64Array(HOURS_PER_WEEK)
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) {
    const value = values[slot]
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 1e9) {
      return {
        message: `hourOfWeekOpens[${slot}] must be an integer from 0 to 1e9, received ${JSON.stringify(value) ?? String(value)}`,
        path: [slot],
      }
    }
    opens[slot] = value
  }
  return { opens }
}
