import { createHash, randomUUID } from 'node:crypto'
import type { Store } from '../src/store/client.ts'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { z } from 'zod'
import { toClickHouseTime } from '../src/store/events.ts'
import type { ScoringModel } from './model.ts'
import type { ContactScore } from './scoring.ts'
import { RowQueue } from './row-queue.ts'
import type { ScoringService } from './service.ts'
import {
  insertedLine,
  markerLine,
  planReplay,
  Spool,
  SpoolLockedError,
  spoolToken,
  type ParsedSegment,
  type ReplayPlan,
  type SpoolAppendResult,
  type SpoolBatch,
  type SpoolSegment,
} from './spool.ts'

/** A `score_log` row as a JSONEachRow line of the insert and of the spool holds it. */
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
  /** Feature values in the bundle's featureNames order, encoded when `record` is called. */
  features: ArrayLike<number>
  score: ContactScore
}

/** Scores of one scoring call and the model that made them. */
export interface ScoredBatch {
  model: ScoringModel
  contacts: readonly ScoredContact[]
  /** Id of the HTTP request that asked for the scores, or '' for calls made outside one. */
  requestId: string
}

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

/** Formats a number as JSON.stringify does: non-finite values become null. */
function jsonNumber(value: number): string {
  return Number.isFinite(value) ? `${value}` : 'null'
}

/** Reused by jsonNumbers, so that a row's values are formatted in one JSON.stringify call. */
const numberScratch: number[] = []

/**
 * Formats feature values as a JSON array of numbers; non-finite values
 * become null, as JSON.stringify writes them. One call builds one string,
 * where appending each number built two per value.
 */
function jsonNumbers(values: ArrayLike<number>): string {
  numberScratch.length = values.length
  for (let j = 0; j < values.length; j++) numberScratch[j] = values[j] as number
  return JSON.stringify(numberScratch)
}

const jsonString = (value: string | null) => (value === null ? 'null' : JSON.stringify(value))

/**
 * Encodes the scores of one call as `score_log` JSONEachRow lines, each
 * ending in a line feed. The same text is written to the spool and sent in
 * the insert body, so a row is serialized once.
 */
export function encodeScoreLogLines(batch: ScoredBatch, scoredAtMs: number): string[] {
  const { requestId } = batch
  const { manifest } = batch.model
  // Fields that every row of the call shares are formatted once.
  const shared =
    `{"scored_at":"${toClickHouseTime(scoredAtMs)}","request_id":${JSON.stringify(requestId)}` +
    `,"model_name":${JSON.stringify(manifest.name)}` +
    `,"feature_names_hash":"${hashFeatureNames(manifest.featureNames)}"`
  let asOfMsSeen: number | null = null
  let asOfText = 'null'
  const lines = new Array<string>(batch.contacts.length)
  batch.contacts.forEach(({ key, asOfMs, features, score }, i) => {
    if (asOfMs !== asOfMsSeen) {
      asOfMsSeen = asOfMs
      asOfText = asOfMs === null ? 'null' : `"${toClickHouseTime(asOfMs)}"`
    }
    lines[i] =
      `${shared},"contact_key":${jsonString(key)},"as_of":${asOfText}` +
      `,"model_version":${JSON.stringify(score.modelVersion)}` +
      `,"persona_id":${jsonNumber(score.persona.id)}` +
      `,"persona_distance":${jsonNumber(score.persona.distance)}` +
      `,"churn_probability":${jsonNumber(score.churn.probability)}` +
      `,"churn_band":${JSON.stringify(score.churn.band)}` +
      `,"result":${JSON.stringify(JSON.stringify(score))}` +
      `,"features":${jsonNumbers(features)}}\n`
  })
  return lines
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
  /** Rows held in memory, queued or in an insert in progress; while the spool is on they are on disk too. */
  memoryRows: number
  /** Rows on disk only, which a replay of the spool inserts. */
  spoolRows: number
  spoolBytes: number
  spoolMaxBytes: number
  spoolSegments: number
  /** True from a spool write that rejected rows for lack of room until a segment is deleted. */
  spoolFull: boolean
  /** True from a failed insert until an insert succeeds. */
  insertFailing: boolean
  lastError: { message: string; at: string } | null
  insertedRows: number
  /** Rows written to the spool, which is every row recorded while the spool is on. */
  spooledRows: number
  insertFailures: number
  droppedRows: Record<DropReason, number>
}

