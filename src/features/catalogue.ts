/**
 * The feature catalogue: every column of the feature matrix, in order, with
 * its meaning. The SQL in `sql.ts` produces exactly these columns.
 */
export interface FeatureDefinition {
  name: string
  description: string
  unit: 'count' | 'share' | 'days' | 'ratio' | 'flag'
  /** Counts and day spans are skewed, so the persona scaler takes log1p of them first. */
  skewed: boolean
}

const HOURS = Array.from({ length: 24 }, (_, hour) => hour)

export const HOUR_FEATURES: FeatureDefinition[] = HOURS.map((hour) => ({
  name: `hour_share_${String(hour).padStart(2, '0')}`,
  description: `Share of human opens and clicks in local hour ${hour}:00-${hour}:59`,
  unit: 'share',
  skewed: false,
}))

export const FEATURES: FeatureDefinition[] = [
  {
    name: 'sends_90d',
    description: 'Messages sent in the last 90 days',
    unit: 'count',
    skewed: true,
  },
  {
    name: 'delivered_90d',
    description: 'Messages delivered in the last 90 days',
    unit: 'count',
    skewed: true,
  },
  {
    name: 'opens_90d',
    description: 'Human opens in the last 90 days',
    unit: 'count',
    skewed: true,
  },
  {
    name: 'clicks_90d',
    description: 'Human clicks (link scanners excluded) in the last 90 days',
    unit: 'count',
    skewed: true,
  },
  {
    name: 'open_rate_90d',
    description:
      'Delivered messages of the last 90 days with a human open, over messages delivered',
    unit: 'share',
    skewed: false,
  },
  {
    name: 'click_rate_90d',
    description:
      'Delivered messages of the last 90 days with a human click, over messages delivered',
    unit: 'share',
    skewed: false,
  },
  {
    name: 'night_share',
    description: 'Share of human opens and clicks between 22:00 and 05:00 local time',
    unit: 'share',
    skewed: false,
  },
  {
    name: 'morning_share',
    description: 'Share of human opens and clicks between 05:00 and 09:00 local time',
    unit: 'share',
    skewed: false,
  },
  {
    name: 'office_share',
    description: 'Share of human opens and clicks on weekdays between 09:00 and 17:00 local time',
    unit: 'share',
    skewed: false,
  },
  {
    name: 'weekend_share',
    description: 'Share of human opens and clicks on Saturday or Sunday, local time',
    unit: 'share',
    skewed: false,
  },
  {
    name: 'days_since_last_engagement',
    description: 'Days since the last human open or click, capped at 365 (365 when there is none)',
    unit: 'days',
    skewed: true,
  },
  {
    name: 'days_since_last_send',
    description: 'Days since the last send or delivery, capped at 365 (365 when there is none)',
    unit: 'days',
    skewed: true,
  },
  {
    name: 'tenure_days',
    description: 'Days since the contact was created or, without a record, since its first event',
    unit: 'days',
    skewed: true,
  },
  {
    name: 'engagement_trend',
    description:
      'Human opens and clicks of the last 30 days minus those of the 30 before, over their sum (0 when both are 0)',
    unit: 'ratio',
    skewed: false,
  },
  { name: 'bounces_90d', description: 'Bounces in the last 90 days', unit: 'count', skewed: true },
  {
    name: 'machine_open_share',
    description: 'Share of opens in the last 90 days made by a machine (mail privacy proxy)',
    unit: 'share',
    skewed: false,
  },
  {
    name: 'scanner_click_share',
    description: 'Share of clicks in the last 90 days made by a link scanner',
    unit: 'share',
    skewed: false,
  },
  {
    name: 'unsubscribed',
    description: '1 when the contact unsubscribed or complained before the cutoff, else 0',
    unit: 'flag',
    skewed: false,
  },
  {
    name: 'hard_bounced',
    description: '1 when a message to the contact bounced hard before the cutoff, else 0',
    unit: 'flag',
    skewed: false,
  },
  ...HOUR_FEATURES,
]

export const FEATURE_NAMES = FEATURES.map((feature) => feature.name)

/**
 * Columns the persona clustering uses: engagement level, time-of-day and
 * day-of-week habits, recency, tenure and trend. Volume counts and the 24
 * hourly shares stay out, as they would outweigh the habits that name a persona.
 */
export const PERSONA_FEATURES = [
  'open_rate_90d',
  'click_rate_90d',
  'night_share',
  'morning_share',
  'office_share',
  'weekend_share',
  'days_since_last_engagement',
  'tenure_days',
  'engagement_trend',
]
