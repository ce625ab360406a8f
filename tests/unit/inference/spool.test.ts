import { appendFile, mkdtemp, readdir, readFile, rm, truncate } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { parseSegment, Spool } from '../../../inference/spool.ts'

let dir: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spool-test-'))
})

afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Bytes of the line the spool writes for one row. */
const lineBytes = (batch: string, row: object) =>
  Buffer.byteLength(`${JSON.stringify({ batch, row })}\n`)

describe('Spool', () => {
  it('opens a missing folder without creating it', async () => {
    const spool = new Spool({ dir: join(dir, 'missing'), maxBytes: 1000 })
    await spool.open()
    expect(spool.rows).toBe(0)
    expect(spool.bytes).toBe(0)
    expect(await readdir(dir)).toEqual([])
  })

  it('reads batches back in append order', async () => {
    const spool = new Spool({ dir, maxBytes: 1_000_000 })
    await spool.open()
    await spool.append({ id: 'a', rows: [{ n: 1 }, { n: 2 }] })
    await spool.append({ id: 'b', rows: [{ n: 3 }] })

    expect(spool.rows).toBe(3)
    expect(spool.bytes).toBe(lineBytes('a', { n: 1 }) * 2 + lineBytes('b', { n: 3 }))
    const segment = await spool.readOldest()
    expect(segment?.batches).toEqual([
      { id: 'a', rows: [{ n: 1 }, { n: 2 }] },
      { id: 'b', rows: [{ n: 3 }] },
    ])
    expect(segment?.tornLine).toBeUndefined()
    expect(segment?.invalidLines).toEqual([])
    await spool.close()
  })

  it('skips a segment another process deleted', async () => {
    const spool = new Spool({ dir, maxBytes: 1_000_000, segmentBytes: 1 })
    await spool.open()
    await spool.append({ id: 'a', rows: [{ n: 1 }] })
    await spool.append({ id: 'b', rows: [{ n: 2 }] })
    await spool.close()
    await rm(join(dir, 'score-log-000000000001.jsonl'))

    const segment = await spool.readOldest()
    expect(segment?.file).toBe('score-log-000000000002.jsonl')
    expect(segment?.batches).toEqual([{ id: 'b', rows: [{ n: 2 }] }])
    expect(spool.segmentCount).toBe(1)
    expect(spool.rows).toBe(1)
  })

  it('starts a new segment past segmentBytes', async () => {
    const spool = new Spool({ dir, maxBytes: 1_000_000, segmentBytes: 1 })
    await spool.open()
    await spool.append({ id: 'a', rows: [{ n: 1 }] })
    await spool.append({ id: 'b', rows: [{ n: 2 }] })
    await spool.close()

    expect((await readdir(dir)).sort()).toEqual([
      'score-log-000000000001.jsonl',
      'score-log-000000000002.jsonl',
    ])
    expect(spool.segmentCount).toBe(2)
    const first = await spool.readOldest()
    expect(first?.batches).toEqual([{ id: 'a', rows: [{ n: 1 }] }])
    await spool.remove(first?.file as string)
    const second = await spool.readOldest()
    expect(second?.batches).toEqual([{ id: 'b', rows: [{ n: 2 }] }])
    await spool.remove(second?.file as string)
    expect(await spool.readOldest()).toBeUndefined()
    expect(await readdir(dir)).toEqual([])
  })

  it('rejects rows past maxBytes', async () => {
    const row = { text: 'x'.repeat(50) }
    const size = lineBytes('a', row)
    const spool = new Spool({ dir, maxBytes: size * 2 + size - 1 })
    await spool.open()

    expect(await spool.append({ id: 'a', rows: [row, row, row] })).toEqual({
      written: 2,
      rejected: 1,
    })
    expect(await spool.append({ id: 'a', rows: [row] })).toEqual({ written: 0, rejected: 1 })
    expect(spool.bytes).toBe(size * 2)
    expect(spool.rows).toBe(2)
    await spool.close()
  })

  it('takes nothing with maxBytes 0', async () => {
    const spool = new Spool({ dir: join(dir, 'none'), maxBytes: 0 })
    await spool.open()
    expect(await spool.append({ id: 'a', rows: [{ n: 1 }] })).toEqual({ written: 0, rejected: 1 })
    expect(await readdir(dir)).toEqual([])
  })

  it('counts the rows of segments left by another instance', async () => {
    const first = new Spool({ dir, maxBytes: 1_000_000, segmentBytes: 1 })
    await first.open()
    await first.append({ id: 'a', rows: [{ n: 1 }, { n: 2 }] })
    await first.append({ id: 'b', rows: [{ n: 3 }] })
    await first.close()

    const second = new Spool({ dir, maxBytes: 1_000_000 })
    await second.open()
    expect(second.rows).toBe(3)
    expect(second.segmentCount).toBe(2)
    expect(second.bytes).toBe(first.bytes)
    // New rows go to a segment of its own after the old ones.
    await second.append({ id: 'c', rows: [{ n: 4 }] })
    await second.close()
    expect((await readdir(dir)).sort().at(-1)).toBe('score-log-000000000003.jsonl')
  })

  it('sets aside a torn last line', async () => {
    const spool = new Spool({ dir, maxBytes: 1_000_000 })
    await spool.open()
    await spool.append({ id: 'a', rows: [{ n: 1 }, { n: 2 }] })
    await spool.close()
    const file = join(dir, 'score-log-000000000001.jsonl')
    const size = (await readFile(file)).length
    await truncate(file, size - 5)

    const reopened = new Spool({ dir, maxBytes: 1_000_000 })
    await reopened.open()
    expect(reopened.rows).toBe(1)
    const segment = await reopened.readOldest()
    expect(segment?.batches).toEqual([{ id: 'a', rows: [{ n: 1 }] }])
    expect(segment?.tornLine).toEqual({ line: 2, reason: 'no line feed' })
  })

  it('keeps working after an unserializable row', async () => {
    const spool = new Spool({ dir, maxBytes: 1_000_000 })
    await spool.open()
    // A row that JSON.stringify rejects fails the append before anything is written.
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    await expect(spool.append({ id: 'a', rows: [cyclic] })).rejects.toThrow(TypeError)
    expect(spool.rows).toBe(0)
    await spool.append({ id: 'b', rows: [{ n: 1 }] })
    expect(spool.rows).toBe(1)
    await spool.close()
  })
})

