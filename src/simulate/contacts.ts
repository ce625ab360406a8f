/** Simulated contacts: the CRM record, the hidden persona and the per-contact behaviour. */
import type { Rng } from '../ml/random.ts'
import { pickHumanIp, pickMailClient, pickScannerIp, type MailClient } from './devices.ts'
import { DAY_MS, SECOND_MS, type SimulationWindow } from './options.ts'
import {
  FADING_CHURN_RANGE,
  NEW_SIGNUP_DAYS,
  PERSONA_NAMES,
  PERSONAS,
  type PersonaName,
} from './personas.ts'
import { betaByMean, chance, logUniform, pickWeighted, uniform } from './sampling.ts'

export type Esp = 'sendgrid' | 'ses'

/** Share of contacts whose mail goes through SendGrid. The rest use SES. */
export const SENDGRID_SHARE = 0.7

/** Share of contacts who read in Apple Mail with Mail Privacy Protection on. */
export const APPLE_MAIL_SHARE = 0.2

/** Share of contacts with an address that does not exist, so the first send bounces hard. */
export const INVALID_ADDRESS_SHARE = 0.01

/** Weights of contact time zones: North America, Europe, South America, Asia and Oceania. */
export const TIME_ZONE_MIX: readonly { weight: number; value: string }[] = [
  { weight: 18, value: 'America/New_York' },
  { weight: 9, value: 'America/Chicago' },
  { weight: 3, value: 'America/Denver' },
  { weight: 10, value: 'America/Los_Angeles' },
  { weight: 5, value: 'America/Sao_Paulo' },
  { weight: 11, value: 'Europe/London' },
  { weight: 9, value: 'Europe/Berlin' },
  { weight: 5, value: 'Europe/Paris' },
  { weight: 6, value: 'Europe/Warsaw' },
  { weight: 9, value: 'Asia/Kolkata' },
  { weight: 5, value: 'Asia/Tokyo' },
  { weight: 3, value: 'Asia/Singapore' },
  { weight: 5, value: 'Australia/Sydney' },
  { weight: 2, value: 'Pacific/Auckland' },
]

const PERSONA_MIX = PERSONA_NAMES.map((name) => ({ weight: PERSONAS[name].share, value: name }))

/** Probability that a contact sits behind a link scanner. Office workers have corporate mail. */
const LINK_SCANNER_SHARE: Record<'office_hours' | 'other', number> = {
  office_hours: 0.12,
  other: 0.025,
}

export interface Contact {
  index: number
  /** Lower-case email address, the contact key in every file. */
  key: string
  timeZone: string
  createdAtMs: number
  persona: PersonaName
  esp: Esp
  /** Per-contact probability that a delivered message gets a human open, before trend. */
  openRate: number
  /** Per-contact probability that a human open leads to a click. */
  clickRate: number
  /** Share of human opens outside the persona's windows. */
  offHoursShare: number
  /** Shift of the persona's reading windows for this contact, in hours. */
  windowShiftHours: number
  /** Day index (from the window start) from which the contact never engages, or null. */
  churnDay: number | null
  /** Apple Mail Privacy Protection prefetches every delivered message. */
  appleMail: boolean
  /** A security gateway follows every link on delivery. */
  linkScanner: boolean
  invalidAddress: boolean
  client: MailClient
  humanIp: string
  scannerIp: string
  /** Start of the fading persona's decline, the later of the window start and the signup. */
  engagementStartMs: number
}

/** Formats the contact key, for example `c000123@example.com` for index 123. */
export function contactKey(index: number): string {
  return `c${String(index).padStart(6, '0')}@example.com`
}

function drawCreatedAtMs(rng: Rng, persona: PersonaName, window: SimulationWindow): number {
  if (persona !== 'new') {
    const daysBefore = logUniform(rng, 20, 900)
    return Math.floor((window.startMs - daysBefore * DAY_MS) / SECOND_MS) * SECOND_MS
  }
  const earliest = Math.max(window.startMs, window.cutoffMs - NEW_SIGNUP_DAYS * DAY_MS)
  const ms = uniform(rng, earliest, window.cutoffMs)
  return Math.floor(ms / SECOND_MS) * SECOND_MS
}

function drawChurnDay(
  rng: Rng,
  persona: PersonaName,
  createdAtMs: number,
  window: SimulationWindow,
): number | null {
  if (persona === 'fading') {
    const [low, high] = FADING_CHURN_RANGE
    return Math.max(1, Math.floor(uniform(rng, low, high) * window.days))
  }
  if (!chance(rng, PERSONAS[persona].churnShare)) return null
  const firstDay = Math.max(0, Math.ceil((createdAtMs - window.startMs) / DAY_MS)) + 1
  if (firstDay >= window.days) return null
  return firstDay + rng.int(window.days - firstDay)
}

/** Draws contact `index` from its own random stream, so contacts do not depend on each other. */
export function createContact(index: number, rng: Rng, window: SimulationWindow): Contact {
  const persona = pickWeighted(rng, PERSONA_MIX)
  const parameters = PERSONAS[persona]
  const createdAtMs = drawCreatedAtMs(rng, persona, window)
  const scannerShare = LINK_SCANNER_SHARE[persona === 'office_hours' ? 'office_hours' : 'other']
  const linkScanner = chance(rng, scannerShare)
  const appleMail = !linkScanner && chance(rng, APPLE_MAIL_SHARE)
  const concentration = parameters.rateConcentration
  return {
    index,
    key: contactKey(index),
    timeZone: pickWeighted(rng, TIME_ZONE_MIX),
    createdAtMs,
    persona,
    esp: chance(rng, SENDGRID_SHARE) ? 'sendgrid' : 'ses',
    openRate: betaByMean(rng, parameters.openRate, concentration),
    clickRate: betaByMean(rng, parameters.clickRate, concentration),
    offHoursShare: betaByMean(rng, parameters.offHoursShare, 20),
    windowShiftHours: uniform(rng, -0.5, 0.5),
    churnDay: drawChurnDay(rng, persona, createdAtMs, window),
    appleMail,
    linkScanner,
    invalidAddress: chance(rng, INVALID_ADDRESS_SHARE),
    client: pickMailClient(rng, appleMail),
    humanIp: pickHumanIp(rng),
    scannerIp: pickScannerIp(rng),
    engagementStartMs: Math.max(window.startMs, createdAtMs),
  }
}

/** Returns the instant from which the contact no longer engages, or Infinity. */
export function churnMs(contact: Contact, window: SimulationWindow): number {
  return contact.churnDay === null ? Infinity : window.startMs + contact.churnDay * DAY_MS
}
