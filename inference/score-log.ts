import { AsyncLocalStorage } from 'node:async_hooks'
import { createHash, randomUUID } from 'node:crypto'
import type { ClickHouseClient } from '@clickhouse/client'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { z } from 'zod'
import { toClickHouseTime } from '../src/store/events.ts'
import type { ScoringModel } from './model.ts'
import type { ContactScore } from './scoring.ts'
import type { ScoringService } from './service.ts'
import { Spool, type SpoolBatch, type SpoolSegment } from './spool.ts'

/** A `score_log` row as the JSONEachRow insert sends it and the spool stores it. */
export interface ScoreLogRow {
  /** UTC time as `YYYY-MM-DD hh:mm:ss.sss`. */
  scored_at: string
  request_id: string
  /** Normalized contact key, or null when the request gave features without a key. */
  contact_key: string | null
  /** Time the features were computed as of, or null when the request gave them. */
  as_of: string | null
  model_name: string
  model_version: string
  persona_id: number
  persona_distance: number
  churn_probability: number
  churn_band: string
  /** The whole score result as JSON, so fields added to it later are kept. */
  result: string
  /** Hex sha256 of the JSON array of the bundle's feature names. */
  feature_names_hash: string
  /** Feature values in the bundle's featureNames order. */
  features: number[]
}

const clickHouseTime = z.string().regex(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/)

/** Schema a spooled row must pass before it is inserted. */
const scoreLogRowSchema = z.strictObject({
  scored_at: clickHouseTime,
  request_id: z.string(),
  contact_key: z.string().nullable(),
  as_of: clickHouseTime.nullable(),
  model_name: z.string().min(1),
  model_version: z.string().min(1),
  persona_id: z.number().int(),
  persona_distance: z.number(),
  churn_probability: z.number().min(0).max(1),
  churn_band: z.string().min(1),
  result: z.string(),
  feature_names_hash: z.string().regex(/^[0-9a-f]{64}$/),
  features: z.array(z.number()),
})

/** One scored contact with the features it was scored on. */
export interface ScoredContact {
  /** Normalized contact key, or null when the request gave features without a key. */
  key: string | null
  /** Time the features were computed as of, or null when the request gave them. */
  asOfMs: number | null
  /** Feature values in the bundle's featureNames order, read at flush time, so they must not change after `record`. */
  features: ArrayLike<number>
  score: ContactScore
}

/** Scores of one scoring call and the model that made them. */
export interface ScoredBatch {
  model: ScoringModel
  contacts: readonly ScoredContact[]
}

/**
 * Request id of the scoring in progress. The server enters it before each
 * route handler, so `record` can read it without the id being passed through
 * every scoring call.
 */
export const scoreLogRequestContext = new AsyncLocalStorage<{ requestId: string }>()

const featureHashes = new WeakMap<readonly string[], string>()

/** Hashes feature names once per list, so each row can name its layout in 64 characters. */
function hashFeatureNames(names: readonly string[]): string {
  let hash = featureHashes.get(names)
  if (hash === undefined) {
    hash = createHash('sha256').update(JSON.stringify(names)).digest('hex')
    featureHashes.set(names, hash)
  }
  return hash
}

/** Copies values to a plain array; a loop is far faster than Array.from on a typed array view. */
function copyToArray(values: ArrayLike<number>): number[] {
  const copy = new Array<number>(values.length)
  for (let j = 0; j < values.length; j++) copy[j] = values[j] as number
  return copy
}

