import { createWriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import type { ClickHouseClient } from '@clickhouse/client'
import { zonesForQuery } from './compute.ts'
import { buildFeatureQuery } from './sql.ts'

export const EXPORT_FORMATS = { parquet: 'Parquet', csv: 'CSVWithNames' } as const
export type ExportFormat = keyof typeof EXPORT_FORMATS

/** Picks the export format from a file name's extension. */
export function formatOfPath(path: string): ExportFormat | undefined {
  const extension = path.toLowerCase().split('.').pop()
  return extension === 'parquet' || extension === 'csv' ? extension : undefined
}

/**
 * Writes the feature matrix as of `asOfMs` to `path`, with ClickHouse
 * encoding the Parquet or CSV itself: the first columns are `contact_key`
 * and `time_zone`, then every feature in catalogue order. The file appears
 * complete or not at all.
 */
export async function exportFeatures(
  client: ClickHouseClient,
  asOfMs: number,
  defaultZone: string,
  path: string,
  format: ExportFormat,
): Promise<void> {
  const zones = await zonesForQuery(client, defaultZone)
  const query = `${buildFeatureQuery({ zones, defaultZone })}\nFORMAT ${EXPORT_FORMATS[format]}`
  const result = await client.exec({
    query,
    query_params: { from: 0, to: Math.round(asOfMs), keys: [] },
  })
  const temporary = `${path}.tmp-${process.pid}`
  try {
    await pipeline(result.stream, createWriteStream(temporary))
    await rename(temporary, path)
  } catch (error) {
    await rm(temporary, { force: true })
    throw error
  }
}
