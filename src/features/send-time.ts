/**
 * Human opens per hour of the week, the evidence behind the best send time.
 * One query over `events` classifies opens by the feature rules (see
 * `messageSql`) and takes each open in the contact's local time. The zone
 * rule is the features' own: the zone of `contacts`, or the default zone when
 * the contact has none or ClickHouse does not know it.
 */
import type { ClickHouseClient } from '@clickhouse/client'
import { zonesForQuery } from './compute.ts'
import { localTimesSql, messageSql, zoneLiteral } from './sql.ts'

/** Slots of a week: slot 0 is Monday 00:00-00:59 local time, slot 167 Sunday 23:00-23:59. */
export const HOURS_PER_WEEK = 168

/**
 * Human opens of one contact per hour of the week, zeros left out:
 * `counts[i]` opens fell in slot `slots[i]`, and slots ascend.
 */
export interface WeekOpenCounts {
  slots: number[]
  counts: number[]
}

export interface WeekOpenQueryOptions {
  zones: string[]
  defaultZone: string
  /** When true, only contacts in `{keys:Array(String)}` are read. */
  filterKeys?: boolean
}

/**
 * Returns the query of human opens per contact and hour of the week before
 * `{to:Int64}` (epoch ms, exclusive), all history. The columns are
 * `contact_key` and `week_opens`, an array of `(slot, opens)` sorted by slot.
 * Contacts without a human open before the cutoff have no row.
 */
export function buildWeekOpenQuery({
  zones,
  defaultZone,
  filterKeys = false,
}: WeekOpenQueryOptions): string {
  const keyFilter = filterKeys ? 'AND contact_key IN {keys:Array(String)}' : ''
  const messages = messageSql({ fromMs: '0', toMs: '{to:Int64}', where: keyFilter })
  const localTimes = localTimesSql('contact_zone', 'open_times', zones, defaultZone)
  // Day 0 of the epoch, 1970-01-01, was a Thursday, which is day 3 when Monday is day 0.
  const slot = `toUInt8(positiveModulo(intDiv(local_time, 86400) + 3, 7) * 24
      + intDiv(positiveModulo(local_time, 86400), 3600))`
  return `
SELECT contact_key, arraySort(groupArray((slot, opens))) AS week_opens
FROM (
  SELECT contact_key, ${slot} AS slot, toUInt32(count()) AS opens
  FROM (
    SELECT
      o.contact_key AS contact_key,
      if(c.time_zone = '', ${zoneLiteral(defaultZone)}, c.time_zone) AS contact_zone,
      o.open_times AS open_times,
      ${localTimes} AS local_times
    FROM (
      SELECT contact_key, groupArrayArray(human_open_times) AS open_times
      FROM (${messages})
      GROUP BY contact_key
      HAVING notEmpty(open_times)
    ) AS o
    LEFT JOIN (
      SELECT contact_key, argMax(time_zone, updated_at) AS time_zone
      FROM contacts
      WHERE 1 ${keyFilter}
      GROUP BY contact_key
    ) AS c ON c.contact_key = o.contact_key
  )
  ARRAY JOIN local_times AS local_time
  GROUP BY contact_key, slot
)
GROUP BY contact_key
ORDER BY contact_key`
}

interface WeekOpenRow {
  contact_key: string
  week_opens: [number, number][]
}

/**
 * Counts the human opens of every contact, or only of `onlyKeys`, per hour of
 * the week before `asOfMs` (exclusive). The map has no entry for a contact
 * without a human open. Contacts without a time zone use `defaultZone`.
 */
export async function countWeekOpens(
  client: ClickHouseClient,
  asOfMs: number,
  defaultZone: string,
  onlyKeys?: string[],
): Promise<Map<string, WeekOpenCounts>> {
  const zones = await zonesForQuery(client, defaultZone)
  const filterKeys = onlyKeys !== undefined
  const result = await client.query({
    query: buildWeekOpenQuery({ zones, defaultZone, filterKeys }),
    query_params: { to: Math.round(asOfMs), keys: onlyKeys ?? [] },
    format: 'JSONEachRow',
  })
  // Streamed, so training does not hold the JSON text of every contact's counts at once.
  const counts = new Map<string, WeekOpenCounts>()
  for await (const rows of result.stream<WeekOpenRow>()) {
    for (const row of rows) {
      const { contact_key: key, week_opens: pairs } = row.json<WeekOpenRow>()
      counts.set(key, {
        slots: pairs.map((pair) => Number(pair[0])),
        counts: pairs.map((pair) => Number(pair[1])),
      })
    }
  }
  return counts
}

/** Expands sparse counts into 168 values, one per slot. */
export function toDenseWeek(counts: WeekOpenCounts): Float64Array {
  const dense = new Float64Array(HOURS_PER_WEEK)
  counts.slots.forEach((slot, i) => (dense[slot] = counts.counts[i] as number))
  return dense
}

/** Share of opens per slot of each persona and of all contacts, each summing to 1. */
export interface WeekProfiles {
  /** Indexed by persona id. */
  personas: number[][]
  global: number[]
}

/**
 * Averages the share of human opens per hour of the week over the contacts
 * that have any, per persona and over everyone, so a heavy reader weighs as
 * much as a light one. `labels[i]` is the persona of `contactKeys[i]`. A
 * persona without such a contact gets the global profile, and the global
 * profile is uniform when no contact has a human open.
 */
export function fitWeekProfiles(
  weekOpens: ReadonlyMap<string, WeekOpenCounts>,
  contactKeys: readonly string[],
  labels: ArrayLike<number>,
  personaCount: number,
): WeekProfiles {
  const sums = Array.from({ length: personaCount }, () => new Float64Array(HOURS_PER_WEEK))
  const members = new Array<number>(personaCount).fill(0)
  const globalSum = new Float64Array(HOURS_PER_WEEK)
  let contacts = 0
  contactKeys.forEach((key, row) => {
    const opens = weekOpens.get(key)
    const total = opens?.counts.reduce((sum, count) => sum + count, 0) ?? 0
    if (!opens || total === 0) return
    const label = labels[row] as number
    const sum = sums[label]
    if (sum === undefined) {
      throw new RangeError(
        `Persona label ${label} of row ${row} is outside 0 to ${personaCount - 1}`,
      )
    }
    members[label]! += 1
    contacts += 1
    opens.slots.forEach((slot, i) => {
      const share = (opens.counts[i] as number) / total
      sum[slot]! += share
      globalSum[slot]! += share
    })
  })
  const global =
    contacts === 0
      ? new Array<number>(HOURS_PER_WEEK).fill(1 / HOURS_PER_WEEK)
      : Array.from(globalSum, (value) => value / contacts)
  const personas = sums.map((sum, id) =>
    members[id] === 0 ? [...global] : Array.from(sum, (value) => value / (members[id] as number)),
  )
  return { personas, global }
}
