/**
 * Synthetic events for the feature benchmark, generated inside chDB with
 * `INSERT ... SELECT` so no row passes through Node. Every value derives from
 * the message number through cityHash64 and modulo, so the same options build
 * the same table on every run.
 */
import type { ClickHouseClient } from '@clickhouse/client'

const DAY_MS = 86_400_000

/** Bump when the generator SQL changes, so folders built by an older generator are rebuilt. */
export const GENERATOR_VERSION = 1

/** End of the generated period: 2025-06-01T00:00Z. Campaigns cover the 120 days before it. */
export const PERIOD_END_MS = Date.UTC(2025, 5, 1)
export const PERIOD_DAYS = 120
export const PERIOD_START_MS = PERIOD_END_MS - PERIOD_DAYS * DAY_MS

/** Feature cutoff used by the benchmark: one day before the end of the period. */
export const CUTOFF_MS = PERIOD_END_MS - DAY_MS

/** Minimum number of campaigns, one every two days over the period. */
const MIN_CAMPAIGNS = 60

/**
 * Contact time zones with their standard-time UTC offsets in seconds. The
 * generator uses the fixed offset only to put opens near a plausible local
 * hour, so daylight saving time shifts some of them by an hour.
 */
const ZONES: [string, number][] = [
  ['America/Los_Angeles', -8 * 3600],
  ['America/Chicago', -6 * 3600],
  ['America/New_York', -5 * 3600],
  ['America/Sao_Paulo', -3 * 3600],
  ['Europe/London', 0],
  ['Europe/Berlin', 3600],
  ['Europe/Warsaw', 3600],
  ['Asia/Kolkata', 5.5 * 3600],
  ['Asia/Tokyo', 9 * 3600],
  ['Australia/Sydney', 10 * 3600],
]

const PROVIDERS = ['sendgrid', 'ses', 'mailgun', 'postmark']

/** One device per contact: the user agent of its human opens and clicks. */
const DEVICE_AGENTS = [
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36',
  'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17531; Pro)',
]

/** Preferred local hours of opens: morning, lunch and evening peaks. */
const PREFERRED_HOURS = [6, 7, 8, 8, 9, 10, 12, 12, 13, 17, 18, 19, 20, 20, 21, 22]

function stringArray(values: string[]): string {
  return `[${values.map((value) => `'${value.replace(/'/g, "''")}'`).join(', ')}]`
}

export interface DatasetOptions {
  events: number
  contacts: number
}

/** Campaign layout, fixed before the first chunk so every message maps to one campaign. */
export interface CampaignPlan {
  /** Number of campaigns, spread evenly over the period. */
  campaigns: number
  /** Distance in campaigns between the messages a contact gets in consecutive rounds. */
  stride: number
}

/**
 * Selects one row per message for message numbers `[first, first + count)`.
 * Message `i` goes to contact `i % contacts` in round `i / contacts`, and its
 * `events` column lists its events as (type, epoch ms, variant) tuples. The
 * variant marks machine opens (1 flagged by the provider, 2 by the
 * `Mozilla/5.0` user agent), scanner clicks (1) and hard bounces (1).
 */
