import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { threadsStartedBetween } from '../../../inference/latency-tuning.ts'

const MODULE = fileURLToPath(new URL('../../../inference/latency-tuning.ts', import.meta.url))

/**
 * Runs `body` as an ES module in a new Node process with the module imported as `tuning`, and
 * returns what it prints as JSON. A child process, because priorities set here would stay on
 * the test runner's threads.
 */
function runChild(body: string, env: Record<string, string> = {}): unknown {
  const script = `import * as tuning from ${JSON.stringify(MODULE)}\n${body}`
  const output = execFileSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 },
  )
  return JSON.parse(output)
}

describe('threadsStartedBetween', () => {
  it('lists the new threads and their names other than node', () => {
    const before = new Map([
      [1, 'node'],
      [2, 'node'],
    ])
    const after = new Map([
      [1, 'node'],
      [3, 'MergeMutate'],
      [4, 'node'],
      [5, 'MergeMutate'],
      [6, 'BgSchPool'],
    ])
    const started = threadsStartedBetween(before, after)
    expect([...started.ids]).toEqual([3, 4, 5, 6])
    expect([...started.names].sort()).toEqual(['BgSchPool', 'MergeMutate'])
  })
})

describe('lowerThreads (child process)', () => {
  it('lowers the selected threads only, and never raises one', () => {
    const result = runChild(`
      import { Worker } from 'node:worker_threads'
      import { getPriority } from 'node:os'
      const before = tuning.listThreads()
      const worker = new Worker('setInterval(() => {}, 1000)', { eval: true })
      await new Promise((resolve) => worker.once('online', resolve))
      const started = tuning.threadsStartedBetween(before, tuning.listThreads())
      const first = tuning.lowerThreads(12, (id) => started.ids.has(id))
      const second = tuning.lowerThreads(5, (id) => started.ids.has(id))
      const priorities = {}
      for (const id of tuning.listThreads().keys()) priorities[id] = getPriority(id)
      console.log(JSON.stringify({ pid: process.pid, started: [...started.ids], first, second, priorities }))
      await worker.terminate()
    `) as {
      pid: number
      started: number[]
      first: { lowered: number; failed: number }
      second: { lowered: number; unchanged: number }
      priorities: Record<string, number>
    }
    expect(result.started.length).toBeGreaterThan(0)
    expect(result.first.lowered).toBe(result.started.length)
    expect(result.first.failed).toBe(0)
    // A second pass with a lower nice value leaves the threads at 12.
    expect(result.second.lowered).toBe(0)
    expect(result.second.unchanged).toBe(result.started.length)
    for (const [id, nice] of Object.entries(result.priorities)) {
      expect({ id, nice }).toEqual({ id, nice: result.started.includes(Number(id)) ? 12 : 0 })
    }
    expect(result.priorities[String(result.pid)]).toBe(0)
  })

  it('rejects a nice value outside 0 to 19', () => {
    const result = runChild(`
      const messages = []
      for (const nice of [-1, 20, 1.5]) {
        try { tuning.lowerThreads(nice, () => true) } catch (error) { messages.push(error.message) }
      }
      console.log(JSON.stringify(messages))
    `)
    expect(result).toEqual([
      'Invalid nice value -1: expected an integer from 0 to 19',
      'Invalid nice value 20: expected an integer from 0 to 19',
      'Invalid nice value 1.5: expected an integer from 0 to 19',
    ])
  })
})

describe('findThreadPoolThreads (child process)', () => {
  it('finds each thread of the libuv pool and not the main thread', () => {
    const result = runChild(
      `
      import { readFileSync } from 'node:fs'
      const first = await tuning.findThreadPoolThreads()
      const second = await tuning.findThreadPoolThreads()
      const names = [...first].map((id) => readFileSync('/proc/self/task/' + id + '/comm', 'utf8').trim())
      console.log(JSON.stringify({ pid: process.pid, first: [...first].sort(), second: [...second].sort(), names }))
    `,
      { UV_THREADPOOL_SIZE: '3' },
    ) as { pid: number; first: number[]; second: number[]; names: string[] }
    expect(result.first).toHaveLength(3)
    expect(result.second).toEqual(result.first)
    expect(result.first).not.toContain(result.pid)
    // Node 20 leaves the pool's threads unnamed, so they carry the process's name.
    expect(result.names).toEqual(['node', 'node', 'node'])
  })
})