export type ScoreLogLogger = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>

export interface ScoreLogWriterOptions {
  /** Inserts a batch's JSONEachRow text into score_log; the store's `insertFormatted`. */
  insert: Store['insertFormatted']
  log: ScoreLogLogger
  /** Rows per insert, and the queue length that starts a flush before the interval ends. */
  flushRows: number
  /** Milliseconds between flushes, each of which also fdatasyncs the spool files written since the last. */
  flushMs: number
  spoolDir: string
  /** Largest size of the spool's files together; 0 turns the spool off, so rows are held in memory only. */
  spoolMaxBytes: number
  /** Rows queued in memory past which, while an insert runs, the queue is left to a replay of the spool. Default 10 x flushRows. */
  maxMemoryRows?: number
  /** Milliseconds before an insert is aborted and its rows left to a replay. Default 30,000. */
  insertTimeoutMs?: number
  /** Maximum wait between retries while inserts fail, in milliseconds. The wait starts at flushMs and doubles. Default 30,000. */
  maxRetryDelayMs?: number
  /** Shortest time between two warnings of one kind; repeats are counted in the next one. Default 60,000. */
  warnIntervalMs?: number
  /** Size past which the spool starts a new segment file. Default 4 MiB. */
  spoolSegmentBytes?: number
}

const TABLE = 'score_log'

/** Returns the first problem of a spooled row against the row schema, or undefined when it is valid. */
function rowProblem(row: Record<string, unknown>): string | undefined {
  const result = scoreLogRowSchema.safeParse(row)
  if (result.success) return undefined
  const issue = result.error.issues[0]
  return `${issue?.path.join('.') || 'row'}: ${issue?.message ?? 'invalid'}`
}

/**
 * Writes every recorded row to the spool before `record` returns, and
 * inserts the rows in batches off the request path. The spool is a
 * write-ahead journal: a row is deleted from it only with its whole segment,
 * once every row of the segment is inserted. The rows of the segment being
 * written are held in memory too and inserted from there. Once an insert
 * fails or the memory queue passes maxMemoryRows, the writer inserts the
 * rows still waiting from the files instead, oldest segment first, once the
 * store takes an insert again. A process that starts with segments left by
 * an earlier one, killed or not, replays them the same way.
 *
 * Before an insert of rows held in memory, a marker line in their segment
 * names the rows and the insert's token, and after the insert succeeds, a
 * second line says so. Each insert carries its token as
 * insert_deduplication_token, so rows that a killed process had sent, or
 * whose reply was lost, are stored once when they are sent again.
 */
