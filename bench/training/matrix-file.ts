/**
 * Matrix files shared with the Python peer: `NAME.f64` contains the row-major values as
 * little-endian Float64, and `NAME.json` contains `{ "rows": R, "cols": C }`. Labels go to
 * `NAME.u8` (one byte each) or `NAME.i32` (little-endian Int32).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import type { Matrix } from '../../src/ml/matrix.ts'

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

function assertLittleEndian(): void {
  if (!littleEndian) throw new Error('matrix files are little-endian; this machine is big-endian')
}

const bytesOf = (view: ArrayBufferView) =>
  new Uint8Array(view.buffer, view.byteOffset, view.byteLength)

/** Writes `prefix.f64` and `prefix.json`. */
export function writeMatrix(prefix: string, m: Matrix): void {
  assertLittleEndian()
  writeFileSync(`${prefix}.f64`, bytesOf(m.data))
  writeFileSync(`${prefix}.json`, JSON.stringify({ rows: m.rows, cols: m.cols }))
}

/** Writes 0/1 labels to `prefix.u8`. */
export function writeLabels(prefix: string, labels: Uint8Array): void {
  writeFileSync(`${prefix}.u8`, labels)
}

/** Reads Int32 cluster labels that the peer wrote to `path`. */
export function readInt32(path: string): Int32Array {
  assertLittleEndian()
  const bytes = readFileSync(path)
  if (bytes.byteLength % 4 !== 0) {
    throw new Error(`${path} has ${bytes.byteLength} bytes, which is not a multiple of 4`)
  }
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  return new Int32Array(copy.buffer)
}
