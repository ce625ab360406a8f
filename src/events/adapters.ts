/**
 * The ingest adapter registry: one pure function per provider that turns one request body into
 * an `AdapterResult`.
 */
import { parseCsv, parseJsonl } from './generic.ts'
import { parseMailgun } from './mailgun.ts'
import { parsePostmark } from './postmark.ts'
import { parseSendGrid } from './sendgrid.ts'
import { parseSes } from './ses.ts'
import { PROVIDERS, type AdapterResult, type Provider } from './types.ts'

/** Parses one request body into events, rejects and an ignored count. */
export type Adapter = (body: string) => AdapterResult

const ADAPTERS: Readonly<Record<Provider, Adapter>> = {
  sendgrid: parseSendGrid,
  ses: parseSes,
  mailgun: parseMailgun,
  postmark: parsePostmark,
  jsonl: parseJsonl,
  csv: parseCsv,
}

/**
 * Parses one body with the provider's adapter. Invalid records become rejects, and the valid
 * events of the body are returned with each event id once.
 * Throws `PayloadParseError` when the body cannot be parsed at all.
 */
export function parsePayload(provider: Provider, body: string): AdapterResult {
  return ADAPTERS[provider](body)
}

/** Returns whether `value` names a provider, for example a route parameter. */
export function isProvider(value: unknown): value is Provider {
  return typeof value === 'string' && (PROVIDERS as ReadonlyArray<string>).includes(value)
}
