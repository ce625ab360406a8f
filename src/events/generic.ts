/**
 * Adapters for our own formats: JSONL (one JSON object a line) and CSV (a header row, then one
 * record a row). Both carry the same fields, described in docs/ingest-formats.md.
 *
 * JSONL ignores fields it does not know, so producers may send extra data. A CSV header with an
 * unknown column throws instead, because a misspelt column would silently empty that field in
 * every row.
 */
import { z } from 'zod'
import { readCsv, type CsvRecord } from './csv-reader.ts'
import {
  Invalid,
  expectedMessage,
  expecting,
  fieldSchema,
  isoOrEpochMs,
  optionalId,
  optionalText,
  parseEmail,
  requiredText,
} from './fields.ts'
import {
  ResultCollector,
  isJsonObject,
  lookupEventType,
  type EventNameMap,
  type RawText,
} from './result.ts'
import { EVENT_TYPES, PayloadParseError, type AdapterResult } from './types.ts'

/** Our event types, each mapping to itself. */
const EVENT_NAMES: EventNameMap = Object.fromEntries(EVENT_TYPES.map((type) => [type, type]))

/** The fields of a generic record, in the order the docs list them. */
export const GENERIC_FIELDS = [
  'event_id',
  'contact',
  'type',
  'time',
  'campaign_id',
  'message_id',
  'url',
  'user_agent',
  'ip',
  'machine_open',
  'bounce_kind',
] as const

const REQUIRED_FIELDS = ['contact', 'type', 'time']

/**
 * Reads `contact`. A value with an `@` must be an email address and is lower-cased. Any other
 * non-blank value is the caller's own contact id, which is trimmed and keeps its case.
 */
function parseContact(input: unknown): string | Invalid {
  if (typeof input !== 'string' || input.trim() === '') {
    return new Invalid(expectedMessage('an email address or a contact id', input))
  }
  return input.includes('@') ? parseEmail(input) : input.trim()
}

function parseFlag(input: unknown): boolean | Invalid {
  if (input === undefined || input === null || input === false || input === 'false') return false
  if (input === true || input === 'true') return true
  return new Invalid(expectedMessage('true or false', input))
}

const genericRecord = z.object({
  event_id: optionalId(),
  contact: fieldSchema(parseContact),
  time: isoOrEpochMs(),
  campaign_id: optionalId(),
  message_id: optionalId(),
  url: optionalText(),
  user_agent: optionalText(),
  ip: optionalText(),
  machine_open: fieldSchema(parseFlag),
  bounce_kind: z.enum(['hard', 'soft', ''], expecting('hard or soft')).optional(),
})

const genericClick = genericRecord.extend({ url: requiredText('a URL') })

/** Adds one generic record, given as a parsed JSON object or a CSV row's column values. */
function addRecord(collector: ResultCollector, record: unknown, base: string, raw: RawText): void {
  if (!isJsonObject(record)) {
    collector.reject(base, expectedMessage('an event object', record), raw)
    return
  }
  const type = lookupEventType(collector, EVENT_NAMES, record.type, { base, field: 'type', raw })
  if (type === undefined) return

  const schema = type === 'click' ? genericClick : genericRecord
  const data = collector.parseRecord(schema, record, base, raw)
  if (data === undefined) return
  collector.addEvent({
    eventId: data.event_id,
    contactKey: data.contact,
    campaignId: data.campaign_id,
    messageId: data.message_id,
    type,
    occurredAtMs: data.time,
    url: data.url,
    userAgent: data.user_agent,
    ip: data.ip,
    machineOpen: data.machine_open,
    bounceKind: data.bounce_kind ?? '',
  })
}

function stripBom(body: string): string {
  return body.startsWith('\uFEFF') ? body.slice(1) : body
}

/** Adds one JSONL line. Returns the JSON error message when the line is not valid JSON. */
function addJsonLine(collector: ResultCollector, text: string, index: number): string | undefined {
  let record: unknown
  try {
    record = JSON.parse(text)
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error)
    collector.reject(`[${index}]`, `line is not valid JSON: ${detail}`, text)
    return detail
  }
  addRecord(collector, record, `[${index}]`, text)
  return undefined
}

/**
 * Parses a JSONL body. Paths count lines from 0, blank lines included, so `[4]` is line 5.
 * Throws `PayloadParseError` when no line of a non-blank body is valid JSON.
 */
export function parseJsonl(body: string): AdapterResult {
  const collector = new ResultCollector('jsonl')
  let firstError: string | undefined
  let parsedLines = 0
  stripBom(body)
    .split('\n')
    .forEach((line, index) => {
      const text = line.endsWith('\r') ? line.slice(0, -1) : line
      if (text.trim() === '') return
      const error = addJsonLine(collector, text, index)
      if (error === undefined) parsedLines += 1
      else firstError ??= `line ${index + 1}: ${error}`
    })
  if (parsedLines === 0 && firstError !== undefined) {
    const message = `JSONL body has no line that is valid JSON (${firstError})`
    throw new PayloadParseError('jsonl', message)
  }
  return collector.result()
}

function csvError(message: string): PayloadParseError {
  return new PayloadParseError('csv', message)
}

/** Validates the header row and returns its column names. */
function readHeader(header: CsvRecord | undefined): string[] {
  if (header === undefined) throw csvError('CSV body is empty, expected a header row')
  if (header.error !== undefined) throw csvError(`CSV header row is invalid: ${header.error}`)
  const columns = header.fields.map((name) => name.trim())
  const known: ReadonlyArray<string> = GENERIC_FIELDS
  const unknown = columns.filter((name) => !known.includes(name))
  if (unknown.length > 0) {
    const list = unknown.map((name) => JSON.stringify(name)).join(', ')
    const expected = GENERIC_FIELDS.join(', ')
    throw csvError(`CSV header has unknown columns ${list}, expected only ${expected}`)
  }
  const repeated = columns.filter((name, index) => columns.indexOf(name) !== index)
  if (repeated.length > 0) throw csvError(`CSV header repeats columns ${repeated.join(', ')}`)
  const missing = REQUIRED_FIELDS.filter((name) => !columns.includes(name))
  if (missing.length > 0) throw csvError(`CSV header lacks required columns ${missing.join(', ')}`)
  return columns
}

/** Returns a row's values by column name, leaving empty cells out so they count as missing. */
function rowObject(columns: string[], fields: string[]): Record<string, string> {
  const row: Record<string, string> = {}
  columns.forEach((name, index) => {
    const value = fields[index]
    if (value !== undefined && value !== '') row[name] = value
  })
  return row
}

/**
 * Parses a CSV body. Paths count data records from 0 (the header is not counted), and a
 * record's raw text includes any line breaks inside its quoted fields.
 * Throws `PayloadParseError` when the header row is missing or invalid.
 */
export function parseCsv(body: string): AdapterResult {
  const [header, ...rows] = readCsv(stripBom(body))
  const columns = readHeader(header)
  const collector = new ResultCollector('csv')
  rows.forEach((row, index) => {
    const base = `[${index}]`
    if (row.error !== undefined) {
      const reason = `record on line ${row.line} is malformed: ${row.error}`
      return collector.reject(base, reason, row.raw)
    }
    if (row.fields.length !== columns.length) {
      const counts = `expected ${columns.length} fields as in the header`
      const reason = `${counts}, received ${row.fields.length}`
      return collector.reject(base, reason, row.raw)
    }
    addRecord(collector, rowObject(columns, row.fields), base, row.raw)
  })
  return collector.result()
}
