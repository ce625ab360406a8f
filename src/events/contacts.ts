import type { ClickHouseClient } from '@clickhouse/client'
import { storeContacts, storeRejects, type ContactRecord } from '../store/events.ts'
import { readCsv } from './csv-reader.ts'
import { isoTimeToMs, MAX_TIME_MS, MIN_TIME_MS } from './fields.ts'
import { PayloadParseError, type IngestReject } from './types.ts'
import { isTimeZone } from '../time-zone.ts'

export const CONTACT_COLUMNS = ['contact_key', 'time_zone', 'created_at'] as const

export interface CsvObjects {
  columns: string[]
  records: { row: Record<string, string>; raw: string; error?: string }[]
}

/** Reads a CSV file with a header row into header-keyed rows; a malformed record is returned with `error` set. */
export function readCsvObjects(text: string): CsvObjects {
  const [header, ...records] = readCsv(text.replace(/^\uFEFF/, ''))
  if (!header || header.error) {
    throw new PayloadParseError('csv', 'CSV file has no valid header row')
  }
  const columns = header.fields.map((name) => name.trim())
  return {
    columns,
    records: records.map((record) => ({
      row: Object.fromEntries(columns.map((name, j) => [name, record.fields[j] ?? ''])),
      raw: record.raw,
      error:
        record.error ??
        (record.fields.length === columns.length
          ? undefined
          : `expected ${columns.length} fields as in the header, received ${record.fields.length}`),
    })),
  }
}

function checkContactColumns(columns: string[]): void {
  const missing = CONTACT_COLUMNS.filter((name) => !columns.includes(name))
  const unknown = columns.filter((name) => !(CONTACT_COLUMNS as readonly string[]).includes(name))
  if (missing.length === 0 && unknown.length === 0) return
  const problems = [
    missing.length > 0 ? `missing ${missing.join(', ')}` : '',
    unknown.length > 0 ? `unknown ${unknown.map((name) => JSON.stringify(name)).join(', ')}` : '',
  ].filter(Boolean)
  throw new PayloadParseError(
    'csv',
    `Contacts CSV header has ${problems.join(' and ')}; expected the columns ${CONTACT_COLUMNS.join(',')}`,
  )
}

/** Lists the time zones in ClickHouse's system.time_zones, the ones feature queries can use. */
async function engineZones(client: ClickHouseClient): Promise<Set<string>> {
  const result = await client.query({
    query: 'SELECT time_zone FROM system.time_zones',
    format: 'JSONEachRow',
  })
  return new Set((await result.json<{ time_zone: string }>()).map((row) => row.time_zone))
}

/** Addresses are lower-cased as the event adapters do; other ids keep their case. */
const normalizeKey = (key: string) => {
  const trimmed = key.trim()
  return trimmed.includes('@') ? trimmed.toLowerCase() : trimmed
}

function parseContact(
  row: Record<string, string>,
  zones: Set<string>,
): ContactRecord | { field: string; reason: string } {
  const contactKey = normalizeKey(row.contact_key ?? '')
  if (!contactKey) return { field: 'contact_key', reason: 'contact_key: missing' }
  const timeZone = (row.time_zone ?? '').trim()
  if (timeZone && (!isTimeZone(timeZone) || !zones.has(timeZone))) {
    return {
      field: 'time_zone',
      reason: `time_zone: expected an IANA time zone such as Europe/Warsaw, received ${JSON.stringify(timeZone)}`,
    }
  }
  const createdText = (row.created_at ?? '').trim()
  const createdAtMs = isoTimeToMs(createdText)
  if (!Number.isFinite(createdAtMs) || createdAtMs < MIN_TIME_MS || createdAtMs >= MAX_TIME_MS) {
    return {
      field: 'created_at',
      reason: `created_at: expected an ISO 8601 time with an offset from 2000 to 2099, received ${JSON.stringify(createdText)}`,
    }
  }
  return { contactKey, timeZone, createdAtMs }
}

/**
 * Stores contact records from CSV text with the columns `contact_key`,
 * `time_zone` (IANA name, may be empty) and `created_at` (ISO 8601). Invalid
 * rows go to `ingest_rejects` and are returned; the valid ones are stored.
 * Throws `PayloadParseError`, storing nothing, when the header is not exactly
 * those columns.
 */
export async function importContactsCsv(
  client: ClickHouseClient,
  text: string,
  source: string,
): Promise<{ stored: number; rejects: IngestReject[] }> {
  const contacts: ContactRecord[] = []
  const rejects: IngestReject[] = []
  const { columns, records } = readCsvObjects(text)
  checkContactColumns(columns)
  const zones = await engineZones(client)
  records.forEach(({ row, raw, error }, index) => {
    const parsed = error
      ? { field: '', reason: `malformed record: ${error}` }
      : parseContact(row, zones)
    if ('contactKey' in parsed) contacts.push(parsed)
    else
      rejects.push({
        provider: 'csv',
        path: `[${index}]${parsed.field ? `.${parsed.field}` : ''}`,
        reason: parsed.reason,
        raw,
      })
  })
  await storeContacts(client, contacts)
  await storeRejects(client, rejects, source)
  return { stored: contacts.length, rejects }
}
