import { createReadStream } from 'node:fs'
import { mkdir, open, readdir, readFile, stat, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'

/** Rows that one insert carries, with the id that makes a repeated insert of them a no-op. */
export interface SpoolBatch {
  id: string
  rows: unknown[]
}

/** A line of a segment that was dropped on reading, numbered from 1. */
export interface SpoolBadLine {
  line: number
  reason: string
}

/** The batches of one closed segment file, in the order they were written. */
export interface SpoolSegment {
  file: string
  batches: SpoolBatch[]
  /** Last line without its line feed, as a crash in the middle of a write leaves it. */
  tornLine: SpoolBadLine | undefined
  /** Complete lines that are not a valid entry. */
  invalidLines: SpoolBadLine[]
}

export interface SpoolOptions {
  dir: string
  /** Largest size of all segment files together; lines past it are not written. */
  maxBytes: number
  /** Size past which the next append starts a new segment file. */
  segmentBytes?: number
}

/** Result of one append: rows written and fsync'd, and rows that did not fit under maxBytes. */
export interface SpoolAppendResult {
  written: number
  rejected: number
}

const SEGMENT_NAME = /^score-log-(\d{12})\.jsonl$/
const DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024
const LINE_FEED = 0x0a

const segmentName = (sequence: number) => `score-log-${String(sequence).padStart(12, '0')}.jsonl`

interface SegmentInfo {
  file: string
  sequence: number
  bytes: number
  /** Complete lines, so rows that a replay can find. */
  lines: number
}

/** Counts the line feeds of a file without reading it into memory at once. */
async function countLines(path: string): Promise<number> {
  let lines = 0
  for await (const chunk of createReadStream(path)) {
    const bytes = chunk as Buffer
    for (
      let index = bytes.indexOf(LINE_FEED);
      index !== -1;
      index = bytes.indexOf(LINE_FEED, index + 1)
    ) {
      lines++
    }
  }
  return lines
}

/**
 * Append-only segment files of JSON lines in one folder, each line
 * `{"batch":"<id>","row":{...}}`. Appends are fsync'd before they resolve, a
 * new segment's folder entry is fsync'd too, and segments are read back oldest
 * first. A process appends only to a segment it created, so the torn line a
 * crash leaves is always the last line of its segment. All file work runs one
 * operation at a time.
 *
 * NOTE: two processes must not share one folder, because nothing locks it and
 * both would replay and delete the same segments.
 */
export class Spool {
  readonly dir: string
  readonly maxBytes: number
  private readonly segmentBytes: number
  private segments: SegmentInfo[] = []
  private active: { info: SegmentInfo; handle: FileHandle } | undefined
  private nextSequence = 1
  private queue: Promise<unknown> = Promise.resolve()
  private opened = false

  constructor(options: SpoolOptions) {
    this.dir = options.dir
    this.maxBytes = options.maxBytes
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES
  }

  /** Size of every segment file together, in bytes. */
  get bytes(): number {
    return this.segments.reduce((sum, segment) => sum + segment.bytes, 0)
  }

  /** Complete lines in every segment file together, one row each. */
  get rows(): number {
    return this.segments.reduce((sum, segment) => sum + segment.lines, 0)
  }

  get segmentCount(): number {
    return this.segments.length
  }

  /**
   * Lists the segments a previous process left, with their sizes and line
   * counts. The folder is created by the first append, so opening a spool that
   * never held rows writes nothing.
   */
  open(): Promise<void> {
    return this.run(async () => {
      if (this.opened) return
      let names: string[] = []
      try {
        names = await readdir(this.dir)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      }
      const found: SegmentInfo[] = []
      for (const file of names) {
        const match = SEGMENT_NAME.exec(file)
        if (!match) continue
        const path = join(this.dir, file)
        const { size } = await stat(path)
        found.push({ file, sequence: Number(match[1]), bytes: size, lines: await countLines(path) })
      }
      found.sort((a, b) => a.sequence - b.sequence)
      this.segments = found
      this.nextSequence = (found.at(-1)?.sequence ?? 0) + 1
      this.opened = true
    })
  }

  /**
   * Appends a batch as one line per row and fsyncs the file. Rows are written
   * in order while they fit under maxBytes, the rest are rejected, and the
   * result counts both. A failed write closes the segment, so the
   * next append starts a new file after whatever partial line it left.
   */
  append(batch: SpoolBatch): Promise<SpoolAppendResult> {
    return this.run(async () => {
      this.assertOpened()
      const lines: string[] = []
      let size = 0
      const room = this.maxBytes - this.bytes
      for (const row of batch.rows) {
        const line = `${JSON.stringify({ batch: batch.id, row })}\n`
        const lineBytes = Buffer.byteLength(line)
        if (size + lineBytes > room) break
        lines.push(line)
        size += lineBytes
      }
      const rejected = batch.rows.length - lines.length
      if (lines.length === 0) return { written: 0, rejected }

      const { info, handle } = await this.activeSegment()
      try {
        await handle.write(lines.join(''))
        await handle.datasync()
      } catch (error) {
        await this.closeActive()
        // The file may hold part of the lines, so its size is read back.
        info.bytes = await stat(join(this.dir, info.file)).then(
          (stats) => stats.size,
          () => info.bytes,
        )
        throw error
      }
      info.bytes += size
      info.lines += lines.length
      return { written: lines.length, rejected }
    })
  }

  /**
   * Reads the oldest segment, closing it first when it is the one appends go
   * to, so it cannot change while its batches are inserted. Consecutive lines
   * with the same batch id form one batch. Returns undefined when the spool is
   * empty.
   */
  readOldest(): Promise<SpoolSegment | undefined> {
    return this.run(async () => {
      this.assertOpened()
      for (;;) {
        const oldest = this.segments[0]
        if (!oldest) return undefined
        if (this.active?.info === oldest) await this.closeActive()
        try {
          const text = await readFile(join(this.dir, oldest.file), 'utf8')
          return parseSegment(oldest.file, text)
        } catch (error) {
          // Another process that replayed this folder deleted the segment after inserting it.
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
          this.segments.shift()
        }
      }
    })
  }

  /** Deletes a segment whose batches are all stored. */
  remove(file: string): Promise<void> {
    return this.run(async () => {
      const index = this.segments.findIndex((segment) => segment.file === file)
      if (index === -1) return
      if (this.active?.info.file === file) await this.closeActive()
      await unlink(join(this.dir, file)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error
      })
      this.segments.splice(index, 1)
    })
  }

  /** Closes the segment appends go to; its rows stay on disk for the next process. */
  close(): Promise<void> {
    return this.run(() => this.closeActive())
  }

  private assertOpened(): void {
    if (!this.opened) throw new Error(`Spool ${this.dir} is used before open()`)
  }

  private async activeSegment(): Promise<{ info: SegmentInfo; handle: FileHandle }> {
    if (this.active && this.active.info.bytes < this.segmentBytes) return this.active
    await this.closeActive()
    await mkdir(this.dir, { recursive: true })
    const sequence = this.nextSequence++
    const file = segmentName(sequence)
    // 'wx' fails if the file exists, so a segment of another process is never appended to.
    const handle = await open(join(this.dir, file), 'wx')
    await syncFolder(this.dir)
    const info: SegmentInfo = { file, sequence, bytes: 0, lines: 0 }
    this.segments.push(info)
    this.active = { info, handle }
    return this.active
  }

  private async closeActive(): Promise<void> {
    const active = this.active
    this.active = undefined
    await active?.handle.close()
  }

  /** Runs file work after the work queued before it, whether that succeeded or not. */
  private run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work, work)
    this.queue = result.catch(() => undefined)
    return result
  }
}

