import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readCsvObjects } from '../../src/events/contacts.ts'
import type { NormalizedEvent } from '../../src/events/types.ts'
import { computeFeatures } from '../../src/features/compute.ts'
import { exportFeatures, formatOfPath } from '../../src/features/export.ts'
import { queryRows, type Store } from '../../src/store/client.ts'
import { storeContacts, storeEvents } from '../../src/store/events.ts'
import { createEventFactory, openTempStore, type TempStore } from '../helpers/features.ts'

const AS_OF = Date.UTC(2025, 3, 1)

// Each event gets its own message, with the id's number: x1 is in m1.
const makeEvent = createEventFactory({ idPrefix: 'x', campaignId: 'spring' })

function event(
  contactKey: string,
  id: number,
  type: NormalizedEvent['type'],
  iso: string,
): NormalizedEvent {
  const created = makeEvent(contactKey, `m${id}`, type, iso)
  if (created.eventId !== `x${id}`) {
    throw new Error(`event ${id} was created as ${created.eventId}: create the events in id order`)
  }
  return created
}

let temp: TempStore
let dir: string
let store: Store

beforeAll(async () => {
  temp = await openTempStore('export')
  dir = temp.dir
  store = temp.store
  await storeContacts(store.client, [
    { contactKey: 'a@example.com', timeZone: 'Europe/Warsaw', createdAtMs: Date.UTC(2025, 0, 1) },
    { contactKey: 'b@example.com', timeZone: '', createdAtMs: Date.UTC(2025, 1, 1) },
  ])
  await storeEvents(store.client, [
    event('a@example.com', 1, 'delivered', '2025-03-09T06:30:05Z'),
    event('a@example.com', 2, 'open', '2025-03-09T22:30:00Z'),
    event('b@example.com', 3, 'delivered', '2025-03-20T06:30:05Z'),
  ])
})

afterAll(() => temp.close())

describe('exportFeatures', () => {
  it('picks the format from the extension', () => {
    expect(formatOfPath('out/features.parquet')).toBe('parquet')
    expect(formatOfPath('features.CSV')).toBe('csv')
    expect(formatOfPath('features.json')).toBeUndefined()
  })

  it('writes the matrix as CSV', async () => {
    const path = join(dir, 'features.csv')
    await exportFeatures(store.client, AS_OF, 'UTC', path, 'csv')
    const matrix = await computeFeatures(store.client, AS_OF, 'UTC')
    const rows = readCsvObjects(await readFile(path, 'utf8')).records

    expect(rows.map(({ row }) => row.contact_key)).toEqual(matrix.contactKeys)
    expect(rows.map(({ row }) => row.time_zone)).toEqual(['Europe/Warsaw', 'UTC'])
    rows.forEach(({ row }, i) => {
      const values = matrix.featureNames.map((name) => Number(row[name]))
      const expected = Array.from(
        matrix.matrix.data.subarray(i * matrix.matrix.cols, (i + 1) * matrix.matrix.cols),
      )
      expect(values).toEqual(expected)
    })
  })

  it('writes Parquet that reads back', async () => {
    const path = join(dir, 'features.parquet')
    await exportFeatures(store.client, AS_OF, 'UTC', path, 'parquet')
    const bytes = await readFile(path)
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('PAR1')

    const rows = await queryRows<{ contact_key: string; opens_90d: number; delivered_90d: number }>(
      store.client,
      `SELECT contact_key, opens_90d, delivered_90d FROM file({path:String}, 'Parquet') ORDER BY contact_key`,
      { path },
    )
    expect(rows).toEqual([
      { contact_key: 'a@example.com', opens_90d: 1, delivered_90d: 1 },
      { contact_key: 'b@example.com', opens_90d: 0, delivered_90d: 1 },
    ])
  })
})
