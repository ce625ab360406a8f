import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createClient } from '@clickhouse/client'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ScoreLogWriter, type ScoreLogWriterOptions } from '../../inference/score-log.ts'
import { ApiMetrics } from '../../inference/metrics.ts'
import { buildServer } from '../../inference/server.ts'
import { ScoringService } from '../../inference/service.ts'
import { loadConfig, type Config } from '../../src/config/index.ts'
import { execInsert, queryRows, type Store } from '../../src/store/client.ts'
import { toClickHouseTime } from '../../src/store/events.ts'
import { countRows, freeLoopbackPort, makeTempDir } from '../helpers/integration.ts'
import { setUpTrainedStore, type TrainedStore } from '../helpers/trained-store.ts'

const SETUP_TIMEOUT_MS = 180_000
const POLL_DEADLINE_MS = 20_000
/** Long enough that no timer flush happens during a test; each test flushes by itself. */
const NO_TIMER_MS = 3_600_000

let setup: TrainedStore
let config: Readonly<Config>
let keys: string[]

interface LoggedRow {
  scored_at: string
  request_id: string
  contact_key: string | null
  as_of: string | null
  model_name: string
  model_version: string
  persona_id: number
  persona_distance: number
  churn_probability: number
  churn_band: string
  result: string
  feature_names_hash: string
  features: number[]
}

interface LogLine {
  level: number
  msg: string
  [field: string]: unknown
}

const PINO_WARN = 40
const PINO_ERROR = 50

/** Inserts fail while `failing` is 'before'; with 'after' they store the rows and then fail, as a lost reply does. */
interface FaultInjectedClient {
  failing: 'no' | 'before' | 'after'
  calls: number
  insert: Store['insertFormatted']
}

function faultInjectedClient(real: Store): FaultInjectedClient {
  const client: FaultInjectedClient = {
    failing: 'no',
    calls: 0,
    insert: async (insert) => {
      client.calls++
      if (client.failing === 'before') throw new Error('fault-injected: store unavailable')
      await real.insertFormatted(insert)
      if (client.failing === 'after') throw new Error('fault-injected: reply lost')
    },
  }
  return client
}

/** Polls `check` until it returns true, failing after POLL_DEADLINE_MS. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + POLL_DEADLINE_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Row lines in the spool's segment files, read from disk, torn last lines included; marker lines are not rows. */
async function spoolLineCount(dir: string): Promise<number> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return 0
  }
  let lines = 0
  for (const name of names.filter((file) => file.endsWith('.jsonl'))) {
    const text = await readFile(join(dir, name), 'utf8')
    lines += rowLines(text).length
  }
  return lines
}

/** Names of the spool's segment files, which leaves out its lock file. */
async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith('.jsonl'))
}

/** Lines of a segment's text that are rows, not markers of inserts. */
function rowLines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith('{"insert'))
}

function sampleValue(scrape: string, series: string): number | undefined {
  const line = scrape.split('\n').find((entry) => entry.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

const loggedRows = (where = '1', params: Record<string, unknown> = {}) =>
  queryRows<LoggedRow>(
    setup.store.client,
    `SELECT * FROM score_log WHERE ${where} ORDER BY contact_key, churn_probability`,
    params,
  )

/** Builds a writer with test defaults and a log of its warnings. */
function makeWriter(options: Partial<ScoreLogWriterOptions> & { spoolDir: string }) {
  const lines: LogLine[] = []
  const log = pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line)) },
  )
  const writer = new ScoreLogWriter({
    insert: (insert) => setup.store.insertFormatted(insert),
    log,
    flushRows: 100,
    flushMs: NO_TIMER_MS,
    spoolMaxBytes: 10 * 1024 * 1024,
    ...options,
  })
  return { writer, lines }
}

/** Scores the first `count` test contacts by key through a service that records into `writer`. */
async function scoreInto(writer: ScoreLogWriter, count: number) {
  const service = new ScoringService(config, setup.store, setup.bundle)
  await service.loadChampion()
  service.scoreLog = writer
  const contacts = keys.slice(0, count).map((key) => ({ key }))
  return service.score(contacts, setup.cutoffMs)
}

beforeAll(async () => {
  setup = await setUpTrainedStore({ prefix: 'score-log-test', days: 150 })
  config = loadConfig(setup.env)
  keys = setup.trained.test.contactKeys.slice(0, 20)
}, SETUP_TIMEOUT_MS)

afterAll(async () => {
  await setup?.close()
})

