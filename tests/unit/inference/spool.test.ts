import { appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  insertedLine,
  markerLine,
  parseSegment,
  planReplay,
  Spool,
  spoolToken,
} from '../../../inference/spool.ts'

let dir: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spool-test-'))
})

afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const row = (n: number) => `{"n":${n}}\n`
const valid = () => undefined

describe('Spool', () => {
  it('opens a missing folder without creating it', async () => {
    const spool = new Spool({ dir: join(dir, 'missing'), maxBytes: 1000 })
    await spool.open()
    expect(spool.diskRows).toBe(0)
    expect(spool.bytes).toBe(0)
    expect(await readdir(dir)).toEqual([])
  })

  it('writes rows before appendRows returns', async () => {
    const spool = new Spool({ dir, maxBytes: 1_000_000 })
    const result = spool.appendRows([row(1), row(2)], 'memory')
    expect(result.written).toBe(2)
    expect(result.first).toBe(0)
    expect(result.text).toBe(row(1) + row(2))
    expect(result.sizes).toEqual([Buffer.byteLength(row(1)), Buffer.byteLength(row(2))])
    // Read back before any sync or close.
    const text = await readFile(join(dir, 'score-log-000000000001.jsonl'), 'utf8')
    expect(text).toBe(row(1) + row(2))
    expect(spool.appendRows([row(3)], 'memory').first).toBe(2)
    expect(spool.bytes).toBe(Buffer.byteLength(row(1)) * 3)
    await spool.close()
  })

  it('rejects rows past maxBytes', async () => {
    const size = Buffer.byteLength(row(1))
    const spool = new Spool({ dir, maxBytes: size * 3 - 1 })
    expect(spool.appendRows([row(1), row(2), row(3)], 'disk')).toMatchObject({
      written: 2,
      rejected: 1,
    })
    expect(spool.appendRows([row(4)], 'disk')).toMatchObject({ written: 0, rejected: 1 })
    expect(spool.bytes).toBe(size * 2)
    expect(spool.diskRows).toBe(2)
    await spool.close()
  })

  it('keeps a marker line under maxBytes', async () => {
    const spool = new Spool({ dir, maxBytes: Buffer.byteLength(row(1)) + 10 })
    const { segment } = spool.appendRows([row(1)], 'memory')
    expect(spool.appendMeta(segment!, markerLine('t', 0, 1))).toBe(false)
    expect(spool.bytes).toBe(Buffer.byteLength(row(1)))
    await spool.close()
  })

  it('starts a new segment past segmentBytes', async () => {
    const spool = new Spool({ dir, maxBytes: 1_000_000, segmentBytes: 1 })
    spool.appendRows([row(1)], 'disk')
    spool.appendRows([row(2)], 'disk')
    await spool.close()
    expect((await readdir(dir)).sort()).toEqual([
      'score-log-000000000001.jsonl',
      'score-log-000000000002.jsonl',
    ])
  })

  it('counts row lines of segments left by another instance', async () => {
    const first = new Spool({ dir, maxBytes: 1_000_000 })
    const { segment } = first.appendRows([row(1), row(2)], 'memory')
    first.appendMeta(segment!, markerLine('t', 0, 2))
    first.appendMeta(segment!, insertedLine('t'))
    await first.close()

    const second = new Spool({ dir, maxBytes: 1_000_000 })
    await second.open()
    expect(second.diskRows).toBe(2)
    expect(second.oldestOnDisk()?.file).toBe('score-log-000000000001.jsonl')
    // New rows go to a segment of their own after the old ones.
    second.appendRows([row(3)], 'memory')
    await second.close()
    expect((await readdir(dir)).sort().at(-1)).toBe('score-log-000000000002.jsonl')
  })

  it('writes to a new segment, not after a torn line', async () => {
    await appendFile(join(dir, 'score-log-000000000007.jsonl'), `${row(1)}{"n"`)
    const spool = new Spool({ dir, maxBytes: 1_000_000 })
    await spool.open()
    spool.appendRows([row(2)], 'memory')
    await spool.close()
    expect((await readdir(dir)).sort()).toEqual([
      'score-log-000000000007.jsonl',
      'score-log-000000000008.jsonl',
    ])
  })

  it('deletes a removed segment', async () => {
    const spool = new Spool({ dir, maxBytes: 1_000_000 })
    const { segment } = spool.appendRows([row(1)], 'memory')
    await spool.remove(segment!)
    // The lock file stays until close.
    expect(await readdir(dir)).toEqual(['spool.lock'])
    expect(spool.segmentCount).toBe(0)
    await spool.close()
    expect(await readdir(dir)).toEqual([])
  })
})

