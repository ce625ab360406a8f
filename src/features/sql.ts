/**
 * Feature SQL. Everything is computed inside ClickHouse, and only one row per
 * contact comes back. The query aggregates in two levels over one scan of
 * `events`: first per message, where each open and click is classified as
 * human or machine against the message's delivery time and its other clicks,
 * then per contact. Local times need the contact's time zone, and ClickHouse's
 * time-zone arguments must be constants, so the query carries one `multiIf`
 * branch per zone present in the data.
 */
import {
  DAYS_SINCE_CAP,
  FEATURE_NAMES,
  HOUR_FEATURES,
  OPEN_DELAY_CAP_MINUTES,
  WEEKDAYS,
} from './catalogue.ts'

const ZONE_NAME = /^[A-Za-z0-9_+\-/]+$/

/** Quotes a time-zone name as a SQL literal, rejecting anything that is not a zone name. */
export function zoneLiteral(zone: string): string {
  if (!ZONE_NAME.test(zone)) throw new RangeError(`Invalid time zone name ${JSON.stringify(zone)}`)
  return `'${zone}'`
}

// Human and machine rules. docs/features.md gives the reasons for each threshold.

/** User agent that Apple Mail Privacy Protection's proxy sends, exactly. Its opens are machine opens at any delay. */
export const APPLE_PROXY_USER_AGENT = 'Mozilla/5.0'

/** Substring of the user agent of Gmail's image proxy. */
export const GOOGLE_PROXY_MARKER = 'GoogleImageProxy'

/** An open through Gmail's image proxy within this many seconds of delivery, before or after, is a prefetch. */
export const GOOGLE_PREFETCH_SECONDS = 10

/** A click within this many seconds of its message's delivery, before or after, is a link scanner's. */
export const SCANNER_DELIVERY_SECONDS = 3

/** Clicks on two different links of one message within this many seconds of each other are a link scanner's. */
export const SCANNER_BURST_SECONDS = 2

/** Maximum gap any rule compares, so classifying the events of a window needs the events this long before it. */
export const CLASSIFICATION_CONTEXT_MS =
  Math.max(GOOGLE_PREFETCH_SECONDS, SCANNER_DELIVERY_SECONDS, SCANNER_BURST_SECONDS) * 1000

const DAY_MS = 86_400_000
const CUTOFF = '{to:Int64}'

/** SQL for the start, in epoch ms, of the window of the last `days` days before the cutoff. */
function windowStart(days: number): string {
  return `(${CUTOFF} - ${days * DAY_MS})`
}

