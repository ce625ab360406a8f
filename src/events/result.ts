/**
 * The parts every adapter shares: decoding a JSON body, building reject paths and reasons from
 * zod issues, and collecting events into an `AdapterResult` with repeats dropped.
 */
import type { z } from 'zod'
import { contentEventId } from './event-id.ts'
import { expectedMessage } from './fields.ts'
import {
  PayloadParseError,
  type AdapterResult,
  type EventType,
  type IngestReject,
  type NormalizedEvent,
  type Provider,
} from './types.ts'

/** Provider names as they appear in error messages. */
export const PROVIDER_NAMES: Record<Provider, string> = {
  sendgrid: 'SendGrid',
  ses: 'SES',
  mailgun: 'Mailgun',
  postmark: 'Postmark',
  jsonl: 'JSONL',
  csv: 'CSV',
}

/** Event types caused by a request from the recipient's mail client or browser. */
const CLIENT_EVENT_TYPES: ReadonlySet<EventType> = new Set(['open', 'click', 'unsubscribe'])

/**
 * A rejected record's text, or a function that makes it: adapters pass a
 * function so that valid records, the common case, are never serialized.
 */
export type RawText = string | (() => string)

/** An event as an adapter builds it. For an empty `eventId`, `addEvent` computes a content hash. */
export type EventFields = Omit<NormalizedEvent, 'provider'>

/**
 * Joins a base path and zod path segments into the `[3].mail.destination[0]` form.
 * `base` is '' for a body that is a single record.
 */
export function joinPath(base: string, segments: ReadonlyArray<PropertyKey>): string {
  let path = base
  for (const segment of segments) {
    if (typeof segment === 'number') path += `[${segment}]`
    else path += path === '' ? String(segment) : `.${String(segment)}`
  }
  return path
}

/** Parses a JSON body, or throws `PayloadParseError` naming the provider and the JSON error. */
export function parseJsonBody(provider: Provider, body: string): unknown {
  try {
    return JSON.parse(body)
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error)
    const message = `${PROVIDER_NAMES[provider]} body is not valid JSON: ${detail}`
    throw new PayloadParseError(provider, message)
  }
}

/** Returns whether a parsed JSON value is an object (not null, not an array). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Returns the body's records: the elements of an array body, or the body itself. */
export function bodyRecords(body: unknown): Array<{ base: string; record: unknown }> {
  if (!Array.isArray(body)) return [{ base: '', record: body }]
  return body.map((record, index) => ({ base: `[${index}]`, record }))
}

/** A provider's event names and the event type each maps to. `null` marks names we ignore. */
export type EventNameMap = Readonly<Record<string, EventType | null>>

/** Returns `base` and `field` joined into a path (`[3]` and `event` give `[3].event`). */
function fieldPath(base: string, field: string): string {
  return base === '' ? field : `${base}.${field}`
}

/**
 * Looks up the record's event name in `names`. Returns the event type, or `undefined` after
 * counting an ignored name or rejecting a missing or unknown one.
 */
export function lookupEventType(
  collector: ResultCollector,
  names: EventNameMap,
  name: unknown,
  at: { base: string; field: string; raw: RawText },
): EventType | undefined {
  const known = typeof name === 'string' && Object.hasOwn(names, name)
  const type = known ? names[name] : undefined
  if (type === null) {
    collector.ignore()
    return undefined
  }
  if (type === undefined) {
    const expected = `one of ${Object.keys(names).join(', ')}`
    const problem =
      typeof name === 'string'
        ? `unknown event type ${JSON.stringify(name)}, expected ${expected}`
        : expectedMessage(`an event type (${expected})`, name)
    collector.reject(fieldPath(at.base, at.field), `${at.field}: ${problem}`, at.raw)
  }
  return type
}

/** Collects the outcome of one body: events (each event id once), rejects and ignored count. */
export class ResultCollector {
  private readonly events = new Map<string, NormalizedEvent>()
  private readonly rejects: IngestReject[] = []
  private ignored = 0
  private duplicates = 0

  constructor(readonly provider: Provider) {}

  /**
   * Adds an event unless one with the same id is already in this body, and computes the
   * content hash id when `eventId` is ''.
   *
   * Applies the field rules of every provider here: `url` only on clicks, `machineOpen` only on
   * opens, `bounceKind` only on bounces. `userAgent` and `ip` are kept only on opens, clicks and
   * unsubscribes, because on other events providers report their own servers there.
   */
  addEvent(fields: EventFields): void {
    const fromClient = CLIENT_EVENT_TYPES.has(fields.type)
    const event: NormalizedEvent = {
      provider: this.provider,
      ...fields,
      url: fields.type === 'click' ? fields.url : '',
      userAgent: fromClient ? fields.userAgent : '',
      ip: fromClient ? fields.ip : '',
      machineOpen: fields.type === 'open' && fields.machineOpen,
      bounceKind: fields.type === 'bounce' ? fields.bounceKind : '',
    }
    event.eventId = event.eventId.trim()
    if (event.eventId === '') event.eventId = contentEventId(this.provider, event)
    if (this.events.has(event.eventId)) this.duplicates += 1
    else this.events.set(event.eventId, event)
  }

  /** Returns `record` parsed by `schema`, or rejects the record and returns `undefined`. */
  parseRecord<T>(schema: z.ZodType<T>, record: unknown, base: string, raw: RawText): T | undefined {
    const parsed = schema.safeParse(record)
    if (parsed.success) return parsed.data
    this.rejectIssues(base, parsed.error.issues, raw)
    return undefined
  }

  reject(path: string, reason: string, raw: RawText): void {
    const text = typeof raw === 'function' ? raw() : raw
    this.rejects.push({ provider: this.provider, path, reason, raw: text })
  }

  /**
   * Rejects a record for its zod issues. The path and reason come from the first issue, and
   * the reason lists the paths of any further invalid fields.
   */
  rejectIssues(base: string, issues: ReadonlyArray<z.core.$ZodIssue>, raw: RawText): void {
    const [first, ...rest] = issues
    if (first === undefined) return
    const field = joinPath('', first.path)
    let reason = field === '' ? first.message : `${field}: ${first.message}`
    if (rest.length > 0) {
      const others = rest.map((issue) => joinPath('', issue.path) || '(record)')
      reason += ` (also invalid: ${others.join(', ')})`
    }
    this.reject(joinPath(base, first.path), reason, raw)
  }

  ignore(): void {
    this.ignored += 1
  }

  result(): AdapterResult {
    return {
      events: [...this.events.values()],
      rejects: this.rejects,
      ignored: this.ignored,
      duplicates: this.duplicates,
    }
  }
}
