/**
 * Writes JSON records into numbered files that each hold one JSON array of bounded length. One
 * file write at a time runs in the background while the caller produces the next batch.
 *
 * Records are encoded into a byte buffer as they arrive. Keeping thousands of record strings
 * until the file is written made them survive into the old generation, and garbage collection
 * then took a third of the run time.
 */
import { mkdir, readdir, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

const INITIAL_BUFFER_BYTES = 1 << 20
/** Records joined into one string before encoding, to save native calls per record. */
const RECORDS_PER_CHUNK = 200

export class JsonBatchWriter {
  /** Paths written so far, relative to the output folder, with '/' separators. */
  readonly files: string[] = []
  private buffer: Buffer = Buffer.allocUnsafe(INITIAL_BUFFER_BYTES)
  private usedBytes = 0
  private records = 0
  private chunk: string[] = []
  private pendingWrite: Promise<void> = Promise.resolve()

  /**
   * @param outDir the output folder
   * @param folder subfolder for the batches, for example 'sendgrid'
   * @param prefix start of each file name, for example 'batch' for `batch-00001.json`
   * @param maxRecords most records per file
   */
  constructor(
    private readonly outDir: string,
    private readonly folder: string,
    private readonly prefix: string,
    private readonly maxRecords: number,
  ) {}

  /**
   * Creates the subfolder and deletes batch files of an earlier run in it, so that a shorter
   * run does not leave stale batches behind. Other files in the folder stay.
   */
  async prepare(): Promise<void> {
    const dir = join(this.outDir, this.folder)
    await mkdir(dir, { recursive: true })
    const pattern = new RegExp(`^${this.prefix}-\\d{5,}\\.json$`)
    for (const name of await readdir(dir)) {
      if (pattern.test(name)) await unlink(join(dir, name))
    }
  }

  get isFull(): boolean {
    return this.records >= this.maxRecords
  }

  /** Adds the JSON text of one record. Call `flush` when `isFull` turns true. */
  add(json: string): void {
    this.chunk.push(json)
    this.records += 1
    if (this.chunk.length >= RECORDS_PER_CHUNK) this.encodeChunk()
  }

  private encodeChunk(): void {
    if (this.chunk.length === 0) return
    const separator = this.usedBytes === 0 ? '[\n' : ',\n'
    const text = separator + this.chunk.join(',\n')
    this.chunk = []
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    this.reserve(text.length * 3)
    this.usedBytes += this.buffer.write(text, this.usedBytes)
  }

  private reserve(bytes: number): void {
    const needed = this.usedBytes + bytes
    if (needed <= this.buffer.length) return
    const bigger = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2))
    this.buffer.copy(bigger, 0, 0, this.usedBytes)
    this.buffer = bigger
  }

  /**
   * Starts writing the buffered records as the next numbered file, if there are any, after the
   * previous write has finished. Call `close` to wait for the last write.
   */
  async flush(): Promise<void> {
    if (this.records === 0) return
    const name = `${this.prefix}-${String(this.files.length + 1).padStart(5, '0')}.json`
    this.encodeChunk()
    this.reserve(3)
    this.usedBytes += this.buffer.write('\n]\n', this.usedBytes)
    const bytes = this.buffer.subarray(0, this.usedBytes)
    this.files.push(`${this.folder}/${name}`)
    // The write in flight keeps its buffer, so the next file gets a fresh one of the same size.
    this.buffer = Buffer.allocUnsafe(this.buffer.length)
    this.usedBytes = 0
    this.records = 0
    await this.pendingWrite
    this.pendingWrite = writeFile(join(this.outDir, this.folder, name), bytes)
  }

  /** Writes the remaining records and waits until every file is on disk. */
  async close(): Promise<void> {
    await this.flush()
    await this.pendingWrite
  }
}
