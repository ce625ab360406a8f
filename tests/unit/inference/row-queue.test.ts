import { describe, expect, it } from 'vitest'
import { RowQueue } from '../../../inference/row-queue.ts'
import { createRng } from '../../../src/ml/random.ts'

interface Segment {
  name: string
}

const line = (n: number, width = 0) => `{"n":${n}${' '.repeat(width)}}\n`

function pushLines(
  queue: RowQueue<Segment>,
  segment: Segment | undefined,
  first: number,
  lines: string[],
) {
  queue.push(
    segment,
    first,
    lines.join(''),
    lines.map((text) => Buffer.byteLength(text)),
  )
}

describe('RowQueue', () => {
  it('takes rows in order with their ordinals', () => {
    const queue = new RowQueue<Segment>()
    const a = { name: 'a' }
    pushLines(queue, a, 0, [line(0), line(1)])
    pushLines(queue, a, 2, [line(2)])
    expect(queue.length).toBe(3)

    const first = queue.take(2)
    expect(first?.segment).toBe(a)
    expect(first?.first).toBe(0)
    expect(first?.rows).toBe(2)
    expect(first?.body.toString('utf8')).toBe(line(0) + line(1))
    expect(queue.length).toBe(1)

    const second = queue.take(10)
    expect(second?.first).toBe(2)
    expect(second?.rows).toBe(1)
    expect(second?.body.toString('utf8')).toBe(line(2))
    expect(queue.length).toBe(0)
    expect(queue.take(10)).toBeUndefined()
  })

  it('stops a take at another segment', () => {
    const queue = new RowQueue<Segment>()
    const a = { name: 'a' }
    const b = { name: 'b' }
    pushLines(queue, a, 5, [line(5)])
    pushLines(queue, b, 0, [line(0), line(1)])
    const first = queue.take(10)
    expect(first?.segment).toBe(a)
    expect(first?.rows).toBe(1)
    const second = queue.take(10)
    expect(second?.segment).toBe(b)
    expect(second?.rows).toBe(2)
  })

  it('stops a take at a gap in the ordinals', () => {
    const queue = new RowQueue<Segment>()
    const a = { name: 'a' }
    pushLines(queue, a, 0, [line(0)])
    pushLines(queue, a, 3, [line(3)])
    expect(queue.take(10)?.rows).toBe(1)
    const after = queue.take(10)
    expect(after?.first).toBe(3)
    expect(after?.body.toString('utf8')).toBe(line(3))
  })

  it('joins unnumbered rows in one take', () => {
    const queue = new RowQueue<Segment>()
    pushLines(queue, undefined, 0, [line(0)])
    pushLines(queue, undefined, 0, [line(1), line(2)])
    const batch = queue.take(10)
    expect(batch?.segment).toBeUndefined()
    expect(batch?.rows).toBe(3)
    expect(batch?.body.toString('utf8')).toBe(line(0) + line(1) + line(2))
  })

  it('stops a take at the end of a full chunk', () => {
    const queue = new RowQueue<Segment>()
    const a = { name: 'a' }
    // Each push is 3 MiB, so the second does not fit the first chunk's 4 MiB.
    const big = (n: number) => line(n, 3 * 1024 * 1024)
    pushLines(queue, a, 0, [big(0)])
    pushLines(queue, a, 1, [big(1)])
    const first = queue.take(10)
    expect(first?.rows).toBe(1)
    expect(first?.body.toString('utf8')).toBe(big(0))
    const second = queue.take(10)
    expect(second?.first).toBe(1)
    expect(second?.body.toString('utf8')).toBe(big(1))
  })

  it('takes a push larger than a chunk whole', () => {
    const queue = new RowQueue<Segment>()
    const huge = Array.from({ length: 3 }, (_, i) => line(i, 2 * 1024 * 1024))
    pushLines(queue, undefined, 0, huge)
    const batch = queue.take(10)
    expect(batch?.rows).toBe(3)
    expect(batch?.body.toString('utf8')).toBe(huge.join(''))
  })

  it('counts multi-byte characters by their UTF-8 size', () => {
    const queue = new RowQueue<Segment>()
    const lines = ['{"name":"Łódź 東京"}\n', '{"name":"ü"}\n']
    pushLines(queue, undefined, 0, lines)
    expect(queue.take(1)?.body.toString('utf8')).toBe(lines[0])
    expect(queue.take(1)?.body.toString('utf8')).toBe(lines[1])
  })

  it('keeps a lent body intact until it is released', () => {
    const queue = new RowQueue<Segment>()
    const a = { name: 'a' }
    pushLines(queue, a, 0, [line(0, 100)])
    const lent = queue.take(1)
    // The chunk is empty now, but its buffer is lent, so new rows go to another buffer.
    for (let n = 1; n <= 2000; n++) pushLines(queue, a, n, [line(n, 1000)])
    expect(lent?.body.toString('utf8')).toBe(line(0, 100))
    const rest = queue.take(5000)
    expect(rest?.rows).toBe(2000)
    expect(rest?.body.buffer).not.toBe(lent?.body.buffer)
    expect(rest?.body.toString('utf8')).toBe(
      Array.from({ length: 2000 }, (_, i) => line(i + 1, 1000)).join(''),
    )
  })

  it('reuses a buffer once its rows are released', () => {
    const queue = new RowQueue<Segment>()
    pushLines(queue, undefined, 0, [line(0)])
    const first = queue.take(1) as NonNullable<ReturnType<typeof queue.take>>
    queue.release(first)
    pushLines(queue, undefined, 0, [line(1)])
    const second = queue.take(1)
    expect(second?.body.buffer).toBe(first.body.buffer)
    expect(second?.body.toString('utf8')).toBe(line(1))
  })

  it('removes the rows of matching segments', () => {
    const queue = new RowQueue<Segment>()
    const a = { name: 'a' }
    pushLines(queue, a, 0, [line(0), line(1)])
    pushLines(queue, undefined, 0, [line(9)])
    pushLines(queue, a, 2, [line(2)])
    queue.take(1)
    const removed = queue.removeWhere((segment) => segment === a)
    expect(removed).toEqual([
      { segment: a, rows: 1 },
      { segment: a, rows: 1 },
    ])
    expect(queue.length).toBe(1)
    expect(queue.some((segment) => segment === a)).toBe(false)
    expect(queue.some((segment) => segment === undefined)).toBe(true)
    expect(queue.take(10)?.body.toString('utf8')).toBe(line(9))
  })

  it('drops the oldest rows', () => {
    const queue = new RowQueue<Segment>()
    pushLines(queue, undefined, 0, [line(0), line(1), line(2)])
    pushLines(queue, { name: 'a' }, 0, [line(3)])
    queue.dropOldest(2)
    expect(queue.length).toBe(2)
    expect(queue.take(10)?.body.toString('utf8')).toBe(line(2))
    queue.dropOldest(5)
    expect(queue.length).toBe(0)
    expect(queue.take(10)).toBeUndefined()
  })

  it('matches a list of rows under random pushes and takes', () => {
    const rng = createRng(11)
    const segments = [{ name: 'a' }, { name: 'b' }]
    const queue = new RowQueue<Segment>()
    const model: { segment: Segment; ordinal: number; text: string }[] = []
    const next = new Map<Segment, number>(segments.map((segment) => [segment, 0]))
    for (let step = 0; step < 3000; step++) {
      if (rng.next() < 0.6) {
        const segment = segments[rng.int(2)] as Segment
        // A skipped ordinal now and then, as when the spool rejects rows.
        const first = (next.get(segment) as number) + (rng.next() < 0.05 ? 1 : 0)
        const lines = Array.from({ length: 1 + rng.int(4) }, (_, i) =>
          line(first + i, rng.int(300)),
        )
        pushLines(queue, segment, first, lines)
        lines.forEach((text, i) => model.push({ segment, ordinal: first + i, text }))
        next.set(segment, first + lines.length)
      } else {
        const maxRows = 1 + rng.int(8)
        const batch = queue.take(maxRows)
        if (model.length === 0) {
          expect(batch).toBeUndefined()
          continue
        }
        // The expected batch: consecutive rows of the head's segment, up to maxRows.
        const head = model[0] as (typeof model)[number]
        let count = 1
        while (
          count < maxRows &&
          count < model.length &&
          model[count]?.segment === head.segment &&
          model[count]?.ordinal === head.ordinal + count
        ) {
          count++
        }
        const expected = model.splice(0, count)
        expect(batch?.segment).toBe(head.segment)
        expect(batch?.first).toBe(head.ordinal)
        expect(batch?.rows).toBe(count)
        expect(batch?.body.toString('utf8')).toBe(expected.map((row) => row.text).join(''))
        // Released at once, so later pushes reuse the buffers.
        if (batch) queue.release(batch)
      }
      expect(queue.length).toBe(model.length)
    }
  })
})