export function messagesSql(
  first: number,
  count: number,
  contacts: number,
  plan: CampaignPlan,
): string {
  const campaignMs = Math.floor((PERIOD_DAYS * DAY_MS) / plan.campaigns)
  const zoneCount = ZONES.length
  const offsets = `[${ZONES.map(([, offset]) => offset).join(', ')}]`
  return `
SELECT
  number AS i,
  i % ${contacts} AS u,
  intDiv(i, ${contacts}) AS round,
  concat('user', toString(u), '@example.com') AS contact_key,
  ${stringArray(PROVIDERS)}[cityHash64(u, 7) % ${PROVIDERS.length} + 1] AS provider,
  ${stringArray(DEVICE_AGENTS)}[cityHash64(u, 21) % ${DEVICE_AGENTS.length} + 1] AS device_agent,
  IPv4NumToString(toUInt32(cityHash64(u, 22) % 4294967296)) AS device_ip,
  (cityHash64(u, 9) % ${plan.campaigns} + round * ${plan.stride}) % ${plan.campaigns} AS campaign,
  concat('cmp-', leftPad(toString(campaign), 3, '0')) AS campaign_id,
  lower(hex(cityHash64(i, 11))) AS message_id,
  toInt64(${PERIOD_START_MS} + campaign * ${campaignMs} + 9 * 3600000 + cityHash64(i, 10) % 3600000) AS sent_ms,
  cityHash64(i, 12) % 1000 AS outcome,
  outcome < 15 AS bounced,
  outcome >= 15 AND outcome < 20 AS dropped,
  NOT bounced AND NOT dropped AS delivered,
  delivered AND outcome < 60 AS deferred,
  toInt64(sent_ms + if(deferred, 300000 + cityHash64(i, 13) % 1500000, 1000 + cityHash64(i, 13) % 19000)) AS delivered_ms,
  cityHash64(u, 3) % 100 AS tier,
  multiIf(tier < 25, 20, tier < 65, 150, tier < 90, 400, 700) AS open_per_mille,
  delivered AND cityHash64(u, 4) % 100 < 30 AND cityHash64(i, 14) % 10 < 9 AS machine_opened,
  toUInt8(1 + cityHash64(i, 15) % 2) AS machine_variant,
  delivered AND cityHash64(u, 5) % 100 < 8 AND cityHash64(i, 16) % 10 < 7 AS scanned,
  delivered AND cityHash64(i, 17) % 1000 < open_per_mille AS opened,
  if(cityHash64(u, 2) % 50 = 0, 0, ${offsets}[cityHash64(u, 1) % ${zoneCount} + 1]) AS offset_s,
  ${`[${PREFERRED_HOURS.join(', ')}]`}[cityHash64(u, 6) % ${PREFERRED_HOURS.length} + 1] AS preferred_hour,
  toInt64(((preferred_hour + 23 + cityHash64(i, 18) % 3) % 24) * 3600 + cityHash64(i, 19) % 3600) AS open_local_second,
  (intDiv(delivered_ms, 1000) + offset_s) % 86400 AS delivered_local_second,
  toInt64(delivered_ms
    + ((open_local_second - delivered_local_second + 86400) % 86400) * 1000
    + if(cityHash64(i, 20) % 10 < 7, 0, (1 + cityHash64(i, 20) % 2) * ${DAY_MS})
    + cityHash64(i, 23) % 1000) AS open_ms,
  opened AND cityHash64(i, 24) % 100 < 25 AS reopened,
  opened AND cityHash64(i, 25) % 100 < 20 AS clicked,
  cityHash64(i, 26) % 1000 AS exit_roll,
  delivered AND exit_roll < 2 AS unsubscribed,
  delivered AND exit_roll = 2 AS complained,
  arrayConcat(
    [('send', sent_ms, toUInt8(0))],
    multiIf(
      bounced, [('bounce', toInt64(sent_ms + 2000 + cityHash64(i, 27) % 28000), toUInt8(cityHash64(i, 28) % 10 < 4))],
      dropped, [('dropped', toInt64(sent_ms + 500), toUInt8(0))],
      deferred, [('deferred', toInt64(sent_ms + 60000), toUInt8(0)), ('delivered', delivered_ms, toUInt8(0))],
      [('delivered', delivered_ms, toUInt8(0))]),
    if(machine_opened, [('open', toInt64(delivered_ms + 1000 + cityHash64(i, 29) % 14000), machine_variant)], []),
    if(scanned, [('click', toInt64(delivered_ms + 1000 + cityHash64(i, 30) % 1000), toUInt8(1))], []),
    if(opened, [('open', open_ms, toUInt8(0))], []),
    if(reopened, [('open', toInt64(open_ms + 600000 + cityHash64(i, 31) % 20000000), toUInt8(0))], []),
    if(clicked, [('click', toInt64(open_ms + 3000 + cityHash64(i, 32) % 117000), toUInt8(0))], []),
    if(unsubscribed, [('unsubscribe',
      toInt64(if(opened, open_ms + 60000, delivered_ms + 3600000 + cityHash64(i, 33) % ${DAY_MS})), toUInt8(0))], []),
    if(complained, [('complaint', toInt64(delivered_ms + 7200000), toUInt8(0))], [])
  ) AS events
FROM numbers(${first}, ${count})`
}

