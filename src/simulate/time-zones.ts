/**
 * Conversions between UTC instants and wall-clock times in IANA time zones,
 * built on Intl.DateTimeFormat so that DST rules come from the runtime's tz data.
 */

const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000
/** Cached hours per zone before the cache is cleared, so long-running callers stay bounded. */
const MAX_CACHED_HOURS = 100_000

/** Wall-clock fields of an instant in one time zone. `month` is 1-12, `weekday` 0 (Sunday)-6. */
export interface LocalParts {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
  weekday: number
}

const formatters = new Map<string, Intl.DateTimeFormat>()
const hourlyOffsets = new Map<string, Map<number, number>>()

function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone)
  if (formatter === undefined) {
    // The constructor raises a RangeError naming the zone when the runtime does not know it.
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
    formatters.set(zone, formatter)
  }
  return formatter
}

/** Computes the zone's UTC offset at `ms` with one Intl call, to whole seconds. */
function computeOffsetMs(zone: string, ms: number): number {
  const fields: Record<string, number> = {}
  for (const part of formatterFor(zone).formatToParts(ms)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value)
  }
  const wallClockAsUtc = Date.UTC(
    fields.year ?? 0,
    (fields.month ?? 1) - 1,
    fields.day ?? 1,
    fields.hour ?? 0,
    fields.minute ?? 0,
    fields.second ?? 0,
  )
  return wallClockAsUtc - Math.floor(ms / 1000) * 1000
}

function offsetAtHourStart(zone: string, hourIndex: number): number {
  let cache = hourlyOffsets.get(zone)
  if (cache === undefined || cache.size >= MAX_CACHED_HOURS) {
    cache = new Map()
    hourlyOffsets.set(zone, cache)
  }
  let offset = cache.get(hourIndex)
  if (offset === undefined) {
    offset = computeOffsetMs(zone, hourIndex * HOUR_MS)
    cache.set(hourIndex, offset)
  }
  return offset
}

/**
 * Returns the UTC offset of `zone` at the instant `ms`, in milliseconds (local = UTC + offset).
 *
 * Offsets are cached per UTC hour. When the offset at the start of the hour differs from the
 * one at the next hour, a transition lies inside it, and the offset is computed exactly for `ms`.
 * A zone that changed its offset and back within one hour would go unnoticed.
 */
export function zoneOffsetMs(zone: string, ms: number): number {
  const hourIndex = Math.floor(ms / HOUR_MS)
  const offset = offsetAtHourStart(zone, hourIndex)
  if (offset === offsetAtHourStart(zone, hourIndex + 1)) return offset
  return computeOffsetMs(zone, ms)
}

/** Returns the wall-clock fields of the instant `ms` in `zone`. */
export function utcToLocalParts(zone: string, ms: number): LocalParts {
  const local = new Date(ms + zoneOffsetMs(zone, ms))
  return {
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
    hour: local.getUTCHours(),
    minute: local.getUTCMinutes(),
    second: local.getUTCSeconds(),
    weekday: local.getUTCDay(),
  }
}

/**
 * Converts a wall-clock time in `zone` to a UTC instant in milliseconds. `month` is 1-12.
 * Fields may overflow as in Date.UTC, so hour 26 is 02:00 of the next day.
 *
 * Times that occur twice (when clocks go back) resolve to the earlier instant, and times that
 * do not exist (when clocks go forward) move forward by the length of the gap, so 02:30 on a
 * spring-forward night becomes 03:30. These are the rules of Temporal's 'compatible'
 * disambiguation.
 */
export function zonedToUtcMs(
  zone: string,
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
): number {
  const wallClockAsUtc = Date.UTC(year, month - 1, day, hour, minute)
  // Offsets a day either side bracket any single transition near this wall-clock time.
  const offsetBefore = zoneOffsetMs(zone, wallClockAsUtc - DAY_MS)
  const offsetAfter = zoneOffsetMs(zone, wallClockAsUtc + DAY_MS)
  const earlier = wallClockAsUtc - Math.max(offsetBefore, offsetAfter)
  const later = wallClockAsUtc - Math.min(offsetBefore, offsetAfter)
  if (earlier + zoneOffsetMs(zone, earlier) === wallClockAsUtc) return earlier
  if (later + zoneOffsetMs(zone, later) === wallClockAsUtc) return later
  // A gap: read the wall clock with the offset in force before the transition.
  return wallClockAsUtc - offsetBefore
}
