/** The CSV files of a run: the CRM contact list and the ground truth of personas and churn. */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Contact } from './contacts.ts'

export const CONTACTS_FILE = 'contacts.csv'
export const TRUTH_FILE = 'truth.csv'
export const CONTACTS_HEADER = 'contact_key,time_zone,created_at'
export const TRUTH_HEADER = 'contact_key,persona,churned,churn_day'

/** Quotes a field when it contains a comma, a quote or a line break (RFC 4180). */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value
}

function writeCsv(path: string, header: string, rows: string[][]): Promise<void> {
  const lines = rows.map((row) => row.map(csvField).join(','))
  return writeFile(path, `${header}\n${lines.map((line) => `${line}\n`).join('')}`)
}

export function writeContactsCsv(outDir: string, contacts: readonly Contact[]): Promise<void> {
  const rows = contacts.map((contact) => [
    contact.key,
    contact.timeZone,
    new Date(contact.createdAtMs).toISOString(),
  ])
  return writeCsv(join(outDir, CONTACTS_FILE), CONTACTS_HEADER, rows)
}

/**
 * Writes truth.csv. `engagedAfterCutoff[i]` is 1 when contact i has a human open or click after
 * the cutoff, so `churned` is its complement.
 */
export function writeTruthCsv(
  outDir: string,
  contacts: readonly Contact[],
  engagedAfterCutoff: Uint8Array,
): Promise<void> {
  const rows = contacts.map((contact) => [
    contact.key,
    contact.persona,
    engagedAfterCutoff[contact.index] === 1 ? '0' : '1',
    contact.churnDay === null ? '' : String(contact.churnDay),
  ])
  return writeCsv(join(outDir, TRUTH_FILE), TRUTH_HEADER, rows)
}