beforeEach(async () => {
  await setup.store.client.command({ query: 'TRUNCATE TABLE score_log' })
})

describe('score_log through the API', () => {
  let app: FastifyInstance
  let baseUrl: string
  let service: ScoringService
  let spoolDir: string

  beforeAll(async () => {
    spoolDir = join(await makeTempDir('score-log-api'), 'spool')
    service = new ScoringService(
      loadConfig({ ...setup.env, SEGMENTS_SCORE_LOG_SPOOL_DIR: spoolDir }),
      setup.store,
      setup.bundle,
    )
    await service.loadChampion()
    app = buildServer(service, { scoreLog: { flushMs: NO_TIMER_MS } })
    baseUrl = await app.listen({ host: '127.0.0.1', port: 0 })
  })

  afterAll(async () => {
    await app?.close()
  })

  it('inserts queued rows when the server closes', async () => {
    const closingService = new ScoringService(service.config, setup.store, setup.bundle)
    await closingService.loadChampion()
    const closing = buildServer(closingService, { scoreLog: { flushMs: NO_TIMER_MS } })
    const url = await closing.listen({ host: '127.0.0.1', port: 0 })
    const response = await fetch(`${url}/v1/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contacts: keys.slice(0, 2).map((key) => ({ key })) }),
    })
    expect(response.status).toBe(200)
    const scrape = await (await fetch(`${url}/metrics`)).text()
    expect(sampleValue(scrape, 'segments_score_log_backlog_rows{location="memory"}')).toBe(2)
    expect(await countRows(setup.store.client, 'score_log')).toBe(0)

    await closing.close()
    expect(await countRows(setup.store.client, 'score_log')).toBe(2)
  })

  it('stores each scored contact as the response shows it', async () => {
    const [first, second] = keys as [string, string]
    const contactUrl = `${baseUrl}/v1/contacts/${encodeURIComponent(first)}?asOf=${setup.summary.cutoff}`
    const contact = await (await fetch(contactUrl)).json()
    const before = Date.now()
    const response = await fetch(`${baseUrl}/v1/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        contacts: [
          { key: second },
          { key: 'nobody@example.com' },
          { features: contact.features },
          { key: first.toUpperCase() },
        ],
        asOf: setup.summary.cutoff,
      }),
    })
    const after = Date.now()
    expect(response.status).toBe(200)
    const body = await response.json()
    expect(body.results[1].error.code).toBe('UNKNOWN_CONTACT')
    await service.scoreLog?.flush()

    const rows = await loggedRows()
    // One score from /v1/contacts/:key and three from /v1/score, where the unknown key has none.
    expect(rows).toHaveLength(4)
    const byRequest = new Map<string, LoggedRow[]>()
    for (const row of rows)
      byRequest.set(row.request_id, [...(byRequest.get(row.request_id) ?? []), row])
    expect(byRequest.size).toBe(2)
    const [contactRows, scoreRows] = [...byRequest.values()].sort((a, b) => a.length - b.length)
    expect(contactRows).toHaveLength(1)
    expect(scoreRows).toHaveLength(3)
    for (const id of byRequest.keys()) expect(id).not.toBe('')
    expect(JSON.parse(contactRows?.[0]?.result as string)).toEqual(scoreOf(contact))

    const names = service.requireModel().manifest.featureNames
    const namesHash = createHash('sha256').update(JSON.stringify(names)).digest('hex')
    const givenFeatures = names.map((name) => contact.features[name])
    const cases = [
      { result: body.results[0], key: second, asOf: true, features: undefined },
      { result: body.results[2], key: null, asOf: false, features: givenFeatures },
      // The key is stored normalized, the way the events table has it.
      { result: body.results[3], key: first, asOf: true, features: givenFeatures },
    ]
    for (const { result, key, asOf, features } of cases) {
      const row = scoreRows?.find((candidate) => candidate.contact_key === key) as LoggedRow
      expect(row, `row of result ${result.index}`).toBeDefined()
      expect(JSON.parse(row.result)).toEqual(scoreOf(result))
      expect(row.as_of).toBe(asOf ? toClickHouseTime(setup.cutoffMs) : null)
      expect(row.model_name).toBe(setup.bundle)
      expect(row.model_version).toBe(body.modelVersion)
      expect(row.persona_id).toBe(result.persona.id)
      expect(row.persona_distance).toBe(result.persona.distance)
      expect(row.churn_probability).toBe(result.churn.probability)
      expect(row.churn_band).toBe(result.churn.band)
      expect(row.feature_names_hash).toBe(namesHash)
      expect(row.features).toHaveLength(names.length)
      if (features) expect(row.features).toEqual(features)
      const scoredAt = Date.parse(`${row.scored_at.replace(' ', 'T')}Z`)
      expect(scoredAt).toBeGreaterThanOrEqual(before)
      expect(scoredAt).toBeLessThanOrEqual(after)
    }
  })

  it('reports the writer in /readyz and /metrics', async () => {
    const readyz = await (await fetch(`${baseUrl}/readyz`)).json()
    expect(readyz.scoreLog).toEqual({
      memoryRows: 0,
      spoolRows: 0,
      spoolBytes: 0,
      spoolMaxBytes: config.scoreLog.spoolMaxBytes,
      spoolFull: false,
      insertFailing: false,
      lastErrorAt: null,
      droppedRows: 0,
    })
    const scrape = await (await fetch(`${baseUrl}/metrics`)).text()
    expect(sampleValue(scrape, 'segments_score_log_backlog_rows{location="spool"}')).toBe(0)
    expect(sampleValue(scrape, 'segments_score_log_spool_bytes')).toBe(0)
    expect(sampleValue(scrape, 'segments_score_log_dropped_rows_total{reason="spool_full"}')).toBe(
      0,
    )
  })
})