/** Converts the scores of one call to `score_log` rows. */
export function toScoreLogRows(
  batch: ScoredBatch,
  requestId: string,
  scoredAtMs: number,
): ScoreLogRow[] {
  const { manifest } = batch.model
  const names = manifest.featureNames
  const featureNamesHash = hashFeatureNames(names)
  const scoredAt = toClickHouseTime(scoredAtMs)
  // The contacts of one call share their as-of time, so its text is formatted once.
  let asOfMsSeen: number | null = null
  let asOfText: string | null = null
  return batch.contacts.map(({ key, asOfMs, features, score }) => {
    if (asOfMs !== asOfMsSeen) {
      asOfMsSeen = asOfMs
      asOfText = asOfMs === null ? null : toClickHouseTime(asOfMs)
    }
    return {
      scored_at: scoredAt,
      request_id: requestId,
      contact_key: key,
      as_of: asOfText,
      model_name: manifest.name,
      model_version: score.modelVersion,
      persona_id: score.persona.id,
      persona_distance: score.persona.distance,
      churn_probability: score.churn.probability,
      churn_band: score.churn.band,
      result: JSON.stringify(score),
      feature_names_hash: featureNamesHash,
      features: copyToArray(features),
    }
  })
}

/** Reasons for rows that never reached `score_log`, as the dropped-rows metric labels them. */
export const DROP_REASONS = [
  'build_error',
  'spool_full',
  'spool_error',
  'torn_line',
  'invalid_line',
  'closed',
] as const
export type DropReason = (typeof DROP_REASONS)[number]

/** State of the writer, for `/readyz` and the metrics. */
export interface ScoreLogState {
  /** Rows queued in memory or in an insert or spool write in progress. */
  memoryRows: number
  spoolRows: number
  spoolBytes: number
  spoolMaxBytes: number
  spoolSegments: number
  /** True from a spool append that rejected rows for lack of room until a segment is deleted. */
  spoolFull: boolean
  /** True from a failed insert until an insert succeeds. */
  insertFailing: boolean
  lastError: { message: string; at: string } | null
  insertedRows: number
  spooledRows: number
  insertFailures: number
  droppedRows: Record<DropReason, number>
}

export type ScoreLogLogger = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>

export interface ScoreLogWriterOptions {
  /** Store the batches are inserted into; only `insert` is used. */
  client: Pick<ClickHouseClient, 'insert'>
  log: ScoreLogLogger
  /** Rows per insert, and the queue length that starts a flush before the interval ends. */
  flushRows: number
  /** Milliseconds between flushes of the rows queued in memory. */
  flushMs: number
  spoolDir: string
  spoolMaxBytes: number
  /** Rows queued in memory past which, while an insert runs, the excess goes to the spool. Default 10 x flushRows. */
  maxMemoryRows?: number
  /** Milliseconds before an insert is aborted and its batch spooled. Default 30,000. */
  insertTimeoutMs?: number
  /** Maximum wait between retries while inserts fail, in milliseconds. The wait starts at flushMs and doubles. Default 30,000. */
  maxRetryDelayMs?: number
  /** Shortest time between two warnings of one kind; repeats are counted in the next one. Default 60,000. */
  warnIntervalMs?: number
  /** Size past which the spool starts a new segment file. Default 4 MiB. */
  spoolSegmentBytes?: number
}

const TABLE = 'score_log'

/** Scores of one call as `record` received them. */
interface RecordedScores {
  batch: ScoredBatch
  requestId: string
  scoredAtMs: number
}

/**
 * Queue of recorded scores that builds their rows only when they are taken,
 * oldest first. `length` counts rows, built or not.
 */
class PendingScores {
  length = 0
  private readonly calls: RecordedScores[] = []
  private readonly rows: ScoreLogRow[] = []

  constructor(private readonly onBuildError: (error: unknown, rows: number) => void) {}

  push(scores: RecordedScores): void {
    this.calls.push(scores)
    this.length += scores.batch.contacts.length
  }

  /** Removes and returns up to `count` rows. */
  take(count: number): ScoreLogRow[] {
    while (this.rows.length < count && this.calls.length > 0) {
      const { batch, requestId, scoredAtMs } = this.calls.shift() as RecordedScores
      try {
        for (const row of toScoreLogRows(batch, requestId, scoredAtMs)) this.rows.push(row)
      } catch (error) {
        this.length -= batch.contacts.length
        this.onBuildError(error, batch.contacts.length)
      }
    }
    const removed = this.rows.splice(0, count)
    this.length -= removed.length
    return removed
  }
}

