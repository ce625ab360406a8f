/**
 * An RFC 4180 CSV reader: comma separators, CRLF or LF line ends, fields in double quotes that
 * may contain commas, line breaks and doubled quotes (`""`). A malformed record is returned
 * with an error, and reading resumes on the next line.
 */

/** One CSV record as read, with the text it came from. */
export interface CsvRecord {
  fields: string[]
  /** The record's text without its line end. */
  raw: string
  /** Line number (from 1) where the record starts. */
  line: number
  /** The reason the record is malformed, or undefined for a well-formed record. */
  error?: string
}

interface RecordEnd {
  fields: string[]
  /** Index just past the record's line end. */
  next: number
  /** Index of the record's line end (or the end of the text). */
  end: number
  error?: string
}

/** Returns the index of the line end at or after `from` (a LF, or the CRLF's CR). */
function lineEnd(text: string, from: number): number {
  const newline = text.indexOf('\n', from)
  if (newline === -1) return text.length
  return newline > from && text[newline - 1] === '\r' ? newline - 1 : newline
}

/** Returns the index past the line end that starts at `end`. */
function pastLineEnd(text: string, end: number): number {
  if (text[end] === '\r') return end + 2
  return end < text.length ? end + 1 : end
}

function isLineEnd(text: string, index: number): boolean {
  return text[index] === '\n' || (text[index] === '\r' && text[index + 1] === '\n')
}

function failAt(text: string, fields: string[], from: number, error: string): RecordEnd {
  const end = lineEnd(text, from)
  return { fields, end, next: pastLineEnd(text, end), error }
}

/** Reads a quoted field whose opening quote is at `start`. Returns its value and end index. */
function readQuoted(text: string, start: number): { value: string; after: number } | undefined {
  let value = ''
  let index = start + 1
  while (index < text.length) {
    const quote = text.indexOf('"', index)
    if (quote === -1) break
    value += text.slice(index, quote)
    if (text[quote + 1] !== '"') return { value, after: quote + 1 }
    value += '"'
    index = quote + 2
  }
  return undefined
}

function readRecord(text: string, start: number): RecordEnd {
  const fields: string[] = []
  let index = start
  for (;;) {
    let after: number
    if (text[index] === '"') {
      const quoted = readQuoted(text, index)
      if (quoted === undefined) {
        return { fields, end: text.length, next: text.length, error: 'unterminated quoted field' }
      }
      fields.push(quoted.value)
      after = quoted.after
      if (after < text.length && text[after] !== ',' && !isLineEnd(text, after)) {
        return failAt(text, fields, after, 'unexpected character after a closing quote')
      }
    } else {
      after = index
      while (after < text.length && text[after] !== ',' && !isLineEnd(text, after)) after += 1
      const value = text.slice(index, after)
      if (value.includes('"')) {
        return failAt(text, fields, index, 'quote character inside an unquoted field')
      }
      fields.push(value)
    }
    if (text[after] !== ',') return { fields, end: after, next: pastLineEnd(text, after) }
    index = after + 1
  }
}

function countLines(text: string, from: number, to: number): number {
  let count = 0
  for (let index = text.indexOf('\n', from); index !== -1 && index < to;) {
    count += 1
    index = text.indexOf('\n', index + 1)
  }
  return count
}

/** Reads every record of `text`. Blank lines are skipped. */
export function readCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = []
  let index = 0
  let line = 1
  while (index < text.length) {
    const record = readRecord(text, index)
    const raw = text.slice(index, record.end)
    if (raw !== '') records.push({ fields: record.fields, raw, line, error: record.error })
    line += countLines(text, index, record.next)
    index = record.next
  }
  return records
}
