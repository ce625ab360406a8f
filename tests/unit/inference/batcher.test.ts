import { describe, expect, it } from 'vitest'
import { Batcher, type BatchEvent } from '../../../inference/batcher.ts'

interface Call {
  group: string
  rows: number[]
}

/**
 * Creates a batcher whose model call doubles each row and records its calls. A row
 * of -1 makes the call fail, standing in for a model error.
 */
function doubling(maxRows: number, maxWaitMs: number) {
  const calls: Call[] = []
  const events: BatchEvent[] = []
  const batcher = new Batcher<string, number, number>({
    maxRows,
    maxWaitMs,
    run(group, rows) {
      calls.push({ group, rows: [...rows] })
      if (rows.includes(-1)) throw new Error('model failed')
      return rows.map((row) => row * 2)
    },
    onBatch: (event) => events.push(event),
  })
  return { batcher, calls, events }
}

const range = (start: number, count: number) => Array.from({ length: count }, (_, i) => start + i)

describe('Batcher', () => {
  it('joins concurrent requests', async () => {
    const { batcher, calls, events } = doubling(100, 20)

    const results = await Promise.all([
      batcher.submit('m', [1, 2]),
      batcher.submit('m', [3]),
      batcher.submit('m', [4, 5, 6]),
    ])

    expect(results).toEqual([[2, 4], [6], [8, 10, 12]])
    expect(calls).toEqual([{ group: 'm', rows: [1, 2, 3, 4, 5, 6] }])
    expect(events).toEqual([{ rows: 6, requests: 3 }])
  })

  it('calls once a batch is full', async () => {
    const { batcher, calls } = doubling(3, 60_000)

    // The wait is a minute, so only a full batch can make these calls.
    const results = await Promise.all([batcher.submit('m', [1, 2]), batcher.submit('m', [3])])

    expect(results).toEqual([[2, 4], [6]])
    expect(calls.map((call) => call.rows)).toEqual([[1, 2, 3]])
  })

  it('splits a large request', async () => {
    const { batcher, calls } = doubling(4, 10)

    const results = await batcher.submit('m', range(1, 10))

    expect(results).toEqual(range(1, 10).map((row) => row * 2))
    expect(calls.map((call) => call.rows)).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [9, 10],
    ])
  })

  it('fills a batch across requests', async () => {
    const { batcher, calls } = doubling(4, 10)

    const [first, second] = await Promise.all([
      batcher.submit('m', [1, 2, 3]),
      batcher.submit('m', [4, 5, 6]),
    ])

    expect(first).toEqual([2, 4, 6])
    expect(second).toEqual([8, 10, 12])
    expect(calls.map((call) => call.rows)).toEqual([
      [1, 2, 3, 4],
      [5, 6],
    ])
  })

  it('keeps groups apart', async () => {
    const { batcher, calls } = doubling(100, 10)

    const [a, b] = await Promise.all([batcher.submit('old', [1]), batcher.submit('new', [2])])

    expect(a).toEqual([2])
    expect(b).toEqual([4])
    expect(calls).toEqual([
      { group: 'old', rows: [1] },
      { group: 'new', rows: [2] },
    ])
  })

  it('fails only the requests in the call', async () => {
    const { batcher, calls } = doubling(2, 10)

    // [1, -1] share the first call, which fails; [5, 6] fill the second one.
    const outcomes = await Promise.allSettled([
      batcher.submit('m', [1]),
      batcher.submit('m', [-1]),
      batcher.submit('m', [5, 6]),
    ])

    expect(calls.map((call) => call.rows)).toEqual([
      [1, -1],
      [5, 6],
    ])
    expect(outcomes[0]).toEqual({ status: 'rejected', reason: new Error('model failed') })
    expect(outcomes[1]).toEqual({ status: 'rejected', reason: new Error('model failed') })
    expect(outcomes[2]).toEqual({ status: 'fulfilled', value: [10, 12] })
  })

  it('joins one turn without a wait', async () => {
    const { batcher, calls } = doubling(3, 0)

    const results = await Promise.all([batcher.submit('m', [1, 2]), batcher.submit('m', [3, 4])])

    expect(results).toEqual([
      [2, 4],
      [6, 8],
    ])
    expect(calls.map((call) => call.rows)).toEqual([[1, 2, 3], [4]])
  })

  it('calls each turn without a wait', async () => {
    const { batcher, calls } = doubling(100, 0)

    const first = batcher.submit('m', [1])
    // setImmediate callbacks run in order, so this one runs after the batcher's own.
    await new Promise((resolve) => setImmediate(resolve))
    const second = batcher.submit('m', [2])

    expect(await Promise.all([first, second])).toEqual([[2], [4]])
    expect(calls.map((call) => call.rows)).toEqual([[1], [2]])
  })

  it('returns nothing for no rows', async () => {
    const { batcher, calls } = doubling(2, 10)

    expect(await batcher.submit('m', [])).toEqual([])
    expect(calls).toEqual([])
  })

  it('rejects a wrong result count', async () => {
    const batcher = new Batcher<string, number, number>({
      maxRows: 10,
      maxWaitMs: 0,
      run: (_group, rows) => rows.slice(1),
    })

    await expect(batcher.submit('m', [1, 2])).rejects.toThrow(
      'Model call returned 1 results for 2 rows',
    )
  })

  it('rejects an invalid size', () => {
    expect(() => new Batcher({ maxRows: 0, maxWaitMs: 1, run: () => [] })).toThrow(
      'Invalid batch size 0: expected an integer of at least 1',
    )
  })
})
