/**
 * Rows waiting for their score_log insert, held as UTF-8 bytes.
 *
 * Rows are written into large buffers outside the JS heap, with their line
 * ends in typed arrays, so that a queue of thousands of rows is a few
 * objects. The buffers are reused once their rows are inserted, because
 * V8 counts memory allocated outside the heap towards starting a
 * mark-compact. With a new buffer per request or per insert, the serving
 * benchmark ran a mark-compact every 0.4 to 1 s, each stalling the event
 * loop for 20 to 40 ms. With an object and a buffer view per row, as before,
 * every row that waited the flush interval was promoted to the old
 * generation, with the same effect.
 */

/** Size of a chunk's buffer. A push larger than this gets a chunk of its own size, not reused. */
const CHUNK_BYTES = 4 * 1024 * 1024
/** Row capacity of a chunk's line-end array at first; it doubles as needed. */
const CHUNK_ROWS = 1024
/** Spare chunk buffers kept for reuse; more are left to the garbage collector. */
const MAX_SPARE_CHUNKS = 4

/** Rows pushed back to back for one segment, in one buffer. */
interface Chunk<Segment> {
  segment: Segment | undefined
  /** Ordinal in its segment of the chunk's row 0. */
  base: number
  data: Buffer
  /** Bytes of `data` in use. */
  used: number
  /** ends[i] is the byte offset in `data` where row i ends. */
  ends: Uint32Array
  /** Rows pushed into the chunk. */
  count: number
  /** Rows already taken or dropped from the front of the chunk. */
  start: number
  /** Bodies taken from the chunk and not yet released. */
  lent: number
  /** True once the chunk left the queue, so that it takes no more rows. */
  closed: boolean
}

/** Consecutive rows of one segment, taken off the queue for one insert. */
export interface QueuedRows<Segment> {
  segment: Segment | undefined
  /** Ordinal in its segment of the first row. */
  first: number
  rows: number
  /** The rows' lines back to back: a view of the queue's buffer, valid until `release`. */
  body: Buffer
}

/** Rows removed from the queue, per chunk. */
export interface RemovedRows<Segment> {
  segment: Segment | undefined
  rows: number
}

/**
 * FIFO queue of row lines, each row belonging to a segment and numbered by
 * its ordinal in it, or to no segment and unnumbered. Rows of one segment
 * pushed with consecutive ordinals share a chunk, and so do unnumbered rows.
 */
export class RowQueue<Segment> {
  private chunks: Chunk<Segment>[] = []
  private rowCount = 0
  private readonly spare: Buffer[] = []
  /** The chunk of each body lent out and not yet released. */
  private readonly lentFrom = new WeakMap<Buffer, Chunk<Segment>>()

  /** Rows queued. */
  get length(): number {
    return this.rowCount
  }

  /**
   * Appends rows whose lines are `text` back to back, `sizes[i]` UTF-8 bytes
   * each. `first` is the ordinal of the first row in `segment`.
   */
  push(segment: Segment | undefined, first: number, text: string, sizes: ArrayLike<number>): void {
    if (sizes.length === 0) return
    let bytes = 0
    for (let i = 0; i < sizes.length; i++) bytes += sizes[i] as number
    const last = this.chunks[this.chunks.length - 1]
    const chunk =
      last !== undefined &&
      last.segment === segment &&
      (segment === undefined || last.base + last.count === first) &&
      last.used + bytes <= last.data.length
        ? last
        : this.openChunk(segment, first, bytes)
    chunk.data.write(text, chunk.used, bytes, 'utf8')
    if (chunk.count + sizes.length > chunk.ends.length) {
      const grown = new Uint32Array(Math.max(2 * chunk.ends.length, chunk.count + sizes.length))
      grown.set(chunk.ends.subarray(0, chunk.count))
      chunk.ends = grown
    }
    let end = chunk.used
    for (let i = 0; i < sizes.length; i++) {
      end += sizes[i] as number
      chunk.ends[chunk.count + i] = end
    }
    chunk.used = end
    chunk.count += sizes.length
    this.rowCount += sizes.length
  }