/**
 * Queues `score_log` rows in memory and inserts them in batches off the
 * request path. A batch whose insert fails or times out is appended to the
 * spool, and while inserts keep failing, new rows go to the spool at each
 * interval. Spooled batches are inserted again, oldest first, before newer
 * rows, once the store takes an insert. Every insert carries its batch id as
 * insert_deduplication_token, so a batch stored by an insert whose reply was
 * lost is not stored twice when it is inserted again.
 */
export class ScoreLogWriter {
  private readonly options: Required<ScoreLogWriterOptions>
  private readonly spool: Spool
  private readonly pending = new PendingScores((error, rows) => {
    this.drop(
      'build_error',
      rows,
      { err: error },
      'score_log rows could not be built; they are lost',
    )
  })
  /** Rows taken off `pending` whose insert or spool write has not finished. */
  private transitRows = 0
  private opening: Promise<void> | undefined
  /** False when the spool folder could not be read at start; rows are then inserted or dropped. */
  private spoolUsable = true
  private overflow: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined
  private draining: Promise<void> | undefined
  /** Drain that a call made while another drain ran asked for; it runs when that one ends. */
  private nextDrain: 'none' | 'normal' | 'forced' = 'none'
  private closing = false
  private insertFailing = false
  private consecutiveFailures = 0
  private retryAtMs = 0
  private spoolFull = false
  private lastError: ScoreLogState['lastError'] = null
  private insertedRows = 0
  private spooledRows = 0
  private insertFailures = 0
  private readonly droppedRows = Object.fromEntries(
    DROP_REASONS.map((reason) => [reason, 0]),
  ) as Record<DropReason, number>
  /** Segments whose torn and invalid lines were already counted, so a second read does not count them again. */
  private readonly countedSegments = new Set<string>()
  private readonly warnings = new Map<string, { lastMs: number; suppressed: number }>()

  constructor(options: ScoreLogWriterOptions) {
    this.options = {
      maxMemoryRows: 10 * options.flushRows,
      insertTimeoutMs: 30_000,
      maxRetryDelayMs: 30_000,
      warnIntervalMs: 60_000,
      spoolSegmentBytes: 4 * 1024 * 1024,
      ...options,
    }
    this.spool = new Spool({
      dir: options.spoolDir,
      maxBytes: options.spoolMaxBytes,
      segmentBytes: this.options.spoolSegmentBytes,
    })
  }

  /**
   * Reads the spool a previous process left, starts the flush timer and
   * begins replaying the spool. The timer is unref'd, so it does not keep the
   * process alive.
   */
  start(): Promise<void> {
    const opening = this.openSpool()
    this.timer ??= setInterval(() => void this.drain(false), this.options.flushMs)
    this.timer.unref()
    void this.drain(false)
    return opening
  }

  /** Opens the spool once; a writer that was not started opens it on its first flush or close. */
  private openSpool(): Promise<void> {
    this.opening ??= this.spool.open().then(
      () => {
        if (this.spool.rows > 0) {
          this.options.log.info(
            { rows: this.spool.rows, bytes: this.spool.bytes, segments: this.spool.segmentCount },
            'score_log spool has rows from an earlier run; replaying them',
          )
        }
      },
      (error: unknown) => {
        this.spoolUsable = false
        this.noteError(error)
        this.options.log.error(
          { err: error, dir: this.options.spoolDir },
          'score_log spool could not be read; rows that cannot be inserted will be dropped',
        )
      },
    )
    return this.opening
  }

