import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LOCK_FILE, Spool, SpoolLockedError, type SpoolLogger } from '../../../inference/spool.ts'

const SPOOL_MODULE = fileURLToPath(new URL('../../../inference/spool.ts', import.meta.url))
/** Time a child process with a spool gets to start tsx and take the lock. */
const CHILD_START_TIMEOUT_MS = 30_000

let dir: string
/** Child processes of a test, killed by their pid after it. */
let children: ChildProcess[]

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spool-lock-test-'))
  children = []
})

afterEach(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    }
  }
  await rm(dir, { recursive: true, force: true })
})

const row = (n: number) => `{"n":${n}}\n`
const lockPath = () => join(dir, LOCK_FILE)
const readLock = async () => JSON.parse(await readFile(lockPath(), 'utf8'))

interface Warning {
  details: Record<string, unknown>
  message: string
}

/** Returns a logger that keeps its warnings. */
function collectWarnings(): { log: SpoolLogger; warnings: Warning[] } {
  const warnings: Warning[] = []
  const log: SpoolLogger = {
    warn: (details, message) => void warnings.push({ details: { ...details }, message }),
  }
  return { log, warnings }
}

/** Starts a node process that runs for 10 s, so its pid names a running process. */
function startSleeper(): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' })
  children.push(child)
  return child
}

/** Returns the pid of a node process that has exited and been reaped. */
async function exitedPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await once(child, 'exit')
  return child.pid as number
}

/** Starts a node process that opens a spool on `dir`, appends one row, prints "locked" and waits. */
async function startSpoolProcess(): Promise<ChildProcess> {
  const code = [
    'const { Spool } = await import(process.argv[1])',
    'const spool = new Spool({ dir: process.argv[2], maxBytes: 1_000_000 })',
    'await spool.open()',
    `spool.appendRows(['{"n":1}\\n'], 'memory')`,
    "process.stdout.write('locked\\n')",
    'setTimeout(() => {}, 60_000)',
  ].join('\n')
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', code, SPOOL_MODULE, dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  children.push(child)
  let output = ''
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`spool process did not lock within ${CHILD_START_TIMEOUT_MS} ms`)),
      CHILD_START_TIMEOUT_MS,
    )
    const keep = (chunk: Buffer) => {
      output += chunk.toString('utf8')
      if (output.includes('locked\n')) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`spool process exited with ${code}:\n${output}`))
    })
  })
  await started
  return child
}