describe('parseSegment', () => {
  it('lists invalid lines by number and reason', () => {
    const text = [
      '{"batch":"a","row":{"n":1}}',
      'not json',
      '{"batch":"","row":{}}',
      '{"batch":"a","row":[1]}',
      '{"batch":"a","row":{"n":2}}',
      '',
    ].join('\n')
    const segment = parseSegment('s.jsonl', text)
    // Only invalid lines lie between lines 1 and 5, so their rows stay one batch.
    expect(segment.batches).toEqual([{ id: 'a', rows: [{ n: 1 }, { n: 2 }] }])
    expect(segment.invalidLines.map((line) => line.line)).toEqual([2, 3, 4])
    expect(segment.invalidLines[0]?.reason).toMatch(/^invalid JSON/)
    expect(segment.invalidLines[1]?.reason).toBe('"batch" must be a non-empty string')
    expect(segment.invalidLines[2]?.reason).toBe('"row" must be an object')
    expect(segment.tornLine).toBeUndefined()
  })

  it('returns nothing for an empty file', () => {
    expect(parseSegment('s.jsonl', '')).toEqual({
      file: 's.jsonl',
      batches: [],
      tornLine: undefined,
      invalidLines: [],
    })
  })

  it('treats an unterminated valid line as torn', () => {
    const segment = parseSegment('s.jsonl', '{"batch":"a","row":{"n":1}}\n{"batch":"a","row":{}}')
    expect(segment.batches).toEqual([{ id: 'a', rows: [{ n: 1 }] }])
    expect(segment.tornLine).toEqual({ line: 2, reason: 'no line feed' })
  })
})

describe('Spool appends after a torn line', () => {
  it('writes to a new segment, not after the torn line', async () => {
    await appendFile(join(dir, 'score-log-000000000007.jsonl'), '{"batch":"a","row":{"n":1}}\n{"ba')
    const spool = new Spool({ dir, maxBytes: 1_000_000 })
    await spool.open()
    await spool.append({ id: 'b', rows: [{ n: 2 }] })
    await spool.close()
    expect((await readdir(dir)).sort()).toEqual([
      'score-log-000000000007.jsonl',
      'score-log-000000000008.jsonl',
    ])
  })
})
