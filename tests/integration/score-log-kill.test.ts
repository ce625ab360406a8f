import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/index.ts'
import { openStore, queryRows } from '../../src/store/client.ts'
import { toClickHouseTime } from '../../src/store/events.ts'
import { freeLoopbackPort } from '../helpers/integration.ts'
import { setUpTrainedStore, type TrainedStore } from '../helpers/trained-store.ts'

const SETUP_TIMEOUT_MS = 180_000
const TEST_TIMEOUT_MS = 240_000
const REPOSITORY = fileURLToPath(new URL('../..', import.meta.url))
/** Concurrent request loops of the load. */
const CLIENTS = 8
const CONTACTS_PER_REQUEST = 3
/** Answered requests before the kill, enough for several flushes of SCORE_LOG_FLUSH_ROWS rows. */
const ANSWERS_BEFORE_KILL = 60
const LOAD_DEADLINE_MS = 90_000

let setup: TrainedStore
let keys: string[]

interface SentRequest {
  asOf: string
  keys: string[]
  /** True once the whole 200 response was read. */
  received: boolean
}

interface RunningServer {
  child: ChildProcess
  baseUrl: string
  output: () => string
}

/** Starts `segments serve` on the test's store and spool folder and waits for /readyz. */
async function startServer(spoolDir: string): Promise<RunningServer> {
  const port = await freeLoopbackPort()
  // Variables of the test's own environment that loadConfig would read are left out.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('SEGMENTS_')),
  )
  const env = {
    ...inherited,
    ...setup.env,
    SEGMENTS_HOST: '127.0.0.1',
    SEGMENTS_PORT: `${port}`,
    SEGMENTS_MODEL_RELOAD_SECONDS: '0',
    SEGMENTS_RATE_LIMIT_PER_MINUTE: '10000000',
    SEGMENTS_SCORE_LOG_SPOOL_DIR: spoolDir,
    // Small batches, and rows arrive faster than one a second, so the kill finds rows inserted,
    // rows in an insert or between flushes.
    SEGMENTS_SCORE_LOG_FLUSH_ROWS: '20',
    SEGMENTS_SCORE_LOG_FLUSH_MS: '1000',
    SEGMENTS_LOG_LEVEL: 'warn',
  }
  const script = join(REPOSITORY, 'src', 'cli', 'main.ts')
  const child = spawn(process.execPath, ['--import', 'tsx', script, 'serve'], {
    cwd: REPOSITORY,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let text = ''
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-8192)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const baseUrl = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 120_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}:\n${text}`)
    if (Date.now() > deadline) throw new Error(`serve was not ready within 120 s:\n${text}`)
    const status = await fetch(`${baseUrl}/readyz`).then(
      (response) => response.status,
      () => 0,
    )
    if (status === 200) return { child, baseUrl, output: () => text }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

async function stopServer(server: RunningServer, signal: NodeJS.Signals): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return
  const exited = once(server.child, 'exit')
  server.child.kill(signal)
  await exited
}

/** Sends score requests, each with its own asOf, from CLIENTS loops until `stop` is set. */
async function sendLoad(
  baseUrl: string,
  control: { stop: boolean },
  sent: SentRequest[],
): Promise<void> {
  const cutoffMs = setup.cutoffMs
  const loop = async () => {
    while (!control.stop) {
      const index = sent.length
      // A distinct asOf per request names the request's rows in score_log.
      const asOfMs = cutoffMs - (index + 1) * 1000
      const requestKeys = Array.from(
        { length: CONTACTS_PER_REQUEST },
        (_, j) => keys[(index * CONTACTS_PER_REQUEST + j) % keys.length] as string,
      )
      const request: SentRequest = {
        asOf: toClickHouseTime(asOfMs),
        keys: requestKeys,
        received: false,
      }
      sent.push(request)
      try {
        const response = await fetch(`${baseUrl}/v1/score`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            contacts: requestKeys.map((key) => ({ key })),
            asOf: new Date(asOfMs).toISOString(),
          }),
        })
        const body = await response.json()
        if (response.status !== 200)
          throw new Error(`status ${response.status}: ${JSON.stringify(body)}`)
        request.received = body.results.every((result: { error?: unknown }) => !result.error)
      } catch (error) {
        // The kill ends the connection; the request stays marked as not received.
        return
      }
    }
  }
  await Promise.all(Array.from({ length: CLIENTS }, loop))
}

/** Polls /readyz until the writer has no rows in memory and none on disk only. */
async function waitForEmptyBacklog(server: RunningServer): Promise<void> {
  const deadline = Date.now() + 60_000
  for (;;) {
    const readyz = await (await fetch(`${server.baseUrl}/readyz`)).json()
    const { memoryRows, spoolRows } = readyz.scoreLog
    if (memoryRows === 0 && spoolRows === 0) return
    if (Date.now() > deadline) {
      throw new Error(`backlog not drained: ${JSON.stringify(readyz.scoreLog)}\n${server.output()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** Counts the spool's row lines and those whose insert an insert-result line confirms. */
async function spoolCounts(dir: string): Promise<{ rows: number; confirmedRows: number }> {
  let rows = 0
  let confirmedRows = 0
  for (const name of await readdir(dir)) {
    // The killed server's spool.lock is left beside the segments.
    if (!name.endsWith('.jsonl')) continue
    const lines = (await readFile(join(dir, name), 'utf8')).split('\n').filter(Boolean)
    const markers = new Map<string, number>()
    for (const line of lines) {
      if (!line.startsWith('{"insert')) {
        rows++
        continue
      }
      const entry = JSON.parse(line)
      if (typeof entry.insert === 'string') markers.set(entry.insert, entry.rows)
      else confirmedRows += markers.get(entry.inserted) ?? 0
    }
  }
  return { rows, confirmedRows }
}

beforeAll(async () => {
  setup = await setUpTrainedStore({ prefix: 'score-log-kill', days: 150 })
  keys = setup.trained.test.contactKeys.slice(0, 30)
  // chDB lets one process open the folder, so the test's own connection is closed for the servers.
  await setup.store.close()
}, SETUP_TIMEOUT_MS)

afterAll(async () => {
  if (setup) await rm(setup.root, { recursive: true, force: true })
})

describe('score_log after SIGKILL', () => {
  it(
    'stores every answered contact once after restart',
    async () => {
      const spoolDir = join(setup.root, 'spool')
      const first = await startServer(spoolDir)
      const control = { stop: false }
      const sent: SentRequest[] = []
      const load = sendLoad(first.baseUrl, control, sent)
      const deadline = Date.now() + LOAD_DEADLINE_MS
      while (sent.filter((request) => request.received).length < ANSWERS_BEFORE_KILL) {
        if (Date.now() > deadline) throw new Error(`load too slow:\n${first.output()}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      await stopServer(first, 'SIGKILL')
      control.stop = true
      await load
      expect(first.child.signalCode).toBe('SIGKILL')
      // The first server inserted rows before the kill, and left rows not yet inserted in the spool.
      const left = await spoolCounts(spoolDir)
      const answeredBeforeRestart = sent.filter((request) => request.received).length
      expect(left.rows - left.confirmedRows).toBeGreaterThan(0)
      expect(left.rows).toBeLessThan(answeredBeforeRestart * CONTACTS_PER_REQUEST)

      const second = await startServer(spoolDir)
      await waitForEmptyBacklog(second)
      const readyz = await (await fetch(`${second.baseUrl}/readyz`)).json()
      await stopServer(second, 'SIGTERM')
      expect(second.child.exitCode).toBe(0)

      const store = await openStore(loadConfig(setup.env).clickhouse)
      const groups = await queryRows<{ as_of: string; contact_key: string; rows: number }>(
        store.client,
        'SELECT as_of, contact_key, count() AS rows FROM score_log GROUP BY as_of, contact_key',
      )
      await store.close()

      const received = sent.filter((request) => request.received)
      const notReceived = sent.filter((request) => !request.received)
      expect(received.length).toBeGreaterThanOrEqual(ANSWERS_BEFORE_KILL)
      const rowKey = (asOf: string, key: string) => `${asOf} ${key}`
      const stored = new Map(
        groups.map((group) => [rowKey(group.as_of, group.contact_key), group.rows]),
      )
      const duplicates = groups.filter((group) => group.rows > 1)
      expect(duplicates).toEqual([])
      const missing = received.flatMap((request) =>
        request.keys.map((key) => rowKey(request.asOf, key)).filter((row) => !stored.has(row)),
      )
      expect(missing).toEqual([])
      // Rows of requests in flight at the kill may be stored too, if they were written before it.
      const inFlight = new Set(
        notReceived.flatMap((request) => request.keys.map((key) => rowKey(request.asOf, key))),
      )
      const answered = new Set(
        received.flatMap((request) => request.keys.map((key) => rowKey(request.asOf, key))),
      )
      expect(answered.size).toBe(received.length * CONTACTS_PER_REQUEST)
      const extra = [...stored.keys()].filter((row) => !answered.has(row))
      expect(extra.filter((row) => !inFlight.has(row))).toEqual([])
      expect(groups).toHaveLength(answered.size + extra.length)
      expect(readyz.scoreLog.spoolRows).toBe(0)
    },
    TEST_TIMEOUT_MS,
  )
})