/** Returns the error that a promise rejects with, failing when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

describe('Spool lock', () => {
  it('writes pid and start time at open', async () => {
    const spool = new Spool({ dir, maxBytes: 1000 })
    await spool.open()
    const lock = await readLock()
    expect(lock.pid).toBe(process.pid)
    expect(Date.parse(lock.startedAt)).toBeLessThanOrEqual(Date.now())
    expect(await readdir(dir)).toEqual([LOCK_FILE])
    await spool.close()
  })

  it('removes the lock file on close', async () => {
    const spool = new Spool({ dir, maxBytes: 1000 })
    await spool.open()
    spool.appendRows([row(1)], 'memory')
    await spool.close()
    expect(await readdir(dir)).toEqual(['score-log-000000000001.jsonl'])
  })

  it('locks a missing folder at the first append', async () => {
    const missing = join(dir, 'missing')
    const spool = new Spool({ dir: missing, maxBytes: 1000 })
    await spool.open()
    expect(await readdir(dir)).toEqual([])

    spool.appendRows([row(1)], 'memory')
    expect((await readdir(missing)).sort()).toEqual(['score-log-000000000001.jsonl', LOCK_FILE])
    expect(JSON.parse(await readFile(join(missing, LOCK_FILE), 'utf8')).pid).toBe(process.pid)
    await spool.close()
    expect(await readdir(missing)).toEqual(['score-log-000000000001.jsonl'])
  })

  it('rejects a second spool of this process', async () => {
    const first = new Spool({ dir, maxBytes: 1000 })
    await first.open()
    const second = new Spool({ dir, maxBytes: 1000 })

    const error = await rejection(second.open())
    expect(error).toBeInstanceOf(SpoolLockedError)
    expect((error as SpoolLockedError).owner.pid).toBe(process.pid)
    expect((error as SpoolLockedError).message).toContain(`locked by process ${process.pid}`)
    expect(() => second.appendRows([row(1)], 'memory')).toThrow(SpoolLockedError)
    expect(await readdir(dir)).toEqual([LOCK_FILE])

    await first.close()
    await second.open()
    expect(await readdir(dir)).toEqual([LOCK_FILE])
    await second.close()
    expect(await readdir(dir)).toEqual([])
  })

  it('rejects a lock of a running process', async () => {
    const sleeper = startSleeper()
    const content = `${JSON.stringify({ pid: sleeper.pid, startedAt: '2026-01-02T03:04:05.000Z' })}\n`
    await writeFile(lockPath(), content)
    const { log, warnings } = collectWarnings()
    const spool = new Spool({ dir, maxBytes: 1000, log })

    const error = await rejection(spool.open())
    expect(error).toBeInstanceOf(SpoolLockedError)
    expect((error as SpoolLockedError).owner).toEqual({
      pid: sleeper.pid,
      startedAt: '2026-01-02T03:04:05.000Z',
    })
    expect(await readFile(lockPath(), 'utf8')).toBe(content)
    expect(warnings).toEqual([])
    await spool.close()
    expect(await readFile(lockPath(), 'utf8')).toBe(content)
  })

  it('takes over a lock of an exited process', async () => {
    const pid = await exitedPid()
    await writeFile(lockPath(), `${JSON.stringify({ pid, startedAt: 'earlier' })}\n`)
    await writeFile(join(dir, 'score-log-000000000004.jsonl'), row(1) + row(2))
    const { log, warnings } = collectWarnings()
    const spool = new Spool({ dir, maxBytes: 1000, log })

    await spool.open()
    expect((await readLock()).pid).toBe(process.pid)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]?.details.ownerPid).toBe(pid)
    expect(warnings[0]?.details.ownerStartedAt).toBe('earlier')
    expect(warnings[0]?.message).toContain(`stale spool lock of process ${pid}`)
    // The lock file is not a segment.
    expect(spool.segmentCount).toBe(1)
    expect(spool.diskRows).toBe(2)
    await spool.close()
    expect(await readdir(dir)).toEqual(['score-log-000000000004.jsonl'])
  })

  it('takes over a lock of its own pid that no spool holds', async () => {
    // An earlier process with this pid left it, as a restarted container's process can.
    await writeFile(lockPath(), `${JSON.stringify({ pid: process.pid })}\n`)
    const { log, warnings } = collectWarnings()
    const spool = new Spool({ dir, maxBytes: 1000, log })

    await spool.open()
    expect(warnings).toHaveLength(1)
    expect(warnings[0]?.details.ownerPid).toBe(process.pid)
    expect((await readLock()).startedAt).toEqual(expect.any(String))
    await spool.close()
  })

  const invalidLocks = [
    { content: '', reason: /^invalid JSON/ },
    { content: 'not json\n', reason: /^invalid JSON/ },
    { content: '[4242]\n', reason: /JSON object/ },
    { content: '{"startedAt":"2026-01-02T03:04:05.000Z"}\n', reason: /"pid"/ },
    { content: '{"pid":"4242"}\n', reason: /"pid"/ },
    { content: '{"pid":1.5}\n', reason: /"pid"/ },
    // kill(0, 0) and kill(-1, 0) succeed as signals to process groups, so these must not count as running.
    { content: '{"pid":0}\n', reason: /"pid"/ },
    { content: '{"pid":-1}\n', reason: /"pid"/ },
  ]

  it.each(invalidLocks)('takes over an invalid lock $content', async ({ content, reason }) => {
    await writeFile(lockPath(), content)
    const { log, warnings } = collectWarnings()
    const spool = new Spool({ dir, maxBytes: 1000, log })

    await spool.open()
    expect((await readLock()).pid).toBe(process.pid)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]?.details.reason).toMatch(reason)
    expect(warnings[0]?.details.content).toBe(content)
    expect(warnings[0]?.message).toContain('invalid content')
    await spool.close()
    expect(await readdir(dir)).toEqual([])
  })

  it('leaves a lock that another process replaced', async () => {
    const { log, warnings } = collectWarnings()
    const spool = new Spool({ dir, maxBytes: 1000, log })
    await spool.open()
    const other = `${JSON.stringify({ pid: 4242 })}\n`
    await writeFile(lockPath(), other)

    await spool.close()
    expect(await readFile(lockPath(), 'utf8')).toBe(other)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]?.message).toContain('replaced by another process')
  })

  it(
    'takes over the lock of a SIGKILLed process',
    async () => {
      const child = await startSpoolProcess()
      expect((await readLock()).pid).toBe(child.pid)
      const { log, warnings } = collectWarnings()
      const spool = new Spool({ dir, maxBytes: 1000, log })
      const error = await rejection(spool.open())
      expect(error).toBeInstanceOf(SpoolLockedError)
      expect((error as SpoolLockedError).owner.pid).toBe(child.pid)

      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
      // The killed process could not delete its lock.
      expect((await readLock()).pid).toBe(child.pid)

      await spool.open()
      expect((await readLock()).pid).toBe(process.pid)
      expect(warnings).toHaveLength(1)
      expect(warnings[0]?.details.ownerPid).toBe(child.pid)
      expect(spool.diskRows).toBe(1)
      await spool.close()
    },
    CHILD_START_TIMEOUT_MS + 10_000,
  )
})