function stringLiteral(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`
}

// Kinds of the entries of a message's `engagements` array.
/** An open that no rule flags by its user agent or provider flag. */
const PLAIN_OPEN = 0
/** An open the provider flagged, or one fetched by Apple's proxy. */
const MACHINE_OPEN = 1
/** An open fetched through Gmail's image proxy: a prefetch near delivery, a read otherwise. */
const PROXY_OPEN = 2
const CLICK = 3

/**
 * Per-event columns the message level reads. `engagement_kind` is meaningful
 * for opens and clicks only, and `link_hash` is 0 for a click without a URL.
 */
const EVENT_COLUMNS = `contact_key, message_id, event_id, campaign_id, type, bounce_kind,
      toUnixTimestamp64Milli(occurred_at) AS time_ms,
      multiIf(
        type = 'open' AND (machine_open OR user_agent = ${stringLiteral(APPLE_PROXY_USER_AGENT)}), ${MACHINE_OPEN},
        type = 'open' AND position(user_agent, ${stringLiteral(GOOGLE_PROXY_MARKER)}) > 0, ${PROXY_OPEN},
        type = 'open', ${PLAIN_OPEN},
        ${CLICK}) AS engagement_kind,
      if(type = 'click' AND url != '', cityHash64(url), 0) AS link_hash`

/** True for a time (epoch ms) within `seconds` of the message's delivery, either side. */
function nearDelivery(time: string, seconds: number): string {
  return `(delivered_ms > 0 AND abs(${time} - delivered_ms) <= ${seconds * 1000})`
}

/**
 * Per-message columns that every user of the classification needs:
 * `delivered_ms` (first delivery, 0 when none), `engagements` (every open
 * and click as `(time_ms, engagement_kind, link_hash)`), and the epoch-ms
 * times of the human opens and human clicks.
 */
const CLASSIFIED_MESSAGE_COLUMNS = `
    minIf(time_ms, type = 'delivered') AS delivered_ms,
    groupArrayIf((time_ms, engagement_kind, link_hash), type IN ('open', 'click')) AS engagements,
    arrayMap(e -> e.1, arrayFilter(e -> e.2 = ${PLAIN_OPEN}
      OR (e.2 = ${PROXY_OPEN} AND NOT ${nearDelivery('e.1', GOOGLE_PREFETCH_SECONDS)}),
      engagements)) AS human_open_times,
    arrayFilter(e -> e.2 = ${CLICK}, engagements) AS clicks,
    -- NOTE: the burst check compares every pair of clicks of a message, so its cost grows with
    -- the square of the clicks one message gets.
    arrayMap(c -> c.1, arrayFilter(c -> NOT (${nearDelivery('c.1', SCANNER_DELIVERY_SECONDS)}
      OR (c.3 != 0 AND arrayExists(d -> d.3 != 0 AND d.3 != c.3
        AND abs(d.1 - c.1) <= ${SCANNER_BURST_SECONDS * 1000}, clicks))), clicks)) AS human_click_times`

export interface MessageSqlOptions {
  /** SQL for the first event time read, in epoch ms. */
  fromMs: string
  /** SQL for the end of the events read, in epoch ms, exclusive. */
  toMs: string
  /** Further aggregate columns, each `expression AS name`. */
  columns?: string[]
  /** Further condition on the events read, starting with AND. */
  where?: string
}

/**
 * Returns one row per (contact, message) over the events of [fromMs, toMs),
 * with `contact_key`, `message_hash`, the classified columns and `columns`.
 * Events without a message id form a message each, so no rule pairs them.
 * The rules look only at events inside the range, so features as of T never
 * use an event at or after T.
 */
export function messageSql({ fromMs, toMs, columns = [], where = '' }: MessageSqlOptions): string {
  const extra = columns.map((column) => `,\n    ${column}`).join('')
  return `
  SELECT
    contact_key,
    cityHash64(if(message_id = '', concat('event:', event_id), message_id)) AS message_hash,
    ${CLASSIFIED_MESSAGE_COLUMNS}${extra}
  FROM (
    SELECT ${EVENT_COLUMNS}
    FROM events
    WHERE occurred_at >= fromUnixTimestamp64Milli(${fromMs}, 'UTC')
      AND occurred_at < fromUnixTimestamp64Milli(${toMs}, 'UTC') ${where}
  )
  GROUP BY contact_key, message_hash`
}

/**
 * Returns the contacts with a human open or click in [{from:Int64},
 * {to:Int64}) (epoch ms). Events up to CLASSIFICATION_CONTEXT_MS before the
 * window are read too, so a click just after `from` still meets the delivery
 * it followed.
 */
export function engagedContactsSql(): string {
  const messages = messageSql({
    fromMs: `({from:Int64} - ${CLASSIFICATION_CONTEXT_MS})`,
    toMs: '{to:Int64}',
  })
  return `
SELECT DISTINCT contact_key
FROM (${messages})
WHERE arrayExists(t -> t >= {from:Int64}, arrayConcat(human_open_times, human_click_times))`
}

const WINDOW_DAYS = [7, 30, 90]

/** Event types that `health_events` keeps. They are rare, so one array costs less than a counter each. */
const HEALTH_TYPES = "('bounce', 'complaint', 'deferred', 'dropped', 'unsubscribe')"

/** Per-message columns that the contact level reads, beyond the classified columns. */
function featureMessageColumns(): string[] {
  return [
    `minIf(time_ms, type = 'send') AS sent_ms`,
    `min(time_ms) AS message_first_event_ms`,
    `anyIf(cityHash64(campaign_id), campaign_id != '') AS campaign_id_hash`,
    `if(campaign_id_hash = 0, message_hash, campaign_id_hash) AS campaign_hash`,
    `groupArrayIf((time_ms, type, bounce_kind), type IN ${HEALTH_TYPES}) AS health_events`,
  ]
}

/** Per-contact counts of `health_events`, by the condition on an entry `e` = (time_ms, type, bounce_kind). */
function healthCounts(): [string, string][] {
  const recent = `e.1 >= ${windowStart(90)}`
  const conditions: [string, string][] = [
    [`e.2 = 'bounce' AND ${recent}`, 'bounces_90d'],
    [`e.2 = 'bounce' AND e.3 = 'hard' AND ${recent}`, 'hard_bounces_90d'],
    [`e.2 = 'bounce' AND e.3 = 'soft' AND ${recent}`, 'soft_bounces_90d'],
    [`e.2 = 'complaint' AND ${recent}`, 'complaints_90d'],
    [`e.2 = 'deferred' AND ${recent}`, 'deferrals_90d'],
    [`e.2 = 'dropped' AND ${recent}`, 'drops_90d'],
    [`e.2 IN ('unsubscribe', 'complaint')`, 'unsubscribes'],
    [`e.2 = 'bounce' AND e.3 = 'hard'`, 'hard_bounces'],
  ]
  return conditions.map(([condition, name]) => [
    `sum(arrayCount(e -> ${condition}, health_events))`,
    name,
  ])
}

/** Per-contact aggregates over the message rows: `[expression, name]`. */
function contactColumns(): [string, string][] {
  const columns: [string, string][] = []
  for (const days of WINDOW_DAYS) {
    const w = `${days}d`
    const start = windowStart(days)
    const countSince = (times: string) => `arrayCount(t -> t >= ${start}, ${times})`
    const anySince = (times: string) => `arrayExists(t -> t >= ${start}, ${times})`
    const delivered = `delivered_ms > 0 AND delivered_ms >= ${start}`
    const opened = 'notEmpty(human_open_times)'
    const clicked = 'notEmpty(human_click_times)'
    columns.push(
      [`countIf(sent_ms > 0 AND sent_ms >= ${start})`, `sends_${w}`],
      [`countIf(${delivered})`, `delivered_${w}`],
      [`sum(${countSince('human_open_times')})`, `opens_${w}`],
      [`sum(${countSince('human_click_times')})`, `clicks_${w}`],
      [`uniqExactIf(campaign_hash, ${anySince('human_open_times')})`, `opened_campaigns_${w}`],
      [`uniqExactIf(campaign_hash, ${anySince('human_click_times')})`, `clicked_campaigns_${w}`],
      [`countIf(${delivered} AND ${opened})`, `opened_messages_${w}`],
      [`countIf(${delivered} AND ${clicked})`, `clicked_messages_${w}`],
      [`countIf(${delivered} AND (${opened} OR ${clicked}))`, `read_messages_${w}`],
    )
  }
  const recent = `e.1 >= ${windowStart(90)}`
  const delayed = `delivered_ms > 0 AND delivered_ms >= ${windowStart(90)} AND notEmpty(human_open_times)`
  const delayMinutes = 'greatest(0, arrayMin(human_open_times) - delivered_ms) / 60000'
  columns.push(
    ...healthCounts(),
    [`sum(arrayCount(e -> e.2 != ${CLICK} AND ${recent}, engagements))`, 'raw_opens_90d'],
    [`sum(arrayCount(e -> e.2 = ${CLICK} AND ${recent}, engagements))`, 'raw_clicks_90d'],
    [
      'arraySort(groupArrayArray(arrayConcat(human_open_times, human_click_times)))',
      'engaged_times',
    ],
    ['maxArray(human_open_times)', 'last_open_ms'],
    ['maxArray(human_click_times)', 'last_click_ms'],
    ['greatest(last_open_ms, last_click_ms)', 'last_engaged_ms'],
    ['max(greatest(sent_ms, delivered_ms))', 'last_sent_ms'],
    ['min(message_first_event_ms)', 'first_event_ms'],
    [`countIf(${delayed})`, 'delayed_messages_90d'],
    [`quantileExactInclusiveIf(0.5)(${delayMinutes}, ${delayed})`, 'median_open_delay'],
  )
  return columns
}

/**
 * SQL for the array of local times (epoch seconds shifted by the UTC offset
 * at each instant) of `timesColumn` (epoch ms), in the zone `zoneColumn`.
 * Each zone gets its own `multiIf` branch, because `toTimeZone` takes only a
 * constant zone. Zones missing from `zones` fall back to `fallback`.
 */
export function localTimesSql(
  zoneColumn: string,
  timesColumn: string,
  zones: string[],
  fallback: string,
): string {
  const shift = (zone: string) =>
    `arrayMap(t -> intDiv(t, 1000) + timeZoneOffset(toTimeZone(fromUnixTimestamp64Milli(t, 'UTC'), ${zoneLiteral(zone)})), ${timesColumn})`
  const others = zones.filter((zone) => zone !== fallback)
  if (others.length === 0) return shift(fallback)
  const branches = others.map((zone) => `${zoneColumn} = ${zoneLiteral(zone)}, ${shift(zone)}`)
  return `multiIf(${branches.join(', ')}, ${shift(fallback)})`
}

/** Columns derived from the local times, for the feature expressions to read. */
function localTimeColumns(zones: string[], defaultZone: string): string[] {
  const engaged = 'engaged_times'
  return [
    `${localTimesSql('contact_zone', engaged, zones, defaultZone)} AS local_times`,
    `length(local_times) AS engaged_total`,
    `arrayMap(s -> intDiv(positiveModulo(s, 86400), 3600), local_times) AS local_hours`,
    // Day 0 of the epoch, 1970-01-01, was a Thursday: ISO weekday 4.
    `arrayMap(s -> positiveModulo(intDiv(s, 86400) + 3, 7) + 1, local_times) AS local_weekdays`,
    `arrayMap(s -> 2 * pi() * positiveModulo(s, 86400) / 86400, local_times) AS hour_angles`,
    `if(engaged_total = 0, 0, arrayAvg(arrayMap(x -> cos(x), hour_angles))) AS mean_cos`,
    `if(engaged_total = 0, 0, arrayAvg(arrayMap(x -> sin(x), hour_angles))) AS mean_sin`,
    `least(1, sqrt(mean_cos * mean_cos + mean_sin * mean_sin)) AS resultant_length`,
    `atan2(mean_sin, mean_cos) * 12 / pi() + 24 AS shifted_mean_hour`,
  ]
}

function ratio(numerator: string, denominator: string): string {
  return `if((${denominator}) = 0, 0, (${numerator}) / (${denominator}))`
}

function daysSince(lastMs: string): string {
  return `if(${lastMs} = 0, ${DAYS_SINCE_CAP}, least(${DAYS_SINCE_CAP}, (${CUTOFF} - ${lastMs}) / ${DAY_MS}))`
}

/**
 * Resultant lengths below this leave the mean hour undefined (events spread
 * evenly round the clock), and it is reported as 0.
 */
const MIN_RESULTANT_LENGTH = 1e-9

/** SQL expression of every feature, by name. */
function featureExpressions(): Map<string, string> {
  const features = new Map<string, string>()
  for (const days of WINDOW_DAYS) {
    const w = `${days}d`
    for (const name of [
      'sends',
      'delivered',
      'opens',
      'clicks',
      'opened_campaigns',
      'clicked_campaigns',
    ]) {
      features.set(`${name}_${w}`, `${name}_${w}`)
    }
    features.set(`open_rate_${w}`, ratio(`opened_messages_${w}`, `delivered_${w}`))
    features.set(`click_rate_${w}`, ratio(`clicked_messages_${w}`, `delivered_${w}`))
    features.set(`click_to_open_rate_${w}`, ratio(`clicked_messages_${w}`, `read_messages_${w}`))
  }

  // Plain countEqual calls: a lambda over range(24) that read local_hours would copy the array
  // once per hour.
  const hourCount = (hour: number) => `countEqual(local_hours, ${hour})`
  const engagedShare = (count: string) => ratio(count, 'engaged_total')
  features.set('night_share', engagedShare('arrayCount(h -> h >= 22 OR h < 5, local_hours)'))
  features.set('morning_share', engagedShare('arrayCount(h -> h >= 5 AND h < 9, local_hours)'))
  features.set(
    'office_share',
    engagedShare('arrayCount((h, d) -> d <= 5 AND h >= 9 AND h < 17, local_hours, local_weekdays)'),
  )
  features.set('weekend_share', engagedShare('arrayCount(d -> d >= 6, local_weekdays)'))
  WEEKDAYS.forEach((day, index) =>
    features.set(
      `day_of_week_share_${day}`,
      engagedShare(`countEqual(local_weekdays, ${index + 1})`),
    ),
  )
  features.set(
    'mean_engagement_hour',
    `multiIf(resultant_length < ${MIN_RESULTANT_LENGTH}, 0,
      shifted_mean_hour >= 24, shifted_mean_hour - 24, shifted_mean_hour)`,
  )
  features.set('hour_concentration', 'resultant_length')
  features.set(
    'median_open_delay_minutes',
    `if(delayed_messages_90d = 0, ${OPEN_DELAY_CAP_MINUTES},
      least(${OPEN_DELAY_CAP_MINUTES}, median_open_delay))`,
  )

  features.set('days_since_last_engagement', daysSince('last_engaged_ms'))
  features.set('days_since_last_send', daysSince('last_sent_ms'))
  features.set('days_since_last_open', daysSince('last_open_ms'))
  features.set('days_since_last_click', daysSince('last_click_ms'))
  features.set(
    'tenure_days',
    `greatest(0, (${CUTOFF} - multiIf(
      created_ms > 0 AND first_event_ms > 0, least(created_ms, first_event_ms),
      created_ms > 0, created_ms,
      first_event_ms > 0, first_event_ms,
      ${CUTOFF})) / ${DAY_MS})`,
  )
  const engagedSince = (fromDays: number, toDays: number) =>
    `arrayCount(t -> t >= ${windowStart(fromDays)} AND t < ${windowStart(toDays)}, engaged_times)`
  const last30 = engagedSince(30, 0)
  const previous30 = engagedSince(60, 30)
  features.set('engagement_trend', ratio(`${last30} - ${previous30}`, `${last30} + ${previous30}`))

  const passedThrough = [
    'bounces_90d',
    'hard_bounces_90d',
    'soft_bounces_90d',
    'complaints_90d',
    'deferrals_90d',
    'drops_90d',
    'raw_opens_90d',
    'raw_clicks_90d',
  ]
  for (const name of passedThrough) features.set(name, name)
  features.set('unsubscribed', 'unsubscribes > 0')
  features.set('hard_bounced', 'hard_bounces > 0')

  // Human opens and clicks are a subset of all opens and clicks, so these never go below 0.
  const machineOpens = 'toInt64(raw_opens_90d) - toInt64(opens_90d)'
  const scannerClicks = 'toInt64(raw_clicks_90d) - toInt64(clicks_90d)'
  features.set('machine_opens_90d', machineOpens)
  features.set('scanner_clicks_90d', scannerClicks)
  features.set('machine_open_share', ratio(machineOpens, 'raw_opens_90d'))
  features.set('scanner_click_share', ratio(scannerClicks, 'raw_clicks_90d'))

  HOUR_FEATURES.forEach((feature, hour) =>
    features.set(feature.name, engagedShare(hourCount(hour))),
  )
  return features
}

/** Builds the feature columns in catalogue order, each `expression AS name`. */
function featureSelectList(): string {
  const expressions = featureExpressions()
  const unknown = [...expressions.keys()].filter((name) => !FEATURE_NAMES.includes(name))
  if (unknown.length > 0)
    throw new Error(
      `Feature SQL defines features missing from the catalogue: ${unknown.join(', ')}. Add them to FEATURES in catalogue.ts`,
    )
  return FEATURE_NAMES.map((name) => {
    const expression = expressions.get(name)
    if (expression === undefined)
      throw new Error(`Feature ${name} has no SQL expression. Add one in featureExpressions`)
    return `toFloat64(${expression}) AS ${name}`
  }).join(',\n  ')
}

export interface FeatureQueryOptions {
  zones: string[]
  defaultZone: string
  /** When true, only contacts in `{keys:Array(String)}` are computed. */
  filterKeys?: boolean
}

/**
 * Returns the per-contact feature query as of `{to:Int64}` (epoch ms,
 * exclusive): only events strictly before it count, and `{from:Int64}` is
 * normally 0. Contacts are those created, or with an event, before the
 * cutoff. The columns are `contact_key`, `time_zone`, then FEATURE_NAMES.
 */
export function buildFeatureQuery({
  zones,
  defaultZone,
  filterKeys = false,
}: FeatureQueryOptions): string {
  const keyFilter = filterKeys ? 'AND contact_key IN {keys:Array(String)}' : ''
  const messages = messageSql({
    fromMs: '{from:Int64}',
    toMs: CUTOFF,
    columns: featureMessageColumns(),
    where: keyFilter,
  })
  const contact = contactColumns()
  return `
SELECT
  contact_key,
  contact_zone AS time_zone,
  ${featureSelectList()}
FROM (
  SELECT
    if(a.contact_key = '', c.contact_key, a.contact_key) AS contact_key,
    if(c.time_zone = '', ${zoneLiteral(defaultZone)}, c.time_zone) AS contact_zone,
    c.created_ms AS created_ms,
    ${contact.map(([, name]) => `a.${name} AS ${name}`).join(',\n    ')},
    ${localTimeColumns(zones, defaultZone).join(',\n    ')}
  FROM (
    SELECT
      contact_key,
      ${contact.map(([expression, name]) => `${expression} AS ${name}`).join(',\n      ')}
    FROM (${messages})
    GROUP BY contact_key
  ) AS a
  FULL OUTER JOIN (
    SELECT contact_key, argMax(time_zone, updated_at) AS time_zone,
           toUnixTimestamp64Milli(min(created_at)) AS created_ms
    FROM contacts
    WHERE 1 ${keyFilter}
    GROUP BY contact_key
  ) AS c ON c.contact_key = a.contact_key
  WHERE a.contact_key != '' OR (c.contact_key != '' AND c.created_ms < ${CUTOFF})
)
ORDER BY contact_key`
}