describe('parseSegment', () => {
  it('separates rows, markers and bad lines', () => {
    const text = [
      '{"n":1}',
      '{"insert":"t","first":0,"rows":1}',
      'not json',
      '{"inserted":"t"}',
      '{"insert":',
      '{"n":2}',
      '',
    ].join('\n')
    const parsed = parseSegment('s.jsonl', text)
    expect(parsed.rows.map((line) => line.line)).toEqual([1, 3, 6])
    expect(parsed.rows[1]?.row).toBeUndefined()
    expect(parsed.markers).toEqual([{ line: 2, token: 't', first: 0, rows: 1 }])
    expect([...parsed.inserted]).toEqual(['t'])
    expect(parsed.invalidLines.map((line) => line.line)).toEqual([3])
    expect(parsed.invalidMarkers.map((line) => line.line)).toEqual([5])
    expect(parsed.tornLine).toBeUndefined()
  })

  it('reports a torn row but not a torn marker', () => {
    expect(parseSegment('s.jsonl', '{"n":1}\n{"n"').tornLine).toEqual({
      line: 2,
      reason: 'no line feed',
    })
    expect(parseSegment('s.jsonl', '{"n":1}\n{"insert":"t"').tornLine).toBeUndefined()
  })

  it('reads lines of the earlier batch format', () => {
    const parsed = parseSegment('s.jsonl', '{"batch":"a","row":{"n":1}}\n')
    expect(parsed.rows).toEqual([{ line: 1, text: row(1), row: { n: 1 }, legacyBatch: 'a' }])
  })
})

describe('planReplay', () => {
  const file = 's.jsonl'

  it('reuses a marker token and skips inserted rows', () => {
    const inserted = spoolToken(file, 0, [row(0), row(1)])
    const pending = spoolToken(file, 2, [row(2)])
    const text = [
      row(0),
      row(1),
      markerLine(inserted, 0, 2),
      row(2),
      markerLine(pending, 2, 1),
      insertedLine(inserted),
      row(3),
      row(4),
      row(5),
    ].join('')
    const plan = planReplay(parseSegment(file, text), 2, valid)
    expect(plan.insertedRows).toBe(2)
    expect(plan.batches).toEqual([
      { token: pending, body: row(2), rows: 1 },
      { token: spoolToken(file, 3, [row(3), row(4)]), body: row(3) + row(4), rows: 2 },
      { token: spoolToken(file, 5, [row(5)]), body: row(5), rows: 1 },
    ])
  })

  it('makes the same batches on every read', () => {
    const text = [row(0), row(1), row(2)].join('')
    const first = planReplay(parseSegment(file, text), 2, valid)
    const second = planReplay(parseSegment(file, text), 2, valid)
    expect(second.batches).toEqual(first.batches)
  })

  it('hashes joined lines to the same token', () => {
    const lines = [row(3), row(4)]
    const body = Buffer.from(lines.join(''), 'utf8')

    expect(spoolToken(file, 3, [body])).toBe(spoolToken(file, 3, lines))
    expect(spoolToken(file, 4, [body])).not.toBe(spoolToken(file, 3, lines))
  })

  it('gives equal rows at other places other tokens', () => {
    const plan = planReplay(parseSegment(file, row(1) + row(1)), 1, valid)
    expect(plan.batches).toHaveLength(2)
    expect(plan.batches[0]?.token).not.toBe(plan.batches[1]?.token)
  })

  it('sends rows of a changed marker under a new token', () => {
    const token = spoolToken(file, 0, [row(0)])
    const text = [row(9), markerLine(token, 0, 1)].join('')
    const plan = planReplay(parseSegment(file, text), 10, valid)
    expect(plan.changedMarkers).toBe(1)
    expect(plan.batches).toEqual([{ token: spoolToken(file, 0, [row(9)]), body: row(9), rows: 1 }])
  })

  it('leaves out rows that fail the check', () => {
    const plan = planReplay(parseSegment(file, row(1) + row(2)), 10, (fields) =>
      fields.n === 1 ? 'n: too small' : undefined,
    )
    expect(plan.invalidRows).toBe(1)
    expect(plan.firstRowProblem).toBe('n: too small')
    expect(plan.batches).toEqual([{ token: spoolToken(file, 0, [row(2)]), body: row(2), rows: 1 }])
  })

  it('keeps the batch id of earlier-format lines as the token', () => {
    const text = [
      '{"batch":"a","row":{"n":1}}',
      'not json',
      '{"batch":"a","row":{"n":2}}',
      '{"batch":"b","row":{"n":3}}',
      '',
    ].join('\n')
    const plan = planReplay(parseSegment(file, text), 10, valid)
    expect(plan.batches).toEqual([
      { token: 'a', body: row(1) + row(2), rows: 2 },
      { token: 'b', body: row(3), rows: 1 },
    ])
  })
})
