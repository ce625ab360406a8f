import type { ClickHouseClient } from '@clickhouse/client'
import { createMatrix, type Matrix } from '../ml/matrix.ts'
import { FEATURE_NAMES } from './catalogue.ts'
import { RowBinaryFeatureReader } from './row-binary.ts'
import { buildFeatureQuery } from './sql.ts'

/** Features of many contacts: row i of `matrix` belongs to `contactKeys[i]`. */
export interface FeatureMatrix {
  asOfMs: number
  featureNames: string[]
  contactKeys: string[]
  timeZones: string[]
  matrix: Matrix
}

/**
 * Lists the distinct time zones of stored contacts that ClickHouse has in system.time_zones;
 * contacts with any other zone get the default zone in feature queries.
 */
export async function listTimeZones(client: ClickHouseClient): Promise<string[]> {
  const result = await client.query({
    query: `SELECT DISTINCT time_zone FROM contacts
            WHERE time_zone IN (SELECT time_zone FROM system.time_zones)
            ORDER BY time_zone`,
    format: 'JSONEachRow',
  })
  return (await result.json<{ time_zone: string }>()).map((row) => row.time_zone)
}

/** Raised when the configured default zone is one ClickHouse does not know. */
export class UnknownZoneError extends RangeError {
  constructor(zone: string) {
    super(
      `SEGMENTS_DEFAULT_TIME_ZONE: ClickHouse does not know the time zone ${JSON.stringify(zone)}; ` +
        'use a name from its system.time_zones table, such as Europe/Warsaw',
    )
    this.name = 'UnknownZoneError'
  }
}

/** Lists the zones for a feature query, checking that ClickHouse has the default zone. */
export async function zonesForQuery(
  client: ClickHouseClient,
  defaultZone: string,
): Promise<string[]> {
  const result = await client.query({
    query: 'SELECT count() AS known FROM system.time_zones WHERE time_zone = {zone:String}',
    query_params: { zone: defaultZone },
    format: 'JSONEachRow',
  })
  const [row] = await result.json<{ known: number }>()
  if (!row || row.known === 0) throw new UnknownZoneError(defaultZone)
  return listTimeZones(client)
}

/** A Float64Array that doubles its capacity as rows are appended. */
class GrowingRows {
  private data = new Float64Array(0)
  rows = 0

  constructor(readonly cols: number) {}

  push(values: ArrayLike<number>, offset: number): void {
    const needed = (this.rows + 1) * this.cols
    if (needed > this.data.length) {
      const bigger = new Float64Array(Math.max(needed, this.data.length * 2, 1024 * this.cols))
      bigger.set(this.data)
      this.data = bigger
    }
    const base = this.rows * this.cols
    for (let j = 0; j < this.cols; j++) this.data[base + j] = Number(values[offset + j])
    this.rows += 1
  }

  toMatrix(): Matrix {
    const matrix = createMatrix(this.rows, this.cols)
    matrix.data.set(this.data.subarray(0, this.rows * this.cols))
    return matrix
  }
}

/**
 * Computes the feature matrix as of `asOfMs` (exclusive) in ClickHouse and
 * streams the rows into typed arrays, for every contact or only for
 * `onlyKeys`. Contacts without a time zone use `defaultZone`.
 */
export async function computeFeatures(
  client: ClickHouseClient,
  asOfMs: number,
  defaultZone: string,
  onlyKeys?: string[],
): Promise<FeatureMatrix> {
  const zones = await zonesForQuery(client, defaultZone)
  const filterKeys = onlyKeys !== undefined
  const columns = FEATURE_NAMES.map((name) => `toFloat64(\`${name}\`)`).join(', ')
  const result = await client.exec({
    query: `SELECT contact_key, time_zone, ${columns}
            FROM (${buildFeatureQuery({ zones, defaultZone, filterKeys })})
            ORDER BY contact_key
            FORMAT RowBinary`,
    query_params: { from: 0, to: Math.round(asOfMs), keys: onlyKeys ?? [] },
  })

  const contactKeys: string[] = []
  const timeZones: string[] = []
  const rows = new GrowingRows(FEATURE_NAMES.length)
  const reader = new RowBinaryFeatureReader(FEATURE_NAMES.length, {
    row(key, zone, values) {
      contactKeys.push(key)
      timeZones.push(zone)
      rows.push(values, 0)
    },
  })
  for await (const chunk of result.stream) reader.push(chunk as Buffer)
  reader.finish()
  return {
    asOfMs,
    featureNames: [...FEATURE_NAMES],
    contactKeys,
    timeZones,
    matrix: rows.toMatrix(),
  }
}

/**
 * Copies the columns called `names` of a matrix whose columns are called
 * `columnNames`, in the order given. Throws a RangeError for a name not there.
 */
export function selectColumns(matrix: Matrix, columnNames: string[], names: string[]): Matrix {
  const indices = names.map((name) => {
    const index = columnNames.indexOf(name)
    if (index < 0) throw new RangeError(`Unknown feature ${JSON.stringify(name)}`)
    return index
  })
  const { rows, cols, data } = matrix
  const out = createMatrix(rows, indices.length)
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < indices.length; j++) {
      out.data[i * indices.length + j] = data[i * cols + (indices[j] as number)] as number
    }
  }
  return out
}

/** Copies the named columns of a feature matrix, in the order given. */
export function selectFeatures(features: FeatureMatrix, names: string[]): Matrix {
  return selectColumns(features.matrix, features.featureNames, names)
}
