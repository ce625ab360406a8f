/**
 * Feature SQL. Everything is computed inside ClickHouse; only one row per
 * contact comes back. Local hours need the contact's time zone, and
 * ClickHouse's time-zone arguments must be constants, so the query carries
 * one `multiIf` branch per zone present in the data.
 */

const ZONE_NAME = /^[A-Za-z0-9_+\-/]+$/

/** Quotes a time-zone name as a SQL literal, rejecting anything that is not a zone name. */
export function zoneLiteral(zone: string): string {
  if (!ZONE_NAME.test(zone)) throw new RangeError(`Invalid time zone name ${JSON.stringify(zone)}`)
  return `'${zone}'`
}

/** SQL for the UTC offset in seconds at `timeColumn` in the zone named by `zoneColumn`. */
export function zoneOffsetSql(
  zoneColumn: string,
  timeColumn: string,
  zones: string[],
  fallback: string,
): string {
  const offset = (zone: string) => `timeZoneOffset(toTimeZone(${timeColumn}, ${zoneLiteral(zone)}))`
  if (zones.length === 0) return offset(fallback)
  const branches = zones.map((zone) => `${zoneColumn} = ${zoneLiteral(zone)}, ${offset(zone)}`)
  return `multiIf(${branches.join(', ')}, ${offset(fallback)})`
}

/**
 * An open counts as human unless the provider flagged it as a machine open,
 * or it came with the bare `Mozilla/5.0` user agent that Apple's Mail Privacy
 * Protection proxy sends.
 */
const HUMAN_OPEN = `(type = 'open' AND NOT machine_open AND user_agent != 'Mozilla/5.0')`

/**
 * A click counts as a link scanner's when it comes within this many seconds
 * of the message's delivery, before or after: security gateways fetch every
 * link as the message arrives, a person does not.
 */
export const SCANNER_CLICK_SECONDS = 10

/**
 * Events of `{from:Int64}` to `{to:Int64}` (epoch ms, half open), each
 * classified as human or machine: `human_open`, `human_click`, `engaged`
 * (either). `extraWhere` narrows the rows further.
 */
export function classifiedEventsSql(extraWhere = ''): string {
  return `
    SELECT
      contact_key, type, message_id, bounce_kind, occurred_at,
      toUnixTimestamp64Milli(occurred_at) AS time_ms,
      ${HUMAN_OPEN} AS human_open,
      type = 'click' AND NOT (message_id != '' AND delivered_ms > 0
        AND abs(time_ms - delivered_ms) <= ${SCANNER_CLICK_SECONDS * 1000}) AS human_click,
      human_open OR human_click AS engaged
    FROM (
      SELECT *,
        minIf(toUnixTimestamp64Milli(occurred_at), type = 'delivered')
          OVER (PARTITION BY contact_key, message_id) AS delivered_ms
      FROM events
      WHERE occurred_at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')
        AND occurred_at < fromUnixTimestamp64Milli({to:Int64}, 'UTC') ${extraWhere}
    )`
}

const DAY_MS = 86_400_000