/**
 * Inserts the events of messages `[first, first + count)`. When `lastEvents`
 * is given, only the first `lastEvents` events of each message are kept,
 * which the caller uses to cut the final message short.
 */
function insertEventsSql(
  first: number,
  count: number,
  contacts: number,
  plan: CampaignPlan,
  lastEvents?: number,
) {
  const events = lastEvents === undefined ? 'events' : `arraySlice(events, 1, ${lastEvents})`
  return `
INSERT INTO events (event_id, provider, contact_key, campaign_id, message_id, type, occurred_at,
  url, user_agent, ip, machine_open, bounce_kind, ingested_at)
SELECT
  concat(message_id, '-', toString(position)) AS event_id,
  provider, contact_key, campaign_id, message_id,
  event.1 AS type,
  fromUnixTimestamp64Milli(event.2, 'UTC') AS occurred_at,
  if(event.1 = 'click', concat('https://shop.example.com/', campaign_id, '/link-',
    toString(if(event.3 = 1, 0, cityHash64(message_id, position) % 3))), '') AS url,
  multiIf(event.1 NOT IN ('open', 'click'), '',
    event.1 = 'open' AND event.3 = 1, '',
    event.1 = 'open' AND event.3 = 2, 'Mozilla/5.0',
    event.1 = 'click' AND event.3 = 1, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)',
    device_agent) AS user_agent,
  multiIf(event.1 NOT IN ('open', 'click'), '',
    event.3 != 0, concat('17.58.', toString(cityHash64(message_id) % 256), '.', toString(cityHash64(message_id, 1) % 256)),
    device_ip) AS ip,
  event.1 = 'open' AND event.3 = 1 AS machine_open,
  multiIf(event.1 != 'bounce', '', event.3 = 1, 'hard', 'soft') AS bounce_kind,
  fromUnixTimestamp64Milli(event.2 + 2000, 'UTC') AS ingested_at
FROM (${messagesSql(first, count, contacts, plan)})
ARRAY JOIN ${events} AS event, arrayEnumerate(${events}) AS position`
}

function insertContactsSql(contacts: number): string {
  const zones = stringArray(ZONES.map(([zone]) => zone))
  return `
INSERT INTO contacts (contact_key, time_zone, created_at, updated_at)
SELECT
  concat('user', toString(number), '@example.com'),
  if(cityHash64(number, 2) % 50 = 0, '', ${zones}[cityHash64(number, 1) % ${ZONES.length} + 1]),
  fromUnixTimestamp64Milli(toInt64(${PERIOD_START_MS - DAY_MS} - cityHash64(number, 8) % ${365 * DAY_MS}), 'UTC'),
  fromUnixTimestamp64Milli(${PERIOD_START_MS}, 'UTC')
FROM numbers(${contacts})`
}

const DATASET_TABLE = `CREATE TABLE IF NOT EXISTS bench_dataset (
  events UInt64,
  contacts UInt64,
  generator UInt32,
  built_at DateTime
)
ENGINE = MergeTree
ORDER BY tuple()`

async function scalar(client: ClickHouseClient, query: string): Promise<number> {
  const result = await client.query({ query, format: 'JSONCompactEachRow' })
  const rows = await result.json<[number | string][]>()
  return Number(rows[0]?.[0] ?? 0)
}

/** True when the folder already contains exactly the requested data set from this generator. */
async function isBuilt(client: ClickHouseClient, options: DatasetOptions): Promise<boolean> {
  const recorded = await scalar(
    client,
    `SELECT count() FROM bench_dataset
     WHERE events = ${options.events} AND contacts = ${options.contacts} AND generator = ${GENERATOR_VERSION}`,
  )
  if (recorded === 0) return false
  const events = await scalar(client, 'SELECT count() FROM events')
  const contacts = await scalar(client, 'SELECT count() FROM contacts')
  return events === options.events && contacts === options.contacts
}

