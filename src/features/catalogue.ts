/**
 * The feature catalogue: every column of the feature matrix, in order, with
 * its meaning. The SQL in `sql.ts` produces exactly these columns, and
 * docs/features.md explains each one.
 */
export interface FeatureDefinition {
  name: string
  description: string
  unit: 'count' | 'share' | 'days' | 'minutes' | 'hour' | 'ratio' | 'flag'
  /** Span of events the feature reads, before the cutoff T: `7d`, `30d`, `60d`, `90d` or `all` (all history before T). */
  window: '7d' | '30d' | '60d' | '90d' | 'all'
  /** Value of a contact without the events the feature needs (also the cap, where there is one). */
  noData: number
  /** Counts and day spans are skewed, so the persona scaler takes log1p of them first. */
  skewed: boolean
}

/** Cap of every "days since" feature, and its value when the event never happened. */
export const DAYS_SINCE_CAP = 365

/** Cap of `median_open_delay_minutes` (7 days), and its value without a human open. */
export const OPEN_DELAY_CAP_MINUTES = 7 * 24 * 60

const WINDOWS = [7, 30, 90] as const
type Window = (typeof WINDOWS)[number]

const HOURS = Array.from({ length: 24 }, (_, hour) => hour)

export const HOUR_FEATURES: FeatureDefinition[] = HOURS.map((hour) => ({
  name: `hour_share_${String(hour).padStart(2, '0')}`,
  description: `Share of human opens and clicks in local hour ${hour}:00-${hour}:59`,
  unit: 'share',
  window: 'all',
  noData: 0,
  skewed: false,
}))

/** ISO weekday order, Monday first, as ClickHouse's `toDayOfWeek` numbers them from 1. */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const

const WEEKDAY_NAMES = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday']

export const DAY_OF_WEEK_FEATURES: FeatureDefinition[] = WEEKDAYS.map((day, index) => ({
  name: `day_of_week_share_${day}`,
  description: `Share of human opens and clicks on ${WEEKDAY_NAMES[index]}, local time`,
  unit: 'share',
  window: 'all',
  noData: 0,
  skewed: false,
}))

function count(name: string, description: string, window: FeatureDefinition['window']) {
  return { name, description, unit: 'count', window, noData: 0, skewed: true } as const
}

function share(name: string, description: string, window: FeatureDefinition['window']) {
  return { name, description, unit: 'share', window, noData: 0, skewed: false } as const
}

function daysSince(name: string, description: string): FeatureDefinition {
  return {
    name,
    description: `${description}, capped at ${DAYS_SINCE_CAP} (${DAYS_SINCE_CAP} when there is none)`,
    unit: 'days',
    window: 'all',
    noData: DAYS_SINCE_CAP,
    skewed: true,
  }
}

function volumeFeatures(days: Window): FeatureDefinition[] {
  const w = `${days}d` as const
  const last = `in the last ${days} days`
  return [
    count(`sends_${w}`, `Messages whose first send event falls ${last}`, w),
    count(`delivered_${w}`, `Messages first delivered ${last}`, w),
    count(`opens_${w}`, `Human opens ${last}`, w),
    count(`clicks_${w}`, `Human clicks (link scanners excluded) ${last}`, w),
    count(
      `opened_campaigns_${w}`,
      `Campaigns with a human open ${last} (message id where the campaign id is empty)`,
      w,
    ),
    count(
      `clicked_campaigns_${w}`,
      `Campaigns with a human click ${last} (message id where the campaign id is empty)`,
      w,
    ),
  ]
}

function rateFeatures(days: Window): FeatureDefinition[] {
  const w = `${days}d` as const
  const delivered = `Messages delivered in the last ${days} days`
  return [
    share(`open_rate_${w}`, `${delivered} with a human open, over messages delivered`, w),
    share(`click_rate_${w}`, `${delivered} with a human click, over messages delivered`, w),
    share(
      `click_to_open_rate_${w}`,
      `${delivered} with a human click, over those with a human open or click`,
      w,
    ),
  ]
}

