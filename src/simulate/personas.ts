/**
 * The hidden personas of simulated contacts and the parameters of their behaviour. A contact
 * draws its own rates from a beta distribution around its persona's means, so personas overlap
 * at the edges but stay apart on open rate, click rate, local reading hours, weekend share,
 * recency and trend.
 */

export const PERSONA_NAMES = [
  'night_owl',
  'early_bird',
  'office_hours',
  'weekend_reader',
  'heavy_clicker',
  'fading',
  'dormant',
  'new',
] as const
export type PersonaName = (typeof PERSONA_NAMES)[number]

/** Shape of a persona's engagement over the simulated window. */
export type EngagementTrend = 'steady' | 'fading' | 'honeymoon'

/** A recurring span of local time in which a contact reads mail. */
export interface ReadingWindow {
  /** Local start hour, 0-24. */
  startHour: number
  /** Local end hour, after `startHour`. Values above 24 run into the next day. */
  endHour: number
  /** Local weekdays (0 = Sunday) on which the window starts. */
  weekdays: readonly number[]
  /** Relative weight among the persona's windows. */
  weight: number
}

export interface PersonaParameters {
  name: PersonaName
  /** Expected share of all contacts. The shares of all personas sum to 1. */
  share: number
  /** Mean probability that a delivered message gets a human open, before trend and churn. */
  openRate: number
  /** Mean probability that a human open leads to at least one click. */
  clickRate: number
  /** Beta concentration (alpha + beta) of the per-contact rates around the means. */
  rateConcentration: number
  /** Local windows of the persona's human opens, apart from the off-hours share. */
  windows: readonly ReadingWindow[]
  /** Mean share of human opens at any hour of the off-hours window instead. */
  offHoursShare: number
  /** Probability that a human open is followed by a second one in the same window. */
  secondOpenRate: number
  /** Probability that a human open is followed by an unsubscribe. */
  unsubscribeRate: number
  /** Probability that a delivered message is reported as spam. */
  complaintRate: number
  /** Probability that the contact churns at a random day of the window. */
  churnShare: number
  trend: EngagementTrend
}

const EVERY_DAY = [0, 1, 2, 3, 4, 5, 6] as const
const WEEKDAYS = [1, 2, 3, 4, 5] as const
const WEEKEND = [0, 6] as const

/** Noise window for off-hours opens: any day, 07:00-23:00 local. */
export const OFF_HOURS_WINDOW: ReadingWindow = {
  startHour: 7,
  endHour: 23,
  weekdays: EVERY_DAY,
  weight: 1,
}

const DEFAULTS = {
  rateConcentration: 14,
  offHoursShare: 0.1,
  secondOpenRate: 0.2,
  unsubscribeRate: 0.003,
  complaintRate: 0.0001,
  churnShare: 0.15,
  trend: 'steady',
} as const

export const PERSONAS: Record<PersonaName, PersonaParameters> = {
  night_owl: {
    ...DEFAULTS,
    name: 'night_owl',
    share: 0.13,
    openRate: 0.35,
    clickRate: 0.12,
    windows: [{ startHour: 22, endHour: 29, weekdays: EVERY_DAY, weight: 1 }],
  },
  early_bird: {
    ...DEFAULTS,
    name: 'early_bird',
    share: 0.13,
    openRate: 0.35,
    clickRate: 0.12,
    windows: [{ startHour: 5, endHour: 8, weekdays: EVERY_DAY, weight: 1 }],
  },
  office_hours: {
    ...DEFAULTS,
    name: 'office_hours',
    share: 0.14,
    openRate: 0.32,
    clickRate: 0.16,
    windows: [{ startHour: 9, endHour: 17, weekdays: WEEKDAYS, weight: 1 }],
  },
  weekend_reader: {
    ...DEFAULTS,
    name: 'weekend_reader',
    share: 0.12,
    openRate: 0.3,
    clickRate: 0.12,
    offHoursShare: 0.05,
    windows: [
      { startHour: 9, endHour: 21, weekdays: WEEKEND, weight: 0.85 },
      { startHour: 19, endHour: 22, weekdays: WEEKDAYS, weight: 0.15 },
    ],
  },
  heavy_clicker: {
    ...DEFAULTS,
    name: 'heavy_clicker',
    share: 0.12,
    openRate: 0.65,
    clickRate: 0.45,
    offHoursShare: 0.05,
    secondOpenRate: 0.35,
    churnShare: 0.08,
    windows: [{ startHour: 8, endHour: 22, weekdays: EVERY_DAY, weight: 1 }],
  },
  fading: {
    ...DEFAULTS,
    name: 'fading',
    share: 0.13,
    openRate: 0.4,
    clickRate: 0.1,
    unsubscribeRate: 0.01,
    churnShare: 1,
    trend: 'fading',
    windows: [{ startHour: 9, endHour: 22, weekdays: EVERY_DAY, weight: 1 }],
  },
  dormant: {
    ...DEFAULTS,
    name: 'dormant',
    share: 0.12,
    openRate: 0.02,
    clickRate: 0.05,
    rateConcentration: 30,
    unsubscribeRate: 0.02,
    complaintRate: 0.0005,
    churnShare: 0.2,
    windows: [{ startHour: 9, endHour: 22, weekdays: EVERY_DAY, weight: 1 }],
  },
  new: {
    ...DEFAULTS,
    name: 'new',
    share: 0.11,
    openRate: 0.45,
    clickRate: 0.15,
    churnShare: 0.2,
    trend: 'honeymoon',
    windows: [{ startHour: 12, endHour: 22, weekdays: EVERY_DAY, weight: 1 }],
  },
}

/** Days before the cutoff in which contacts of the `new` persona sign up. */
export const NEW_SIGNUP_DAYS = 30

/** Days after signup in which `new` contacts open more often than their base rate. */
export const HONEYMOON_DAYS = 14

/** Factor on the open probability of `new` contacts during the honeymoon. */
export const HONEYMOON_FACTOR = 1.3

/** Days before a random churn in which engagement falls linearly to `PRE_CHURN_FLOOR`. */
export const PRE_CHURN_DAYS = 21

/** Share of the base open probability left on the day before a random churn. */
export const PRE_CHURN_FLOOR = 0.3

/** Range of a fading contact's churn day, as fractions of the window. */
export const FADING_CHURN_RANGE = [0.35, 0.95] as const