/** Plans the campaigns from the mean number of events per message in a sample of messages. */
async function planCampaigns(
  client: ClickHouseClient,
  options: DatasetOptions,
): Promise<CampaignPlan> {
  const sample = Math.min(200_000, options.contacts)
  const probe: CampaignPlan = { campaigns: MIN_CAMPAIGNS, stride: 1 }
  const meanEvents = await scalar(
    client,
    `SELECT avg(length(events)) FROM (${messagesSql(0, sample, options.contacts, probe)})`,
  )
  // Rounds are estimated with a 10% margin: a contact gets distinct campaigns
  // as long as the real number of rounds stays within the estimate.
  const rounds = Math.max(1, Math.ceil((1.1 * options.events) / (meanEvents * options.contacts)))
  const campaigns = Math.max(MIN_CAMPAIGNS, rounds)
  return { campaigns, stride: Math.max(1, Math.floor(campaigns / rounds)) }
}

function formatCount(value: number): string {
  return value >= 1e6 ? `${(value / 1e6).toFixed(2)}M` : `${value}`
}

/**
 * Builds the data set in the open store unless it is already there: contacts
 * first, then events one round of messages (one message per contact) at a
 * time, stopping at exactly `options.events` events.
 */
export async function ensureDataset(
  client: ClickHouseClient,
  options: DatasetOptions,
): Promise<void> {
  await client.command({ query: DATASET_TABLE })
  if (await isBuilt(client, options)) {
    console.log(
      `Reusing the data set: ${formatCount(options.events)} events, ${formatCount(options.contacts)} contacts`,
    )
    return
  }

  const started = performance.now()
  for (const table of ['events', 'contacts', 'bench_dataset']) {
    await client.command({ query: `TRUNCATE TABLE ${table}` })
  }
  await client.command({ query: insertContactsSql(options.contacts) })
  const plan = await planCampaigns(client, options)
  console.log(
    `Building ${formatCount(options.events)} events over ${formatCount(options.contacts)} contacts ` +
      `(${plan.campaigns} campaigns, stride ${plan.stride})`,
  )

  let inserted = 0
  let first = 0
  for (let chunk = 1; inserted < options.events; chunk++) {
    const chunkStarted = performance.now()
    const insertedBefore = inserted
    const count = options.contacts
    const chunkEvents = await scalar(
      client,
      `SELECT sum(length(events)) FROM (${messagesSql(first, count, options.contacts, plan)})`,
    )
    const remaining = options.events - inserted
    if (chunkEvents <= remaining) {
      await client.command({ query: insertEventsSql(first, count, options.contacts, plan) })
      inserted += chunkEvents
    } else {
      // The last chunk contains more events than needed: insert the whole
      // messages that fit, then the first events of the next message.
      const whole = await scalar(
        client,
        `SELECT count() FROM (
           SELECT sum(length(events)) OVER (ORDER BY i ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS total
           FROM (${messagesSql(first, count, options.contacts, plan)}))
         WHERE total <= ${remaining}`,
      )
      if (whole > 0)
        await client.command({ query: insertEventsSql(first, whole, options.contacts, plan) })
      const partial = options.events - (await scalar(client, 'SELECT count() FROM events'))
      if (partial > 0) {
        await client.command({
          query: insertEventsSql(first + whole, 1, options.contacts, plan, partial),
        })
      }
      inserted = await scalar(client, 'SELECT count() FROM events')
    }
    first += count
    const seconds = (performance.now() - chunkStarted) / 1000
    console.log(
      `chunk ${chunk}: ${formatCount(inserted - insertedBefore)} events in ${seconds.toFixed(1)} s, ` +
        `${formatCount(inserted)} of ${formatCount(options.events)}`,
    )
  }

  const merging = performance.now()
  await client.command({ query: 'OPTIMIZE TABLE events FINAL' })
  await client.command({ query: 'OPTIMIZE TABLE contacts FINAL' })
  console.log(`Merged the parts in ${((performance.now() - merging) / 1000).toFixed(1)} s`)

  const stored = await scalar(client, 'SELECT count() FROM events')
  if (stored !== options.events) {
    throw new Error(
      `The build stored ${stored} events, expected ${options.events}; delete the folder and run again`,
    )
  }
  await client.insert({
    table: 'bench_dataset',
    values: [
      {
        events: options.events,
        contacts: options.contacts,
        generator: GENERATOR_VERSION,
        built_at: Math.floor(Date.now() / 1000),
      },
    ],
    format: 'JSONEachRow',
  })
  console.log(`Built the data set in ${((performance.now() - started) / 1000).toFixed(1)} s`)
}
