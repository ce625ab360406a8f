import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../../../inference/errors.ts'

const API_DOC = readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8')

/** Rows of the error table in docs/api.md: `| \`CODE\` | status | when | example |`. */
function documentedCodes(): Map<string, { status: number; cells: string[] }> {
  const rows = new Map<string, { status: number; cells: string[] }>()
  for (const line of API_DOC.split('\n')) {
    const match = /^\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|(.*)\|\s*$/.exec(line)
    if (!match) continue
    const cells = (match[3] as string).split('|').map((cell) => cell.trim())
    rows.set(match[1] as string, { status: Number(match[2]), cells })
  }
  return rows
}

describe('error catalogue docs', () => {
  const rows = documentedCodes()

  it('lists every code with its status', () => {
    for (const [code, status] of Object.entries(ERROR_CODES)) {
      expect(rows.get(code)?.status, code).toBe(status)
    }
  })

  it('gives each code a cause and a message', () => {
    for (const code of Object.keys(ERROR_CODES)) {
      const cells = rows.get(code)?.cells ?? []
      expect(cells, code).toHaveLength(2)
      expect(cells[0], `${code} when`).not.toBe('')
      expect(cells[1], `${code} example`).not.toBe('')
    }
  })

  it('lists no unknown code', () => {
    for (const code of rows.keys()) expect(Object.keys(ERROR_CODES), code).toContain(code)
  })
})
