/**
 * Zod schemas for the field kinds that several adapters share: addresses, times and optional
 * text. Each schema writes its own issue message ("expected …, received …") so that a reject's
 * reason names the field, what it must contain and what arrived.
 */
import { z } from 'zod'

/** Earliest accepted event time (2000-01-01 UTC). Earlier values are unit or parsing mistakes. */
export const MIN_TIME_MS = Date.UTC(2000, 0, 1)
/** Latest accepted event time (exclusive, 2100-01-01 UTC), which catches ms sent as seconds. */
export const MAX_TIME_MS = Date.UTC(2100, 0, 1)

const MAX_SHOWN_CHARS = 60

/** A field value that failed to parse, with the message for the issue. */
export class Invalid {
  constructor(readonly message: string) {}
}

/**
 * Serializes a received record or value as JSON, or describes it when it
 * cannot be: JSON.stringify overflows the stack on values nested thousands
 * of levels deep, which a request body can hold.
 */
export function safeJson(input: unknown): string {
  try {
    return JSON.stringify(input) ?? String(input)
  } catch {
    return Array.isArray(input)
      ? '[an array too deeply nested to show]'
      : '{a value too deeply nested to show}'
  }
}

/** Formats a received value for a message, shortened to MAX_SHOWN_CHARS characters. */
export function showValue(input: unknown): string {
  const text = safeJson(input)
  return text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}…` : text
}

/** Returns the message for a value that is not of the `expected` kind. */
export function expectedMessage(expected: string, input: unknown): string {
  if (input === undefined) return `missing, expected ${expected}`
  return `expected ${expected}, received ${showValue(input)}`
}

/** Zod schema params whose issue message names `expected` and the received value. */
export function expecting(expected: string) {
  return { error: (issue: { input: unknown }) => expectedMessage(expected, issue.input) }
}

function invalid(expected: string, input: unknown): Invalid {
  return new Invalid(expectedMessage(expected, input))
}

/**
 * Builds a schema from a parse function that returns the value or an `Invalid`. The inner schema
 * is optional because otherwise zod rejects an absent key before the transform runs, and
 * `parse` must see `undefined` to write its own "missing" message.
 */
export function fieldSchema<T>(parse: (input: unknown) => T | Invalid) {
  return z
    .unknown()
    .optional()
    .transform((input, ctx): T => {
      const parsed = parse(input)
      if (parsed instanceof Invalid) {
        ctx.addIssue({ code: 'custom', message: parsed.message, input })
        return z.NEVER
      }
      return parsed
    })
}

/**
 * The WHATWG HTML "valid email address" pattern, which allows a local part of letters, digits
 * and ``.!#$%&'*+/=?^_`{|}~-`` at a host name. Text with spaces, a second `@` or no `@` fails.
 * NOTE: quoted local parts, IP-literal domains and non-ASCII (SMTPUTF8) addresses fail too.
 */
const emailFormat = z.email({ pattern: z.regexes.html5Email })

/** Returns the trimmed, lower-cased address, or `Invalid` when the input is not an address. */
export function parseEmail(input: unknown): string | Invalid {
  if (typeof input !== 'string') return invalid('an email address', input)
  const address = input.trim().toLowerCase()
  if (!emailFormat.safeParse(address).success) return invalid('an email address', input)
  return address
}

/** A required email address, trimmed and lower-cased. */
export const emailAddress = () => fieldSchema(parseEmail)

function checkRange(ms: number, input: unknown): number | Invalid {
  if (ms >= MIN_TIME_MS && ms < MAX_TIME_MS) return ms
  return invalid('a time between 2000-01-01 and 2100-01-01 UTC', input)
}

function parseUnixSeconds(input: unknown): number | Invalid {
  if (typeof input !== 'number' || !Number.isFinite(input)) {
    return invalid('a Unix time in seconds', input)
  }
  // Rounding, not truncation, because float seconds such as 1741501809.95 are not exact.
  return checkRange(Math.round(input * 1000), input)
}