/** Removes a result's request fields, leaving the score as the `result` column stores it. */
function scoreOf(result: Record<string, unknown>): Record<string, unknown> {
  const { index: _index, key: _key, asOf: _asOf, features: _features, ...score } = result
  return score
}

describe('ScoreLogWriter', () => {
  let spoolDir: string

  beforeEach(async () => {
    spoolDir = join(await makeTempDir('score-log-writer'), 'spool')
  })

  it('inserts queued rows on close', async () => {
    // Never started, so close opens the spool itself.
    const { writer } = makeWriter({ spoolDir })
    await scoreInto(writer, 3)
    expect(await countRows(setup.store.client, 'score_log')).toBe(0)
    await writer.close()
    expect(await countRows(setup.store.client, 'score_log')).toBe(3)
    expect(await spoolLineCount(spoolDir)).toBe(0)
  })

  it('spools rows while fault-injected inserts fail, then drains once', async () => {
    const client = faultInjectedClient(setup.store)
    client.failing = 'before'
    const { writer, lines } = makeWriter({ spoolDir, insert: client.insert, flushRows: 4 })
    const service = new ScoringService(config, setup.store, setup.bundle)
    service.scoreLog = writer
    const metrics = new ApiMetrics(service)
    const scrape = () => metrics.registry.metrics()
    await writer.start()

    const outcomes = await scoreInto(writer, 10)
    expect(outcomes.every((outcome) => !('error' in outcome))).toBe(true)
    expect(writer.state().memoryRows).toBe(10)
    expect(sampleValue(await scrape(), 'segments_score_log_backlog_rows{location="memory"}')).toBe(
      10,
    )
    await writer.flush()
    expect(writer.state().memoryRows).toBe(0)
    expect(writer.state().spoolRows).toBe(10)
    expect(writer.state().insertFailing).toBe(true)
    expect(await spoolLineCount(spoolDir)).toBe(10)
    expect(await countRows(setup.store.client, 'score_log')).toBe(0)

    // Scoring goes on during the outage, and its rows join the backlog.
    await scoreInto(writer, 5)
    await writer.flush()
    const during = await scrape()
    expect(sampleValue(during, 'segments_score_log_backlog_rows{location="spool"}')).toBe(15)
    expect(sampleValue(during, 'segments_score_log_spool_bytes')).toBeGreaterThan(0)
    expect(sampleValue(during, 'segments_score_log_rows_total{outcome="spooled"}')).toBe(15)
    // Every insert call failed, and the metric counts each one.
    expect(client.calls).toBeGreaterThanOrEqual(2)
    expect(sampleValue(during, 'segments_score_log_insert_failures_total')).toBe(client.calls)
    const warnings = lines.filter(
      (line) => line.level === PINO_WARN && /insert failed/.test(line.msg),
    )
    expect(warnings).toHaveLength(1)

    client.failing = 'no'
    await writer.flush()
    expect(writer.state().spoolRows).toBe(0)
    expect(writer.state().spoolBytes).toBe(0)
    expect(writer.state().insertFailing).toBe(false)
    expect(await spoolLineCount(spoolDir)).toBe(0)
    const after = await scrape()
    expect(sampleValue(after, 'segments_score_log_backlog_rows{location="spool"}')).toBe(0)
    expect(sampleValue(after, 'segments_score_log_rows_total{outcome="inserted"}')).toBe(15)

    const counts = await queryRows<{ contact_key: string; rows: number }>(
      setup.store.client,
      'SELECT contact_key, count() AS rows FROM score_log GROUP BY contact_key',
    )
    const expected = new Map(keys.slice(0, 10).map((key, i) => [key, i < 5 ? 2 : 1]))
    expect(new Map(counts.map((row) => [row.contact_key, row.rows]))).toEqual(expected)
    await writer.close()
  })

  it('stores a batch once after a fault-injected lost reply', async () => {
    const client = faultInjectedClient(setup.store)
    client.failing = 'after'
    const { writer } = makeWriter({ spoolDir, insert: client.insert, flushRows: 4 })
    await writer.start()
    await scoreInto(writer, 6)
    await writer.flush()
    // The first batch of 4 reached the table before its insert failed; all 6 rows are spooled.
    expect(await countRows(setup.store.client, 'score_log')).toBe(4)
    expect(writer.state().spoolRows).toBe(6)

    client.failing = 'no'
    await writer.flush()
    expect(writer.state().spoolRows).toBe(0)
    expect(await countRows(setup.store.client, 'score_log')).toBe(6)
    const distinct = await queryRows<{ keys: number }>(
      setup.store.client,
      'SELECT uniqExact(contact_key) AS keys FROM score_log',
    )
    expect(distinct[0]?.keys).toBe(6)
    await writer.close()
  })

  it('counts rows past the spool byte limit as dropped', async () => {
    const client = faultInjectedClient(setup.store)
    client.failing = 'before'
    const spoolMaxBytes = 6000
    const { writer, lines } = makeWriter({
      spoolDir,
      insert: client.insert,
      flushRows: 2,
      spoolMaxBytes,
    })
    const service = new ScoringService(config, setup.store, setup.bundle)
    service.scoreLog = writer
    const metrics = new ApiMetrics(service)
    await writer.start()
    await scoreInto(writer, 10)
    await writer.flush()

    const written = await spoolLineCount(spoolDir)
    expect(written).toBeGreaterThan(0)
    expect(written).toBeLessThan(10)
    const state = writer.state()
    expect(state.spoolRows).toBe(written)
    expect(state.spoolBytes).toBeLessThanOrEqual(spoolMaxBytes)
    expect(state.spoolFull).toBe(true)
    expect(state.droppedRows.spool_full).toBe(10 - written)
    const scrape = await metrics.registry.metrics()
    expect(sampleValue(scrape, 'segments_score_log_dropped_rows_total{reason="spool_full"}')).toBe(
      10 - written,
    )
    // Every batch after the limit drops rows, and the warning is logged once per interval.
    const warnings = lines.filter(
      (line) => line.level === PINO_WARN && /spool is full/.test(line.msg),
    )
    expect(warnings).toHaveLength(1)
    await writer.close()
  })

  it('replays a spool with a torn last line without that line', async () => {
    const client = faultInjectedClient(setup.store)
    client.failing = 'before'
    const first = makeWriter({ spoolDir, insert: client.insert })
    await first.writer.start()
    await scoreInto(first.writer, 5)
    await first.writer.close()
    const [segment] = await readdir(spoolDir)
    const file = join(spoolDir, segment as string)
    const text = await readFile(file, 'utf8')
    const rows = rowLines(text)
    expect(rows).toHaveLength(5)
    // A crash in the middle of the write of the fifth row leaves part of its line and nothing after it.
    const fifthStart = Buffer.byteLength(text.slice(0, text.indexOf(rows[4] as string)))
    await truncate(file, fifthStart + Buffer.byteLength(rows[4] as string) - 40)

    const second = makeWriter({ spoolDir })
    await second.writer.start()
    await waitFor('the spool to drain', () => second.writer.state().spoolRows === 0)
    await waitFor(
      'the segment to be deleted',
      async () => (await segmentFiles(spoolDir)).length === 0,
    )
    expect(await countRows(setup.store.client, 'score_log')).toBe(4)
    expect(second.writer.state().droppedRows.torn_line).toBe(1)
    const torn = second.lines.filter(
      (line) => line.level === PINO_WARN && /torn line/.test(line.msg),
    )
    expect(torn).toHaveLength(1)
    expect(torn[0]?.file).toBe(segment)
    expect(torn[0]?.line).toBe(5)
    await second.writer.close()
  })

  it('replays valid rows of a segment with invalid lines', async () => {
    const client = faultInjectedClient(setup.store)
    client.failing = 'before'
    const first = makeWriter({ spoolDir, insert: client.insert })
    await scoreInto(first.writer, 3)
    await first.writer.close()
    const [segment] = await readdir(spoolDir)
    const file = join(spoolDir, segment as string)
    const [good, second, third] = rowLines(await readFile(file, 'utf8')) as [string, string, string]
    const badRow = JSON.parse(second)
    badRow.churn_probability = 'high'
    // Line 2 breaks the row schema, line 3 is not JSON, and line 4 is valid. The marker of the
    // failed insert is left out, so the rows are replayed as rows no insert had sent.
    await writeFile(file, [good, JSON.stringify(badRow), '{"scored_at":', third, ''].join('\n'))

    const replay = makeWriter({ spoolDir })
    await replay.writer.start()
    await replay.writer.flush()
    expect(replay.writer.state().spoolRows).toBe(0)
    const rows = await loggedRows()
    const goodKeys = [JSON.parse(good).contact_key, JSON.parse(third).contact_key]
    expect(rows.map((row) => row.contact_key).sort()).toEqual(goodKeys.sort())
    expect(replay.writer.state().droppedRows.invalid_line).toBe(2)
    const warnings = replay.lines.filter(
      (line) => line.level === PINO_WARN && /invalid lines or rows/.test(line.msg),
    )
    expect(warnings).toHaveLength(1)
    expect(warnings[0]?.file).toBe(segment)
    expect(warnings[0]?.invalidLines).toBe(1)
    expect(warnings[0]?.invalidRows).toBe(1)
    expect(warnings[0]?.line).toBe(3)
    expect(warnings[0]?.lineProblem).toMatch(/^invalid JSON/)
    expect(warnings[0]?.rowProblem).toMatch(/^churn_probability: /)
    await replay.writer.close()
  })

  it('replays on restart what a closed port made it spool', async () => {
    const port = await freeLoopbackPort()
    const unreachable = createClient({ url: `http://127.0.0.1:${port}`, request_timeout: 5000 })
    const first = makeWriter({ spoolDir, insert: (insert) => execInsert(unreachable, insert) })
    await first.writer.start()
    await scoreInto(first.writer, 7)
    await first.writer.close()
    await unreachable.close()
    expect(await spoolLineCount(spoolDir)).toBe(7)
    expect(first.writer.state().insertFailing).toBe(true)
    expect(await countRows(setup.store.client, 'score_log')).toBe(0)

    const second = makeWriter({ spoolDir })
    await second.writer.start()
    expect(second.writer.state().spoolRows).toBe(7)
    await waitFor('the spool to drain', () => second.writer.state().spoolRows === 0)
    const rows = await loggedRows()
    expect(rows.map((row) => row.contact_key).sort()).toEqual(keys.slice(0, 7).sort())
    await second.writer.close()
  })

  it('inserts from memory when the spool folder goes away', async () => {
    await mkdir(spoolDir)
    // Segments of one row, so that each later row needs a new file in the folder.
    const { writer, lines } = makeWriter({ spoolDir, spoolSegmentBytes: 1 })
    await writer.start()
    await scoreInto(writer, 2)
    await rm(spoolDir, { recursive: true, force: true })

    await scoreInto(writer, 3)
    await writer.flush()

    expect(await countRows(setup.store.client, 'score_log')).toBe(5)
    expect(Object.values(writer.state().droppedRows).every((rows) => rows === 0)).toBe(true)
    const warnings = lines.filter((line) => line.msg.startsWith('score_log spool write failed'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]?.level).toBe(PINO_WARN)
    await writer.close()
  })

  it('closes an unstarted writer without the lock', async () => {
    // As in a server that was built but never listened, beside one that runs.
    await mkdir(spoolDir)
    const owner = makeWriter({ spoolDir })
    await owner.writer.start()
    const idle = makeWriter({ spoolDir })

    await idle.writer.close()

    expect(idle.lines.filter((line) => line.level >= PINO_WARN)).toEqual([])
    expect(JSON.parse(await readFile(join(spoolDir, 'spool.lock'), 'utf8')).pid).toBe(process.pid)
    await owner.writer.close()
    expect(await readdir(spoolDir)).toEqual([])
  })

  it('holds rows in memory while another writer locks the spool', async () => {
    // start() locks a folder that exists; a missing one is locked by the first append.
    await mkdir(spoolDir)
    const owner = makeWriter({ spoolDir })
    await owner.writer.start()
    const lockFile = join(spoolDir, 'spool.lock')
    expect(JSON.parse(await readFile(lockFile, 'utf8')).pid).toBe(process.pid)

    const client = faultInjectedClient(setup.store)
    client.failing = 'before'
    const second = makeWriter({ spoolDir, insert: client.insert })
    await second.writer.start()
    const errors = second.lines.filter((line) => line.level === PINO_ERROR)
    expect(errors).toHaveLength(1)
    expect(errors[0]?.msg).toContain(`in use by process ${process.pid}`)
    expect(errors[0]?.msg).toContain('Set SEGMENTS_SCORE_LOG_SPOOL_DIR')
    expect(errors[0]?.ownerPid).toBe(process.pid)
    expect(second.writer.state().lastError?.message).toContain(`locked by process ${process.pid}`)

    // Scoring goes on, and its rows are held in memory only.
    const outcomes = await scoreInto(second.writer, 6)
    expect(outcomes.every((outcome) => !('error' in outcome))).toBe(true)
    expect(second.writer.state().memoryRows).toBe(6)
    expect(second.writer.state().spooledRows).toBe(0)
    expect(await readdir(spoolDir)).toEqual(['spool.lock'])

    // A failed insert drops them, because no spool has them.
    await second.writer.flush()
    expect(client.calls).toBe(1)
    expect(second.writer.state().memoryRows).toBe(0)
    expect(second.writer.state().spoolRows).toBe(0)
    expect(second.writer.state().insertFailing).toBe(true)
    expect(second.writer.state().droppedRows.spool_error).toBe(6)
    const drops = second.lines.filter(
      (line) => line.level === PINO_WARN && /in use by another writer/.test(line.msg),
    )
    expect(drops).toHaveLength(1)
    expect(drops[0]?.rows).toBe(6)
    expect(drops[0]?.ownerPid).toBe(process.pid)

    client.failing = 'no'
    await scoreInto(second.writer, 2)
    await second.writer.flush()
    expect(second.writer.state().insertedRows).toBe(2)
    expect(second.writer.state().droppedRows.spool_error).toBe(6)
    expect(await countRows(setup.store.client, 'score_log')).toBe(2)

    // The second writer's close leaves the owner's lock, and the owner's close deletes it.
    await second.writer.close()
    expect(await readdir(spoolDir)).toEqual(['spool.lock'])
    await owner.writer.close()
    expect(await readdir(spoolDir)).toEqual([])
  })

  it('waits for a full batch after an insert', async () => {
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const batches: number[] = []
    const gated: Store['insertFormatted'] = async (insert) => {
      await gate
      await setup.store.insertFormatted(insert)
      batches.push(insert.body.toString().split('\n').length - 1)
    }
    const { writer } = makeWriter({ spoolDir, insert: gated, flushRows: 4 })
    await writer.start()
    // Four rows reach flushRows, so their insert starts and waits at the gate.
    await scoreInto(writer, 4)
    // Two rows arrive during that insert, fewer than a batch.
    await scoreInto(writer, 2)
    release()
    await waitFor('the first insert', () => writer.state().insertedRows === 4)
    await new Promise((resolve) => setTimeout(resolve, 100))

    expect(batches).toEqual([4])
    expect(writer.state().memoryRows).toBe(2)
    await writer.flush()
    expect(batches).toEqual([4, 2])
    expect(writer.state().insertedRows).toBe(6)
    await writer.close()
  })

  it('leaves the queue to the spool past maxMemoryRows while a fault-injected insert hangs', async () => {
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const slow: Store['insertFormatted'] = async (insert) => {
      await gate
      await setup.store.insertFormatted(insert)
    }
    const { writer } = makeWriter({ spoolDir, insert: slow, flushRows: 5, maxMemoryRows: 5 })
    await writer.start()
    // Five rows reach flushRows, so their insert starts and hangs.
    await scoreInto(writer, 5)
    const more = await scoreInto(writer, 8)
    expect(more).toHaveLength(8)
    // The eight queued rows are dropped from memory and wait in the spool; the five in the insert stay.
    expect(writer.state().spoolRows).toBe(8)
    expect(writer.state().memoryRows).toBe(5)

    release()
    await writer.flush()
    await writer.flush()
    expect(writer.state().spoolRows).toBe(0)
    expect(writer.state().memoryRows).toBe(0)
    expect(await countRows(setup.store.client, 'score_log')).toBe(13)
    await writer.close()
  })
})
