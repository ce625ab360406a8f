/**
 * Micro-batching of model calls: the rows of concurrent requests are joined
 * into one call of up to `maxRows` rows, made once the batch is full or
 * `maxWaitMs` after its first rows arrived. With a wait of 0 the call is made
 * at the end of the event-loop turn, after the I/O callbacks of that turn, so
 * requests read in the same turn share it and none waits for a timer. A
 * request larger than `maxRows` is split over several calls. Each request
 * gets back exactly its own results in order, and a call that fails rejects
 * only the requests that had rows in it.
 */
import { createMatrix } from '../src/ml/matrix.ts'
import type { ScoringModel } from './model.ts'
import { scoreRows, type ContactScore } from './scoring.ts'

/** Rows of one request, or a piece of them, waiting in a batch. */
interface Piece<Row, Result> {
  rows: Row[]
  resolve(results: Result[]): void
  reject(error: unknown): void
}

interface Batch<Row, Result> {
  pieces: Piece<Row, Result>[]
  rows: number
  /** Cancels the pending call of a batch that is flushed early because it is full. */
  cancelTimer: (() => void) | undefined
}

/** Sizes of one model call, as the metrics record them. */
export interface BatchEvent {
  rows: number
  /** Requests, or pieces of split requests, that shared the call. */
  requests: number
}

export interface BatcherOptions<Group, Row, Result> {
  /** Maximum rows in one call, at least 1. */
  maxRows: number
  /** Maximum wait in ms for more rows before a call. With 0, the call ends the event-loop turn. */
  maxWaitMs: number
  /** The model call: returns one result per row, in order. */
  run(group: Group, rows: Row[]): Result[] | Promise<Result[]>
  /** Called before each call. */
  onBatch?(event: BatchEvent): void
}

/**
 * Batches calls per group: rows are only joined with rows of the same group,
 * such as the same model object, compared by identity.
 */
export class Batcher<Group, Row, Result> {
  private readonly pending = new Map<Group, Batch<Row, Result>>()
  private readonly options: BatcherOptions<Group, Row, Result>

  constructor(options: BatcherOptions<Group, Row, Result>) {
    if (!(Number.isInteger(options.maxRows) && options.maxRows >= 1)) {
      throw new RangeError(
        `Invalid batch size ${options.maxRows}: expected an integer of at least 1`,
      )
    }
    if (!(options.maxWaitMs >= 0)) {
      throw new RangeError(`Invalid batch wait ${options.maxWaitMs} ms: expected 0 or more`)
    }
    this.options = options
  }

  /** Runs `rows` through one or more batched calls and returns their results in the order given. */
  async submit(group: Group, rows: Row[]): Promise<Result[]> {
    const { maxRows, maxWaitMs } = this.options
    const parts: Promise<Result[]>[] = []
    let start = 0
    while (start < rows.length) {
      const batch = this.openBatch(group)
      const take = Math.min(maxRows - batch.rows, rows.length - start)
      parts.push(addPiece(batch, rows.slice(start, start + take)))
      start += take
      if (batch.rows >= maxRows) this.flush(group, batch)
    }
    return (await Promise.all(parts)).flat()
  }

  /** Returns the group's batch that is still filling, opening one with its timer if none is. */
  private openBatch(group: Group): Batch<Row, Result> {
    const existing = this.pending.get(group)
    if (existing) return existing
    const batch = newBatch<Row, Result>()
    const { maxWaitMs } = this.options
    if (maxWaitMs === 0) {
      const immediate = setImmediate(() => this.flush(group, batch))
      batch.cancelTimer = () => clearImmediate(immediate)
    } else {
      const timeout = setTimeout(() => this.flush(group, batch), maxWaitMs)
      batch.cancelTimer = () => clearTimeout(timeout)
    }
    this.pending.set(group, batch)
    return batch
  }

  private flush(group: Group, batch: Batch<Row, Result>): void {
    batch.cancelTimer?.()
    if (this.pending.get(group) === batch) this.pending.delete(group)
    void this.call(group, batch.pieces)
  }

  /** Makes one model call over the pieces' rows and hands each piece its slice of the results. */
  private async call(group: Group, pieces: Piece<Row, Result>[]): Promise<void> {
    const rows = pieces.flatMap((piece) => piece.rows)
    try {
      this.options.onBatch?.({ rows: rows.length, requests: pieces.length })
      const results = await this.options.run(group, rows)
      if (results.length !== rows.length) {
        throw new Error(`Model call returned ${results.length} results for ${rows.length} rows`)
      }
      let offset = 0
      for (const piece of pieces) {
        piece.resolve(results.slice(offset, offset + piece.rows.length))
        offset += piece.rows.length
      }
    } catch (error) {
      for (const piece of pieces) piece.reject(error)
    }
  }
}

function newBatch<Row, Result>(): Batch<Row, Result> {
  return { pieces: [], rows: 0, cancelTimer: undefined }
}

/** Adds rows to a batch and returns the promise of their results. */
function addPiece<Row, Result>(batch: Batch<Row, Result>, rows: Row[]): Promise<Result[]> {
  batch.rows += rows.length
  return new Promise<Result[]>((resolve, reject) => {
    batch.pieces.push({ rows, resolve, reject })
  })
}

/** One contact's row for the model call: features in bundle order and its opens per hour of the week. */
export interface ScoreRow {
  features: Float64Array
  weekOpens: ArrayLike<number> | undefined
}

export type ScoreBatcher = Batcher<ScoringModel, ScoreRow, ContactScore>

/** Batches `scoreRows` calls per model object. */
export function createScoreBatcher(
  options: { maxRows: number; maxWaitMs: number },
  onBatch?: (event: BatchEvent) => void,
): ScoreBatcher {
  return new Batcher<ScoringModel, ScoreRow, ContactScore>({
    ...options,
    run: scoreRowList,
    ...(onBatch ? { onBatch } : {}),
  })
}

/** Copies the rows into one matrix and scores it in one `scoreRows` call. */
export function scoreRowList(model: ScoringModel, rows: readonly ScoreRow[]): ContactScore[] {
  const names = model.manifest.featureNames
  const matrix = createMatrix(rows.length, names.length)
  rows.forEach((row, i) => matrix.data.set(row.features, i * names.length))
  return scoreRows(
    model,
    names,
    matrix,
    rows.map((row) => row.weekOpens),
  )
}