/** A required Unix time in seconds (integer or fraction), converted to epoch ms. */
export const unixSeconds = () => fieldSchema(parseUnixSeconds)

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/

/**
 * Converts an ISO 8601 date-time with a `Z` or `±HH:MM` offset to epoch ms, or returns NaN.
 * Fractions finer than a millisecond are rounded, so Postmark's `.3963933` becomes 396 ms.
 */
export function isoTimeToMs(text: string): number {
  const match = ISO_TIME.exec(text)
  if (!match) return Number.NaN
  const [, year, month, day, hour, minute, second, fraction, zulu, sign, offH, offM] = match
  const date = new Date(0)
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day))
  date.setUTCHours(Number(hour), Number(minute), Number(second))
  // setUTC* rolls 2025-02-30 over to March, so a changed field means the date does not exist.
  const exists =
    date.getUTCMonth() === Number(month) - 1 &&
    date.getUTCDate() === Number(day) &&
    date.getUTCHours() === Number(hour) &&
    date.getUTCMinutes() === Number(minute) &&
    date.getUTCSeconds() === Number(second)
  if (!exists || Number(offH) > 23 || Number(offM) > 59) return Number.NaN
  const fractionMs = fraction ? Math.round(Number(`0.${fraction}`) * 1000) : 0
  const offsetMinutes = zulu ? 0 : (sign === '-' ? -1 : 1) * (Number(offH) * 60 + Number(offM))
  return date.getTime() + fractionMs - offsetMinutes * 60_000
}

const ISO_EXPECTED = 'an ISO 8601 time with an offset'

function parseIsoTime(input: unknown): number | Invalid {
  const ms = typeof input === 'string' ? isoTimeToMs(input) : Number.NaN
  return Number.isNaN(ms) ? invalid(ISO_EXPECTED, input) : checkRange(ms, input)
}

/** A required ISO 8601 time with a `Z` or `±HH:MM` offset, converted to epoch ms. */
export const isoTime = () => fieldSchema(parseIsoTime)

function parseIsoOrEpochMs(input: unknown): number | Invalid {
  const expected = `${ISO_EXPECTED} or an integer epoch ms`
  if (typeof input === 'number' && Number.isSafeInteger(input)) return checkRange(input, input)
  if (typeof input !== 'string') return invalid(expected, input)
  const ms = /^\d+$/.test(input) ? Number(input) : isoTimeToMs(input)
  return Number.isSafeInteger(ms) ? checkRange(ms, input) : invalid(expected, input)
}

/** A required time given as ISO 8601 text or as integer epoch ms (a number or a digit string). */
export const isoOrEpochMs = () => fieldSchema(parseIsoOrEpochMs)

function parseOptionalText(input: unknown): string | Invalid {
  if (input === undefined || input === null) return ''
  return typeof input === 'string' ? input : invalid('a string', input)
}

/** An optional string, '' when missing or null. */
export const optionalText = () => fieldSchema(parseOptionalText)

function parseOptionalId(input: unknown): string | Invalid {
  if (input === undefined || input === null) return ''
  if (typeof input === 'number' && Number.isSafeInteger(input)) return String(input)
  return typeof input === 'string' ? input : invalid('a string or an integer id', input)
}

/** An optional id that providers send as a string or an integer, '' when missing or null. */
export const optionalId = () => fieldSchema(parseOptionalId)

function parseRequiredText(input: unknown, expected: string): string | Invalid {
  return typeof input === 'string' && input.trim() !== '' ? input : invalid(expected, input)
}

/** A required non-blank string. `expected` names it in messages, for example 'a URL'. */
export const requiredText = (expected: string) =>
  fieldSchema((input) => parseRequiredText(input, expected))

/** Returns the first non-empty string, or '' when there is none. */
export function firstNonEmpty(...values: ReadonlyArray<string | undefined>): string {
  return values.find((value) => value !== undefined && value !== '') ?? ''
}