export class ScoreLogWriter {
  private readonly options: Required<ScoreLogWriterOptions>
  private readonly spool: Spool
  /** Rows held in memory for their insert, each with its segment while the spool is on. */
  private readonly queue = new RowQueue<SpoolSegment>()
  /** Rows taken off the queue whose insert has not finished. */
  private transitRows = 0
  private opening: Promise<void> | undefined
  /** False while the spool is off (spoolMaxBytes 0), or once spoolError stopped its use. */
  private spoolOn: boolean
  /** Error that stopped the use of the spool: it could not be opened, or another writer holds its lock. */
  private spoolError: unknown
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
      log: options.log,
    })
    this.spoolOn = options.spoolMaxBytes > 0
  }

  /**
   * Takes the spool folder's lock, reads the spool a previous process left,
   * starts the flush timer and begins replaying the spool. The timer is unref'd, so it does not keep the
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
        if (this.spool.diskRows > 0) {
          this.options.log.info(
            {
              rows: this.spool.diskRows,
              bytes: this.spool.bytes,
              segments: this.spool.segmentCount,
            },
            'score_log spool has rows from an earlier run; replaying them',
          )
        }
      },
      (error: unknown) => this.stopUsingSpool(error),
    )
    return this.opening
  }

  /**
   * Stops writing rows to the spool and replaying it, for the rest of the
   * process, once it could not be opened or locked. Rows are then held in
   * memory only, and scoring goes on.
   */
  private stopUsingSpool(error: unknown): void {
    if (this.spoolError !== undefined) return
    this.spoolOn = false
    this.spoolError = error
    this.noteError(error)
    const dir = this.options.spoolDir
    if (error instanceof SpoolLockedError) {
      const { pid, startedAt } = error.owner
      this.options.log.error(
        { err: error, dir, ownerPid: pid, ownerStartedAt: startedAt },
        `score_log spool folder ${dir} is in use by process ${pid}; new rows are held in memory only and dropped when their insert fails. Set SEGMENTS_SCORE_LOG_SPOOL_DIR to a folder that no other server uses`,
      )
      return
    }
    this.options.log.error(
      { err: error, dir },
      'score_log spool could not be opened; new rows are held in memory only and dropped when their insert fails',
    )
  }

  /**
   * Encodes the scores of one call with the current request's id and time,
   * and writes them to the spool before returning, with a plain write and no
   * fsync. Rows that do not fit in the spool, or whose write fails, are
   * dropped and counted. It never waits on the store, so scoring goes on
   * whatever state the store is in.
   */
  record(batch: ScoredBatch): void {
    if (this.closing) {
      const rows = batch.contacts.length
      this.drop('closed', rows, {}, 'score_log rows recorded after close were dropped')
      return
    }
    let lines: string[]
    try {
      lines = encodeScoreLogLines(batch, Date.now())
    } catch (error) {
      const rows = batch.contacts.length
      this.drop(
        'build_error',
        rows,
        { err: error },
        'score_log rows could not be built; they are lost',
      )
      return
    }
    if (this.spoolOn) this.journal(lines)
    else this.queueWithoutSpool(lines)

    if (this.queue.length >= this.options.flushRows) void this.drain(false)
    if (this.draining && this.queue.length > this.options.maxMemoryRows) this.shedQueue()
  }

  /** Writes lines to the spool and queues the written ones in memory while their segment is in memory mode. */
  private journal(lines: string[]): void {
    let result: SpoolAppendResult
    try {
      result = this.spool.appendRows(lines, this.insertFailing ? 'disk' : 'memory')
    } catch (error) {
      // A writer that was not started takes the lock with its first append.
      if (error instanceof SpoolLockedError) {
        this.stopUsingSpool(error)
        this.queueWithoutSpool(lines)
        return
      }
      // A full disk or a folder deleted meanwhile: the rows are held in memory for their insert
      // instead, and dropped and counted only if that fails too.
      this.noteError(error)
      this.warn(
        'spool-write',
        { err: error, rows: lines.length, dir: this.options.spoolDir },
        'score_log spool write failed; the rows are held in memory only until their insert',
      )
      // Rows queued before stay queued: a spool folder deleted meanwhile has no copy to replay.
      this.queueWithoutSpool(lines)
      return
    }
    const { segment, first, written, rejected, text, sizes } = result
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
    if (segment?.mode !== 'memory') return
    this.queue.push(segment, first, text, sizes)
    segment.memoryRows += written
  }

  /** Queues lines in memory only, while the spool is off. */
  private queueWithoutSpool(lines: string[]): void {
    const sizes = lines.map((line) => Buffer.byteLength(line))
    this.queue.push(undefined, 0, lines.join(''), sizes)
  }

  /** Inserts the spooled and queued rows now, without waiting for a retry delay. */
  flush(): Promise<void> {
    return this.drain(true)
  }

  /**
   * Stops the timer, lets a flush in progress end, and inserts the rows still
   * queued in memory unless inserts are failing. Rows not inserted stay in
   * the spool for the next start, which is fdatasync'd before this resolves.
   */
  async close(): Promise<void> {
    if (this.closing) return
    this.closing = true
    clearInterval(this.timer)
    // A writer that never started and recorded nothing, as in a server that never listened, has
    // nothing to write, and must not take the folder's lock from the server that uses it.
    const untouched =
      this.opening === undefined && this.spooledRows === 0 && this.queue.length === 0
    if (!untouched) await this.openSpool()
    await this.draining
    while (this.queue.length > 0 && !this.insertFailing) {
      if (!(await this.insertFromMemory())) break
    }
    this.dropQueueWithoutSpool()
    await this.removeInsertedSegments()
    try {
      await this.spool.close()
    } catch (error) {
      this.noteError(error)
      this.options.log.error({ err: error }, 'score_log spool could not be synced and closed')
    }
    const { spoolRows, insertedRows } = this.state()
    this.options.log.info({ spoolRows, insertedRows }, 'score_log writer closed')
  }

  state(): ScoreLogState {
    return {
      memoryRows: this.queue.length + this.transitRows,
      spoolRows: this.spool.diskRows,
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
          // Every step below catches its own errors, so this is a bug; the rows stay in the spool.
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
    try {
      await this.spool.sync()
    } catch (error) {
      this.noteError(error)
      this.warn('spool-sync', { err: error }, "score_log spool files could not be fdatasync'd")
    }
    if (!force && this.insertFailing && Date.now() < this.retryAtMs) {
      this.dropQueueWithoutSpool()
      return
    }
    const replay = await this.replaySpool()
    if (replay === 'stopped') return
    if (replay === 'failed') {
      this.dropQueueWithoutSpool()
      return
    }
    // A drain inserts the rows queued when it began. Rows that arrive during its inserts wait for
    // the next interval unless a full batch of them is queued, so a busy server sends batches of
    // flushRows rows. Without this, each insert took the few rows of the previous one's 30 ms,
    // and the engine's inserts and merges took more CPU than the scoring.
    let owed = this.queue.length
    while (this.queue.length > 0 && !this.closing) {
      if (!force && owed <= 0 && this.queue.length < this.options.flushRows) break
      const queued = this.queue.length
      // insertFromMemory takes its batch off the queue before its first await.
      const inserting = this.insertFromMemory()
      owed -= queued - this.queue.length
      if (!(await inserting)) return
    }
    await this.removeInsertedSegments()
  }

  /** Inserts the segments in disk mode oldest first, deleting each once all its rows are stored. */
  private async replaySpool(): Promise<'done' | 'failed' | 'stopped'> {
    for (;;) {
      if (this.closing) return 'stopped'
      const segment = this.spool.oldestOnDisk()
      if (segment === undefined) return 'done'
      let parsed: ParsedSegment | undefined
      try {
        parsed = await this.spool.read(segment)
      } catch (error) {
        this.noteError(error)
        this.warn(
          'spool-read',
          { err: error, file: segment.file },
          'score_log spool could not be read',
        )
        return 'failed'
      }
      if (parsed === undefined) continue
      const plan = planReplay(parsed, this.options.flushRows, rowProblem)
      this.countBadLines(parsed, plan)
      for (const batch of plan.batches) {
        if (!(await this.insert(batch, segment.file))) return 'failed'
      }
      try {
        await this.spool.remove(segment)
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
   * Counts a segment's torn and invalid lines and rows as dropped, and logs
   * them, the first time the segment is read.
   */
  private countBadLines(parsed: ParsedSegment, plan: ReplayPlan): void {
    const { file, tornLine, invalidLines, invalidMarkers } = parsed
    if (this.countedSegments.has(file)) return
    this.countedSegments.add(file)
    if (tornLine) {
      this.drop(
        'torn_line',
        1,
        { file, line: tornLine.line },
        'score_log spool segment ends in a torn line, as a crash during a write leaves it; that row is lost',
      )
    }
    if (invalidLines.length + plan.invalidRows > 0) {
      const [first] = invalidLines
      this.drop(
        'invalid_line',
        invalidLines.length + plan.invalidRows,
        {
          file,
          invalidLines: invalidLines.length,
          invalidRows: plan.invalidRows,
          line: first?.line,
          lineProblem: first?.reason,
          rowProblem: plan.firstRowProblem,
        },
        'score_log spool segment has invalid lines or rows; they are lost and the valid rows are replayed',
      )
    }
    if (invalidMarkers.length + plan.changedMarkers > 0) {
      this.warn(
        'spool-marker',
        {
          file,
          invalidMarkers: invalidMarkers.length,
          changedMarkers: plan.changedMarkers,
          line: invalidMarkers[0]?.line,
        },
        'score_log spool segment has markers that do not match its rows; those rows are inserted under new tokens and may be stored twice',
      )
    }
  }

  /**
   * Takes a batch off the memory queue, writes its marker line and inserts
   * it. Returns false when the insert failed, or when the marker could not be
   * written, in which case the rows are left to a replay.
   */
  private async insertFromMemory(): Promise<boolean> {
    const batch = this.queue.take(this.options.flushRows)
    if (batch === undefined) return true
    const { segment, first, rows, body } = batch
    this.transitRows += rows

    let token: string
    let inserted = false
    try {
      // Hashed here, about 1.5 ms for 1,000 rows of 2 kB: hashing on the thread pool
      // copies the body twice, and that memory outside the heap starts mark-compacts.
      token = segment ? spoolToken(segment.file, first, [body]) : randomUUID()
      if (segment && !this.writeLine(segment, markerLine(token, first, rows))) {
        // Without a marker a replay could group the rows otherwise, under other tokens.
        this.queue.release(batch)
        this.leaveQueueToReplay()
        return false
      }
      inserted = await this.insert({ token, body, rows })
    } finally {
      this.transitRows -= rows
      if (segment) segment.memoryRows -= rows
    }

    if (!inserted) {
      // The body is not released for reuse, because after a timeout the engine may still read it.
      if (!segment) this.dropWithoutSpool(rows)
      this.leaveQueueToReplay()
      return false
    }
    this.queue.release(batch)
    if (segment) {
      segment.insertedRows += rows
      // Without this line a replay sends the rows again, and the store skips them by their token.
      this.writeLine(segment, insertedLine(token))
    }
    return true
  }

  /** Appends a marker or insert-result line; returns false, with a warning, when it is not written. */
  private writeLine(segment: SpoolSegment, line: string): boolean {
    try {
      if (this.spool.appendMeta(segment, line)) return true
      this.warn(
        'spool-marker-room',
        { file: segment.file, spoolBytes: this.spool.bytes },
        'score_log spool has no room for a marker line; the rows are inserted by a replay of the spool',
      )
    } catch (error) {
      this.noteError(error)
      this.warn(
        'spool-marker-write',
        { err: error, file: segment.file },
        'score_log spool marker write failed',
      )
    }
    return false
  }

  /**
   * Empties the memory queue of rows that are in the spool, and switches
   * every segment to disk mode, so a replay reads their rows from the files.
   */
  private leaveQueueToReplay(): void {
    if (!this.spoolOn && !this.queue.some((segment) => segment !== undefined)) return
    const removed = this.queue.removeWhere((segment) => segment !== undefined)
    for (const { segment, rows } of removed) {
      if (segment) segment.memoryRows -= rows
    }
    this.spool.moveAllToDisk()
  }

  /** Moves the queue out of memory once it passes maxMemoryRows while an insert runs. */
  private shedQueue(): void {
    if (this.spoolOn) {
      this.leaveQueueToReplay()
      return
    }
    const excess = this.queue.length - this.options.maxMemoryRows
    this.queue.dropOldest(excess)
    this.dropWithoutSpool(excess)
  }

  /** Drops the queued rows that are in memory only, because no spool has them while inserts fail. */
  private dropQueueWithoutSpool(): void {
    const removed = this.queue.removeWhere((segment) => segment === undefined)
    this.dropWithoutSpool(removed.reduce((sum, entry) => sum + entry.rows, 0))
  }

  private dropWithoutSpool(rows: number): void {
    if (rows === 0) return
    if (this.options.spoolMaxBytes === 0) {
      this.drop(
        'spool_full',
        rows,
        { spoolMaxBytes: 0 },
        'score_log rows could not be inserted and the spool is off (SEGMENTS_SCORE_LOG_SPOOL_MAX_BYTES is 0); they were dropped',
      )
    } else if (this.spoolError instanceof SpoolLockedError) {
      this.drop(
        'spool_error',
        rows,
        { dir: this.options.spoolDir, ownerPid: this.spoolError.owner.pid },
        'score_log rows could not be inserted and the spool folder is in use by another writer, as ownerPid shows; they were dropped',
      )
    } else {
      this.drop(
        'spool_error',
        rows,
        { dir: this.options.spoolDir },
        'score_log rows could not be inserted and the spool could not be opened or written; they were dropped',
      )
    }
  }

  /** Deletes the segments in memory mode whose rows are all inserted, the one being written included. */
  private async removeInsertedSegments(): Promise<void> {
    for (const segment of [...this.spool.list()]) {
      const done =
        segment.mode === 'memory' &&
        segment.memoryRows === 0 &&
        segment.insertedRows >= segment.rows
      if (!done) continue
      try {
        await this.spool.remove(segment)
      } catch (error) {
        this.noteError(error)
        this.warn(
          'spool-remove',
          { err: error, file: segment.file },
          'score_log spool segment could not be deleted',
        )
      }
    }
  }

  /** Inserts one batch; on failure records the error and the retry time, and returns false. */
  private async insert(batch: SpoolBatch, spoolFile?: string): Promise<boolean> {
    try {
      await this.options.insert({
        table: TABLE,
        format: 'JSONEachRow',
        body: batch.body,
        // async_insert is turned off because an asynchronous insert ignores the token.
        // NOTE: whether chDB stops an aborted insert was not checked; one it finishes is
        // replayed anyway and then skipped as a repeat by its token.
        // One thread per insert, so that the embedded engine parsing a batch leaves the other
        // CPUs to the requests.
        settings: {
          insert_deduplication_token: batch.token,
          async_insert: 0,
          input_format_parallel_parsing: 0,
          max_threads: 1,
          max_insert_threads: '1',
        },
        signal: AbortSignal.timeout(this.options.insertTimeoutMs),
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
        { err: error, rows: batch.rows, token: batch.token, file: spoolFile, retryInMs: delay },
        `score_log insert failed; rows wait in the spool in ${this.options.spoolDir} until the store takes inserts again`,
      )
      return false
    }
    if (this.insertFailing) {
      this.options.log.info(
        { failures: this.consecutiveFailures, spoolRows: this.spool.diskRows },
        'score_log inserts succeed again; replaying the spool',
      )
    }
    this.insertFailing = false
    this.consecutiveFailures = 0
    this.insertedRows += batch.rows
    return true
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
 * `overrides` replaces options, such as the insert function in tests.
 */
export function registerScoreLog(
  app: FastifyInstance,
  service: ScoringService,
  overrides: Partial<ScoreLogWriterOptions> = {},
): ScoreLogWriter {
  const { scoreLog } = service.config
  const writer = new ScoreLogWriter({
    insert: (insert) => service.store.insertFormatted(insert),
    log: app.log,
    ...scoreLog,
    ...overrides,
  })
  service.scoreLog = writer
  // Started once the port is bound, so a second server that fails to listen on the same
  // configuration never replays, and deletes, the spool of the one already running.
  app.addHook('onListen', () => writer.start())
  app.addHook('onClose', async () => {
    await writer.close()
    if (service.scoreLog === writer) service.scoreLog = undefined
  })
  return writer
}