function hourShares(): string {
  const columns = Array.from({ length: 24 }, (_, hour) => {
    const name = `hour_share_${String(hour).padStart(2, '0')}`
    return `if(engaged_total = 0, 0, countIf(engaged AND local_hour = ${hour}) / engaged_total) AS ${name}`
  })
  return columns.join(',\n      ')
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
 * normally 0. Contacts are those created, or with an event, before the cutoff.
 */
export function buildFeatureQuery({
  zones,
  defaultZone,
  filterKeys = false,
}: FeatureQueryOptions): string {
  const offset = zoneOffsetSql('c.time_zone', 'e.occurred_at', zones, defaultZone)
  const keyFilter = filterKeys ? 'AND contact_key IN {keys:Array(String)}' : ''
  return `
WITH fromUnixTimestamp64Milli({to:Int64}, 'UTC') AS as_of
SELECT
  keys.contact_key AS contact_key,
  if(c.time_zone = '', ${zoneLiteral(defaultZone)}, c.time_zone) AS time_zone,
  a.sends_90d, a.delivered_90d, a.opens_90d, a.clicks_90d,
  if(a.delivered_90d = 0, 0, least(1, a.opened_messages_90d / a.delivered_90d)) AS open_rate_90d,
  if(a.delivered_90d = 0, 0, least(1, a.clicked_messages_90d / a.delivered_90d)) AS click_rate_90d,
  a.night_share, a.morning_share, a.office_share, a.weekend_share,
  if(a.last_engaged_ms = 0, 365,
     least(365, ({to:Int64} - a.last_engaged_ms) / ${DAY_MS})) AS days_since_last_engagement,
  if(a.last_sent_ms = 0, 365,
     least(365, ({to:Int64} - a.last_sent_ms) / ${DAY_MS})) AS days_since_last_send,
  greatest(0, ({to:Int64} - multiIf(
    c.created_ms > 0 AND a.first_event_ms > 0, least(c.created_ms, a.first_event_ms),
    c.created_ms > 0, c.created_ms,
    a.first_event_ms > 0, a.first_event_ms,
    {to:Int64})) / ${DAY_MS}) AS tenure_days,
  if(a.engaged_30d + a.engaged_prev_30d = 0, 0,
     (a.engaged_30d - a.engaged_prev_30d) / (a.engaged_30d + a.engaged_prev_30d)) AS engagement_trend,
  a.bounces_90d,
  if(a.opens_all_90d = 0, 0, a.machine_opens_90d / a.opens_all_90d) AS machine_open_share,
  if(a.clicks_all_90d = 0, 0, a.scanner_clicks_90d / a.clicks_all_90d) AS scanner_click_share,
  toFloat64(a.unsubscribed) AS unsubscribed,
  toFloat64(a.hard_bounced) AS hard_bounced,
  ${Array.from({ length: 24 }, (_, hour) => `a.hour_share_${String(hour).padStart(2, '0')}`).join(', ')}
FROM (
  SELECT contact_key FROM contacts WHERE created_at < as_of ${keyFilter}
  UNION DISTINCT
  SELECT DISTINCT contact_key FROM events WHERE occurred_at < as_of ${keyFilter}
) AS keys
LEFT JOIN (
  SELECT contact_key, argMax(time_zone, updated_at) AS time_zone,
         toUnixTimestamp64Milli(min(created_at)) AS created_ms
  FROM contacts GROUP BY contact_key
) AS c ON c.contact_key = keys.contact_key
LEFT JOIN (
  SELECT
    contact_key,
    countIf(type = 'send' AND recent_90) AS sends_90d,
    countIf(type = 'delivered' AND recent_90) AS delivered_90d,
    countIf(human_open AND recent_90) AS opens_90d,
    countIf(human_click AND recent_90) AS clicks_90d,
    uniqExactIf(message_id, human_open AND recent_90) AS opened_messages_90d,
    uniqExactIf(message_id, human_click AND recent_90) AS clicked_messages_90d,
    countIf(engaged) AS engaged_total,
    if(engaged_total = 0, 0, countIf(engaged AND (local_hour >= 22 OR local_hour < 5)) / engaged_total) AS night_share,
    if(engaged_total = 0, 0, countIf(engaged AND local_hour >= 5 AND local_hour < 9) / engaged_total) AS morning_share,
    if(engaged_total = 0, 0,
       countIf(engaged AND local_weekday <= 5 AND local_hour >= 9 AND local_hour < 17) / engaged_total) AS office_share,
    if(engaged_total = 0, 0, countIf(engaged AND local_weekday >= 6) / engaged_total) AS weekend_share,
    maxIf(time_ms, engaged) AS last_engaged_ms,
    maxIf(time_ms, type IN ('send', 'delivered')) AS last_sent_ms,
    min(time_ms) AS first_event_ms,
    countIf(engaged AND occurred_at >= as_of - INTERVAL 30 DAY) AS engaged_30d,
    countIf(engaged AND occurred_at < as_of - INTERVAL 30 DAY AND occurred_at >= as_of - INTERVAL 60 DAY) AS engaged_prev_30d,
    countIf(type = 'bounce' AND recent_90) AS bounces_90d,
    countIf(type = 'open' AND recent_90) AS opens_all_90d,
    countIf(type = 'open' AND NOT human_open AND recent_90) AS machine_opens_90d,
    countIf(type = 'click' AND recent_90) AS clicks_all_90d,
    countIf(type = 'click' AND NOT human_click AND recent_90) AS scanner_clicks_90d,
    countIf(type = 'unsubscribe' OR type = 'complaint') > 0 AS unsubscribed,
    countIf(type = 'bounce' AND bounce_kind = 'hard') > 0 AS hard_bounced,
    ${hourShares()}
  FROM (
    SELECT
      e.*,
      e.occurred_at >= as_of - INTERVAL 90 DAY AS recent_90,
      e.occurred_at + toIntervalSecond(${offset}) AS local_time,
      toHour(local_time) AS local_hour,
      toDayOfWeek(local_time) AS local_weekday
    FROM (${classifiedEventsSql(keyFilter)}) AS e
    LEFT JOIN (
      SELECT contact_key, argMax(time_zone, updated_at) AS time_zone FROM contacts GROUP BY contact_key
    ) AS c ON c.contact_key = e.contact_key
  )
  GROUP BY contact_key
) AS a ON a.contact_key = keys.contact_key
ORDER BY contact_key`
}
