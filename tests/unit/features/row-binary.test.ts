import { describe, expect, it } from 'vitest'
import { RowBinaryFeatureReader } from '../../../src/features/row-binary.ts'

function encodeString(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  const length: number[] = []
  let rest = bytes.length
  do {
    const low = rest & 0x7f
    rest = Math.floor(rest / 128)
    length.push(rest > 0 ? low | 0x80 : low)
  } while (rest > 0)
  return Buffer.concat([Buffer.from(length), bytes])
}

function encodeRow(key: string, zone: string, values: number[]): Buffer {
  const floats = Buffer.alloc(values.length * 8)
  values.forEach((value, j) => floats.writeDoubleLE(value, j * 8))
  return Buffer.concat([encodeString(key), encodeString(zone), floats])
}

function readAll(chunks: Buffer[], floats: number) {
  const rows: { key: string; zone: string; values: number[] }[] = []
  const reader = new RowBinaryFeatureReader(floats, {
    row: (key, zone, values) => rows.push({ key, zone, values: Array.from(values) }),
  })
  for (const chunk of chunks) reader.push(chunk)
  reader.finish()
  return rows
}

describe('RowBinaryFeatureReader', () => {
  const longKey = `${'k'.repeat(200)}@example.com`
  const stream = Buffer.concat([
    encodeRow('a@example.com', 'Europe/Warsaw', [1, 0.25, -3.5]),
    encodeRow(longKey, 'Asia/Kolkata', [0, Number.MAX_VALUE, 1e-300]),
  ])
  const expected = [
    { key: 'a@example.com', zone: 'Europe/Warsaw', values: [1, 0.25, -3.5] },
    { key: longKey, zone: 'Asia/Kolkata', values: [0, Number.MAX_VALUE, 1e-300] },
  ]

  it('reads rows from one chunk', () => {
    expect(readAll([stream], 3)).toEqual(expected)
  })

  it('reads rows split byte by byte', () => {
    const bytes = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1))
    expect(readAll(bytes, 3)).toEqual(expected)
  })

  it('rejects a stream cut inside a row', () => {
    expect(() => readAll([stream.subarray(0, stream.length - 4)], 3)).toThrow(
      'RowBinary feature stream ended inside a row',
    )
  })
})