const TIMING_FEATURES: FeatureDefinition[] = [
  share('night_share', 'Share of human opens and clicks between 22:00 and 05:00 local time', 'all'),
  share(
    'morning_share',
    'Share of human opens and clicks between 05:00 and 09:00 local time',
    'all',
  ),
  share(
    'office_share',
    'Share of human opens and clicks on weekdays between 09:00 and 17:00 local time',
    'all',
  ),
  share(
    'weekend_share',
    'Share of human opens and clicks on Saturday or Sunday, local time',
    'all',
  ),
  ...DAY_OF_WEEK_FEATURES,
  {
    name: 'mean_engagement_hour',
    description:
      'Circular mean of the local times of day of human opens and clicks, in hours from 0 to 24 (0 without engagement)',
    unit: 'hour',
    window: 'all',
    noData: 0,
    skewed: false,
  },
  {
    name: 'hour_concentration',
    description:
      'Mean resultant length of the local times of day of human opens and clicks: 1 when all fall at one time, near 0 when spread evenly (0 without engagement)',
    unit: 'ratio',
    window: 'all',
    noData: 0,
    skewed: false,
  },
  {
    name: 'median_open_delay_minutes',
    description: `Median over messages delivered in the last 90 days of the minutes from delivery to the first human open, capped at ${OPEN_DELAY_CAP_MINUTES} (${OPEN_DELAY_CAP_MINUTES} without a human open)`,
    unit: 'minutes',
    window: '90d',
    noData: OPEN_DELAY_CAP_MINUTES,
    skewed: true,
  },
]

const LIFECYCLE_FEATURES: FeatureDefinition[] = [
  daysSince('days_since_last_engagement', 'Days since the last human open or click'),
  daysSince('days_since_last_send', 'Days since the last message was sent or delivered'),
  daysSince('days_since_last_open', 'Days since the last human open'),
  daysSince('days_since_last_click', 'Days since the last human click'),
  {
    name: 'tenure_days',
    description:
      'Days since the contact was created or its first event, whichever is earlier (0 for a contact whose only trace is at T)',
    unit: 'days',
    window: 'all',
    noData: 0,
    skewed: true,
  },
  {
    name: 'engagement_trend',
    description:
      'Human opens and clicks of the last 30 days minus those of the 30 before, over their sum (0 when both are 0)',
    unit: 'ratio',
    window: '60d',
    noData: 0,
    skewed: false,
  },
]

const HEALTH_FEATURES: FeatureDefinition[] = [
  count('bounces_90d', 'Bounces of any kind in the last 90 days', '90d'),
  count('hard_bounces_90d', 'Hard bounces in the last 90 days', '90d'),
  count('soft_bounces_90d', 'Soft bounces in the last 90 days', '90d'),
  count('complaints_90d', 'Spam complaints in the last 90 days', '90d'),
  count('deferrals_90d', 'Deferred deliveries in the last 90 days', '90d'),
  count('drops_90d', 'Messages the provider dropped in the last 90 days', '90d'),
  {
    name: 'unsubscribed',
    description: '1 when the contact unsubscribed or complained before the cutoff, else 0',
    unit: 'flag',
    window: 'all',
    noData: 0,
    skewed: false,
  },
  {
    name: 'hard_bounced',
    description: '1 when a message to the contact bounced hard before the cutoff, else 0',
    unit: 'flag',
    window: 'all',
    noData: 0,
    skewed: false,
  },
]

const MACHINE_FEATURES: FeatureDefinition[] = [
  count('raw_opens_90d', 'Opens of any origin, human or machine, in the last 90 days', '90d'),
  count('machine_opens_90d', 'Opens made by a machine in the last 90 days', '90d'),
  count('raw_clicks_90d', 'Clicks of any origin, human or scanner, in the last 90 days', '90d'),
  count('scanner_clicks_90d', 'Clicks made by a link scanner in the last 90 days', '90d'),
  share(
    'machine_open_share',
    'Share of opens in the last 90 days made by a machine (provider flag or image proxy prefetch)',
    '90d',
  ),
  share('scanner_click_share', 'Share of clicks in the last 90 days made by a link scanner', '90d'),
]

export const FEATURES: FeatureDefinition[] = [
  ...WINDOWS.flatMap(volumeFeatures),
  ...WINDOWS.flatMap(rateFeatures),
  ...TIMING_FEATURES,
  ...LIFECYCLE_FEATURES,
  ...HEALTH_FEATURES,
  ...MACHINE_FEATURES,
  ...HOUR_FEATURES,
]

export const FEATURE_NAMES = FEATURES.map((feature) => feature.name)

/**
 * Columns the persona clustering uses. They cover engagement level (open and click rates,
 * human opens), time-of-day and weekend habits, the spread of reading times, the delay from
 * delivery to the first open, recency and tenure. Volume counts other than opens and the 24
 * hourly shares stay out, as they would outweigh the habits that name a persona. On the
 * simulator's default data, k-means with k = 8 on these columns reaches an adjusted Rand
 * index of 0.70 against the hidden personas. The earlier set, without `opens_90d`,
 * `hour_concentration` and `median_open_delay_minutes` but with `engagement_trend`, reached
 * 0.66.
 */
export const PERSONA_FEATURES = [
  'open_rate_90d',
  'click_rate_90d',
  'opens_90d',
  'night_share',
  'morning_share',
  'office_share',
  'weekend_share',
  'hour_concentration',
  'median_open_delay_minutes',
  'days_since_last_engagement',
  'tenure_days',
]