/** Makes a new file's folder entry durable, as fsync on the file alone does not. */
async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Splits a segment's text into batches, setting aside a torn last line and invalid lines. */
export function parseSegment(file: string, text: string): SpoolSegment {
  const lines = text.split('\n')
  // Text that ends with a line feed splits into a last empty string; anything else there is torn.
  const last = lines.pop() as string
  const tornLine = last === '' ? undefined : { line: lines.length + 1, reason: 'no line feed' }
  const batches: SpoolBatch[] = []
  const invalidLines: SpoolBadLine[] = []
  lines.forEach((line, index) => {
    let entry: unknown
    try {
      entry = JSON.parse(line)
    } catch (error) {
      invalidLines.push({ line: index + 1, reason: `invalid JSON: ${(error as Error).message}` })
      return
    }
    const { batch, row } = (entry ?? {}) as { batch?: unknown; row?: unknown }
    if (typeof batch !== 'string' || batch === '') {
      invalidLines.push({ line: index + 1, reason: '"batch" must be a non-empty string' })
      return
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      invalidLines.push({ line: index + 1, reason: '"row" must be an object' })
      return
    }
    const current = batches.at(-1)
    if (current?.id === batch) current.rows.push(row)
    else batches.push({ id: batch, rows: [row] })
  })
  return { file, batches, tornLine, invalidLines }
}