  /**
   * Queues the scores of one call with the current request's id and time.
   * The rows are built when a batch is taken, so the request only pays for
   * the push. It never waits on the store, so scoring goes on whatever state
   * the store is in.
   */
  record(batch: ScoredBatch): void {
    if (this.closing) {
      const rows = batch.contacts.length
      this.drop('closed', rows, {}, 'score_log rows recorded after close were dropped')
      return
    }
    const requestId = scoreLogRequestContext.getStore()?.requestId ?? ''
    this.pending.push({ batch, requestId, scoredAtMs: Date.now() })
    if (this.pending.length >= this.options.flushRows) void this.drain(false)
    if (this.draining && this.pending.length > this.options.maxMemoryRows) {
      this.overflow ??= this.spillOverflow().finally(() => {
        this.overflow = undefined
      })
    }
  }

  /** Inserts the spooled and queued rows now, without waiting for a retry delay. */
  flush(): Promise<void> {
    return this.drain(true)
  }

  /**
   * Stops the timer, lets a flush in progress end, and inserts the rows still
   * queued, or spools them when the store is failing or the insert fails.
   * Spooled rows stay on disk for the next start.
   */
  async close(): Promise<void> {
    if (this.closing) return
    this.closing = true
    clearInterval(this.timer)
    await this.openSpool()
    await this.draining
    await this.overflow
    while (this.pending.length > 0) {
      const batch = this.takeBatch()
      if (this.insertFailing || !(await this.insertBatch(batch))) await this.spoolBatch(batch)
    }
    await this.spool.close()
    const { spoolRows, insertedRows } = this.state()
    this.options.log.info({ spoolRows, insertedRows }, 'score_log writer closed')
  }

  state(): ScoreLogState {
    return {
      memoryRows: this.pending.length + this.transitRows,
      spoolRows: this.spool.rows,
      spoolBytes: this.spool.bytes,
      spoolMaxBytes: this.spool.maxBytes,
      spoolSegments: this.spool.segmentCount,
      spoolFull: this.spoolFull,
      insertFailing: this.insertFailing,
      lastError: this.lastError,
      insertedRows: this.insertedRows,
      spooledRows: this.spooledRows,
      insertFailures: this.insertFailures,
      droppedRows: { ...this.droppedRows },
    }
  }

  /**
   * Runs one drain at a time. A call during a drain makes it run once more
   * when it ends, forced if any such call was forced, and shares its promise.
   */
  private drain(force: boolean): Promise<void> {
    if (this.draining) {
      if (force) this.nextDrain = 'forced'
      else if (this.nextDrain === 'none') this.nextDrain = 'normal'
      return this.draining
    }
    this.draining = (async () => {
      let forced = force
      for (;;) {
        try {
          await this.drainOnce(forced)
        } catch (error) {
          // Every step below catches its own errors, so this is a bug; the rows stay queued.
          this.noteError(error)
          this.options.log.error({ err: error }, 'score_log flush failed')
        }
        const next = this.nextDrain
        this.nextDrain = 'none'
        if (next === 'none' || this.closing) return
        forced = next === 'forced'
      }
    })().finally(() => {
      this.draining = undefined
    })
    return this.draining
  }

  private async drainOnce(force: boolean): Promise<void> {
    await this.openSpool()
    if (!force && this.insertFailing && Date.now() < this.retryAtMs) {
      await this.spillPending()
      return
    }
    const replay = await this.replaySpool()
    if (replay === 'stopped') return
    if (replay === 'failed') {
      await this.spillPending()
      return
    }
    while (this.pending.length > 0 && !this.closing) {
      const batch = this.takeBatch()
      if (!(await this.insertBatch(batch))) {
        await this.spoolBatch(batch)
        await this.spillPending()
        return
      }
    }
  }