  /**
   * Takes up to `maxRows` rows from the front of the first chunk, which are
   * consecutive rows of one segment, or returns undefined when the queue is
   * empty. Pass the result to `release` once the body is no longer read.
   */
  take(maxRows: number): QueuedRows<Segment> | undefined {
    const chunk = this.chunks[0]
    if (chunk === undefined || maxRows < 1) return undefined
    const rows = Math.min(maxRows, chunk.count - chunk.start)
    const from = chunk.start === 0 ? 0 : (chunk.ends[chunk.start - 1] as number)
    const to = chunk.ends[chunk.start + rows - 1] as number
    const batch: QueuedRows<Segment> = {
      segment: chunk.segment,
      first: chunk.base + chunk.start,
      rows,
      body: chunk.data.subarray(from, to),
    }
    chunk.start += rows
    chunk.lent++
    this.lentFrom.set(batch.body, chunk)
    this.rowCount -= rows
    if (chunk.start === chunk.count) this.closeChunk(chunk)
    return batch
  }

  /** Ends the loan of a taken body, so that its buffer can be reused. */
  release(batch: QueuedRows<Segment>): void {
    const chunk = this.lentFrom.get(batch.body)
    if (chunk === undefined) return
    this.lentFrom.delete(batch.body)
    chunk.lent--
    this.recycle(chunk)
  }

  /** Returns true when some queued row's segment passes `test`. */
  some(test: (segment: Segment | undefined) => boolean): boolean {
    return this.chunks.some((chunk) => chunk.start < chunk.count && test(chunk.segment))
  }

  /** Removes every row whose segment passes `test`, and returns the removed rows per chunk. */
  removeWhere(test: (segment: Segment | undefined) => boolean): RemovedRows<Segment>[] {
    const removed: RemovedRows<Segment>[] = []
    for (const chunk of [...this.chunks]) {
      if (!test(chunk.segment)) continue
      const rows = chunk.count - chunk.start
      if (rows > 0) removed.push({ segment: chunk.segment, rows })
      this.rowCount -= rows
      chunk.start = chunk.count
      this.closeChunk(chunk)
    }
    return removed
  }

  /** Removes the `count` oldest rows, or all of them when fewer are queued. */
  dropOldest(count: number): void {
    let left = Math.min(count, this.rowCount)
    while (left > 0) {
      const chunk = this.chunks[0] as Chunk<Segment>
      const dropped = Math.min(left, chunk.count - chunk.start)
      chunk.start += dropped
      left -= dropped
      this.rowCount -= dropped
      if (chunk.start === chunk.count) this.closeChunk(chunk)
    }
  }

  /** Appends a chunk that takes `bytes`, on a spare buffer when one is large enough. */
  private openChunk(segment: Segment | undefined, base: number, bytes: number): Chunk<Segment> {
    const data =
      bytes <= CHUNK_BYTES
        ? (this.spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES))
        : Buffer.allocUnsafeSlow(bytes)
    const chunk: Chunk<Segment> = {
      segment,
      base,
      data,
      used: 0,
      ends: new Uint32Array(CHUNK_ROWS),
      count: 0,
      start: 0,
      lent: 0,
      closed: false,
    }
    this.chunks.push(chunk)
    return chunk
  }

  /** Takes an emptied chunk out of the queue, and keeps its buffer once nothing reads it. */
  private closeChunk(chunk: Chunk<Segment>): void {
    chunk.closed = true
    this.chunks = this.chunks.filter((entry) => entry !== chunk)
    this.recycle(chunk)
  }

  private recycle(chunk: Chunk<Segment>): void {
    if (!chunk.closed || chunk.lent > 0) return
    if (chunk.data.length === CHUNK_BYTES && this.spare.length < MAX_SPARE_CHUNKS) {
      this.spare.push(chunk.data)
    }
    // A later push must not write into a buffer that may be reused elsewhere.
    chunk.data = EMPTY
  }
}

const EMPTY = Buffer.alloc(0)