  /** Inserts the spool's segments oldest first, deleting each once all its batches are stored. */
  private async replaySpool(): Promise<'done' | 'failed' | 'stopped'> {
    if (!this.spoolUsable) return 'done'
    for (;;) {
      if (this.closing) return 'stopped'
      let segment: SpoolSegment | undefined
      try {
        segment = await this.spool.readOldest()
      } catch (error) {
        this.noteError(error)
        this.warn('spool-read', { err: error }, 'score_log spool could not be read')
        return 'failed'
      }
      if (segment === undefined) return 'done'
      const batches = this.checkSegment(segment)
      for (const batch of batches) {
        if (!(await this.insertBatch(batch, segment.file))) return 'failed'
      }
      try {
        await this.spool.remove(segment.file)
        this.countedSegments.delete(segment.file)
        this.spoolFull = false
      } catch (error) {
        this.noteError(error)
        this.warn(
          'spool-remove',
          { err: error, file: segment.file },
          'score_log spool segment could not be deleted',
        )
        return 'failed'
      }
    }
  }

  /**
   * Returns the segment's batches with only the rows that pass the row
   * schema. Torn and invalid lines and rows are counted as dropped and logged
   * the first time the segment is read.
   */
  private checkSegment(segment: SpoolSegment): SpoolBatch[] {
    const firstRead = !this.countedSegments.has(segment.file)
    this.countedSegments.add(segment.file)
    let invalidRows = 0
    let firstProblem: string | undefined
    const batches = segment.batches.map((batch) => {
      const rows = batch.rows.filter((row) => {
        const result = scoreLogRowSchema.safeParse(row)
        if (result.success) return true
        invalidRows++
        const issue = result.error.issues[0]
        firstProblem ??= `${issue?.path.join('.') || 'row'}: ${issue?.message ?? 'invalid'}`
        return false
      })
      return { id: batch.id, rows }
    })
    if (!firstRead) return batches.filter((batch) => batch.rows.length > 0)

    const { file, tornLine, invalidLines } = segment
    if (tornLine) {
      this.drop(
        'torn_line',
        1,
        { file, line: tornLine.line },
        'score_log spool segment ends in a torn line, as a crash during a write leaves it; that row is lost',
      )
    }
    if (invalidLines.length + invalidRows > 0) {
      const [first] = invalidLines
      this.drop(
        'invalid_line',
        invalidLines.length + invalidRows,
        {
          file,
          invalidLines: invalidLines.length,
          invalidRows,
          line: first?.line,
          lineProblem: first?.reason,
          rowProblem: firstProblem,
        },
        'score_log spool segment has invalid lines or rows; they are lost and the valid rows are replayed',
      )
    }
    return batches.filter((batch) => batch.rows.length > 0)
  }

  /** Inserts one batch; on failure records the error and the retry time, and returns false. */
  private async insertBatch(batch: SpoolBatch, spoolFile?: string): Promise<boolean> {
    const fromMemory = spoolFile === undefined
    if (fromMemory) this.transitRows += batch.rows.length
    try {
      await this.options.client.insert({
        table: TABLE,
        values: batch.rows,
        format: 'JSONEachRow',
        // async_insert is turned off because an asynchronous insert ignores the token.
        // NOTE: whether chDB stops an aborted insert was not checked; one it finishes is
        // spooled anyway and then skipped as a repeat by its token.
        clickhouse_settings: { insert_deduplication_token: batch.id, async_insert: 0 },
        abort_signal: AbortSignal.timeout(this.options.insertTimeoutMs),
      })
    } catch (error) {
      this.insertFailures++
      this.consecutiveFailures++
      const delay = Math.min(
        this.options.flushMs * 2 ** (this.consecutiveFailures - 1),
        this.options.maxRetryDelayMs,
      )
      this.retryAtMs = Date.now() + delay
      this.noteError(error)
      if (!this.insertFailing) this.warnings.delete('insert')
      this.insertFailing = true
      this.warn(
        'insert',
        { err: error, rows: batch.rows.length, batch: batch.id, retryInMs: delay },
        `score_log insert failed; rows go to the spool in ${this.options.spoolDir} until the store takes inserts again`,
      )
      return false
    } finally {
      if (fromMemory) this.transitRows -= batch.rows.length
    }
    if (this.insertFailing) {
      this.options.log.info(
        { failures: this.consecutiveFailures, spoolRows: this.spool.rows },
        'score_log inserts succeed again; replaying the spool',
      )
    }
    this.insertFailing = false
    this.consecutiveFailures = 0
    this.insertedRows += batch.rows.length
    return true
  }

  private takeBatch(): SpoolBatch {
    return { id: randomUUID(), rows: this.pending.take(this.options.flushRows) }
  }

  /** Appends a batch to the spool, counting what does not fit or cannot be written as dropped. */
  private async spoolBatch(batch: SpoolBatch): Promise<void> {
    this.transitRows += batch.rows.length
    try {
      const { written, rejected } = await this.spool.append(batch)
      this.spooledRows += written
      if (rejected > 0) {
        this.spoolFull = true
        this.drop(
          'spool_full',
          rejected,
          { spoolBytes: this.spool.bytes, spoolMaxBytes: this.spool.maxBytes },
          'score_log spool is full (SEGMENTS_SCORE_LOG_SPOOL_MAX_BYTES); rows were dropped',
        )
      }
    } catch (error) {
      this.noteError(error)
      this.drop(
        'spool_error',
        batch.rows.length,
        { err: error },
        'score_log spool write failed; rows were dropped',
      )
    } finally {
      this.transitRows -= batch.rows.length
    }
  }

  /** Moves every queued row to the spool in batches of flushRows. */
  private async spillPending(): Promise<void> {
    while (this.pending.length > 0) await this.spoolBatch(this.takeBatch())
  }

  /** Moves the rows past maxMemoryRows to the spool while an insert holds up the queue. */
  private async spillOverflow(): Promise<void> {
    while (this.pending.length > this.options.maxMemoryRows) {
      const count = Math.min(
        this.options.flushRows,
        this.pending.length - this.options.maxMemoryRows,
      )
      await this.spoolBatch({ id: randomUUID(), rows: this.pending.take(count) })
    }
  }

  private drop(reason: DropReason, rows: number, details: object, message: string): void {
    this.droppedRows[reason] += rows
    this.warn(
      `drop-${reason}`,
      { ...details, rows, reason, droppedTotal: this.droppedRows[reason] },
      message,
    )
  }

  private noteError(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error)
    this.lastError = { message, at: new Date().toISOString() }
  }

  /**
   * Logs at warn once per warnIntervalMs per kind at most, with the number of
   * repeats left out since. The first failed insert of an outage is always logged.
   */
  private warn(kind: string, details: object, message: string): void {
    const now = Date.now()
    const entry = this.warnings.get(kind)
    if (entry && now - entry.lastMs < this.options.warnIntervalMs) {
      entry.suppressed++
      return
    }
    this.warnings.set(kind, { lastMs: now, suppressed: 0 })
    this.options.log.warn({ ...details, repeatsNotLogged: entry?.suppressed ?? 0 }, message)
  }
}

/**
 * Creates the score_log writer of a server from the configuration, gives it
 * to the service, enters each request's id for it before the route handler,
 * starts it when the server is ready and closes it when the server closes.
 * `overrides` replaces options, such as the client in tests.
 */
export function registerScoreLog(
  app: FastifyInstance,
  service: ScoringService,
  overrides: Partial<ScoreLogWriterOptions> = {},
): ScoreLogWriter {
  const { scoreLog } = service.config
  const writer = new ScoreLogWriter({
    client: service.store.client,
    log: app.log,
    ...scoreLog,
    ...overrides,
  })
  service.scoreLog = writer
  // A callback hook that calls done inside run() makes the handler and every
  // continuation of it see the store.
  app.addHook('preHandler', (request, _reply, done) => {
    scoreLogRequestContext.run({ requestId: request.id }, done)
  })
  // Started once the port is bound, so a second server that fails to listen on the same
  // configuration never replays, and deletes, the spool of the one already running.
  app.addHook('onListen', () => writer.start())
  app.addHook('onClose', async () => {
    await writer.close()
    if (service.scoreLog === writer) service.scoreLog = undefined
  })
  return writer
}
