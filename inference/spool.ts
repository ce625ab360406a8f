import { createHash } from 'node:crypto'
import {
  createReadStream,
  closeSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { fdatasync } from 'node:fs'
import { open, readdir, readFile, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const fdatasyncAsync = promisify(fdatasync)

/**
 * One segment file of the spool, with the writer's accounting of its rows.
 * `rows - insertedRows - memoryRows` rows are on disk only and wait for a
 * replay.
 */
export interface SpoolSegment {
  readonly file: string
  readonly sequence: number
  /** Size of the file in bytes. */
  bytes: number
  /** Complete row lines, so rows that a replay can find. */
  rows: number
  /** Rows whose insert succeeded. */
  insertedRows: number
  /** Rows that the writer also holds in memory, queued or in an insert. */
  memoryRows: number
  /**
   * `memory` while the writer holds every row of the segment that it has not
   * inserted, so it inserts them from memory; `disk` once a replay has to read
   * them from the file.
   */
  mode: 'memory' | 'disk'
}

interface SegmentFile extends SpoolSegment {
  /** Descriptor open for appends, or undefined once closed. */
  fd: number | undefined
  /** False once the segment takes no more lines: it is read, deleted, or a write to it failed. */
  writable: boolean
  /** True after a write since the last fdatasync. */
  unsynced: boolean
}

/** Logger of the spool's warnings, such as a pino or fastify logger. */
export interface SpoolLogger {
  warn(details: object, message: string): void
}

export interface SpoolOptions {
  dir: string
  /** Largest size of all segment files together; lines past it are not written. */
  maxBytes: number
  /** Size past which the next append starts a new segment file. */
  segmentBytes?: number
  /** Receives the warnings about the folder's lock file, such as a stale lock taken over. */
  log?: SpoolLogger
}

/** Result of one row append: where the written rows are, and how many did not fit under maxBytes. */
export interface SpoolAppendResult {
  /** Segment of the written rows, undefined when none was written. */
  segment: SpoolSegment | undefined
  /** Row ordinal of the first written row in its segment, counted from 0. */
  first: number
  written: number
  rejected: number
  /** The written lines back to back, as written to the file. */
  text: string
  /** UTF-8 byte length of each written line. */
  sizes: number[]
}

/** A row line of a segment, numbered by its place among the segment's row lines. */
export interface SpoolRowLine {
  /** Line number in the file, from 1. */
  line: number
  /** The line as written, line feed included. */
  text: string
  /** The parsed row, or undefined when the line is not a JSON object. */
  row: Record<string, unknown> | undefined
  /** Batch id of a line written by the earlier `{"batch","row"}` format, which is its insert token. */
  legacyBatch?: string
}

/** A marker line: rows `first` to `first + rows - 1` were sent in one insert with `token`. */
export interface SpoolMarker {
  line: number
  token: string
  first: number
  rows: number
}

/** A line of a segment that was dropped on reading, numbered from 1. */
export interface SpoolBadLine {
  line: number
  reason: string
}

/** The parsed lines of one segment file. */
export interface ParsedSegment {
  file: string
  /** Row lines in file order; a row's ordinal is its index here. */
  rows: SpoolRowLine[]
  markers: SpoolMarker[]
  /** Tokens of the inserts that succeeded. */
  inserted: Set<string>
  /** Last row line without its line feed, as a crash in the middle of a write leaves it. */
  tornLine: SpoolBadLine | undefined
  /** Row lines that are not a JSON object; each one is counted as a row, so later ordinals stay in place. */
  invalidLines: SpoolBadLine[]
  /** Marker lines that cannot be read; the rows they named are inserted under new tokens. */
  invalidMarkers: SpoolBadLine[]
}

const SEGMENT_NAME = /^score-log-(\d{12})\.jsonl$/
const DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024
const LINE_FEED = 0x0a
/** Marker and insert-result lines start with this; row lines never do. */
const META_PREFIX = '{"insert'
const META_PREFIX_BYTES = Buffer.from(META_PREFIX)
/** Tries at a free segment name before an append fails, in case another process writes the folder. */
const MAX_NAME_TRIES = 1000

const segmentName = (sequence: number) => `score-log-${String(sequence).padStart(12, '0')}.jsonl`

/** Lock file of the folder. SEGMENT_NAME never matches it, so it is not listed as a segment. */
export const LOCK_FILE = 'spool.lock'
/** Tries at creating the lock file, each after a stale lock was moved away, before taking the lock fails. */
const MAX_LOCK_TRIES = 3
/** Maximum number of characters of an invalid lock file that a warning quotes. */
const MAX_QUOTED_LOCK_CHARS = 200
/** Start time of this process, written into its lock files for the people who read them. */
const PROCESS_STARTED_AT = new Date(performance.timeOrigin).toISOString()

/** Real paths of the lock files that spools of this process hold. */
const heldLocks = new Set<string>()

/** Process that holds a spool folder's lock, as its lock file names it. */
export interface SpoolLockOwner {
  pid: number
  /** Start time of that process as an ISO 8601 string, or undefined when the file has none. */
  startedAt: string | undefined
}

/** Error of a spool whose folder is locked by a running process, this process included. */
export class SpoolLockedError extends Error {
  readonly dir: string
  readonly owner: SpoolLockOwner

  constructor(dir: string, owner: SpoolLockOwner) {
    const started = owner.startedAt === undefined ? '' : `, started ${owner.startedAt}`
    super(`spool folder ${dir} is locked by process ${owner.pid}${started}`)
    this.name = 'SpoolLockedError'
    this.dir = dir
    this.owner = owner
  }
}

/** Lock file held by one spool. */
interface HeldLock {
  path: string
  /** Real path of the lock file, the key in heldLocks. */
  realPath: string
  /** Content as written, to tell it from a lock that another process wrote in its place. */
  text: string
}

/** Parses a lock file into its owner, or returns the reason it is invalid. */
function parseLock(text: string): SpoolLockOwner | string {
  let entry: unknown
  try {
    entry = JSON.parse(text)
  } catch (error) {
    return `invalid JSON: ${(error as Error).message}`
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    return 'expected a JSON object'
  }
  const { pid, startedAt } = entry as Record<string, unknown>
  // Pid 0 and negative pids name process groups in kill(2), so they are never a lock's owner.
  if (!Number.isSafeInteger(pid) || (pid as number) <= 0) {
    return '"pid" must be a positive integer'
  }
  return { pid: pid as number, startedAt: typeof startedAt === 'string' ? startedAt : undefined }
}

/**
 * Returns whether the process that a lock names is running. Callers check
 * heldLocks first, so a lock with this process's own pid was left by an
 * earlier process with the same pid, as the first process of a restarted
 * container often has.
 * NOTE: a pid that the system gave to another process after the owner died
 * looks running, so such a lock is never taken over until it is deleted.
 */
function isLockOwnerRunning(pid: number): boolean {
  if (pid === process.pid) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM means that the process runs under another user.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}

/** Creates the lock file with its content and returns true, or returns false when it exists. */
function createLockFile(path: string, text: string): boolean {
  let fd: number
  try {
    fd = openSync(path, 'wx')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  }
  try {
    writeSync(fd, text)
  } catch (error) {
    closeSync(fd)
    unlinkSync(path)
    throw error
  }
  closeSync(fd)
  return true
}

/**
 * Deletes a stale lock file if it still has the content that was judged
 * stale, and returns whether it did. The file is renamed away before the
 * check, so a lock that another process created after the read is renamed
 * back, not deleted.
 */
function removeStaleLock(path: string, staleText: string): boolean {
  const moved = `${path}.${process.pid}.stale`
  try {
    renameSync(path, moved)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
  if (readFileSync(moved, 'utf8') === staleText) {
    unlinkSync(moved)
    return true
  }
  // NOTE: a third process that locks the folder between these two renames loses its lock.
  renameSync(moved, path)
  return false
}

/** Counts the complete lines of a file that are rows, without reading it into memory at once. */
async function countRowLines(path: string): Promise<number> {
  let rows = 0
  // Bytes of the current line seen so far, up to the length of the prefix.
  let head: number[] = []
  let headDone = false
  for await (const chunk of createReadStream(path)) {
    const bytes = chunk as Buffer
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i] as number
      if (byte === LINE_FEED) {
        if (!startsWithMeta(head)) rows++
        head = []
        headDone = false
      } else if (!headDone) {
        head.push(byte)
        headDone = head.length >= META_PREFIX_BYTES.length
      }
    }
  }
  return rows
}

function startsWithMeta(head: readonly number[]): boolean {
  if (head.length < META_PREFIX_BYTES.length) return false
  return META_PREFIX_BYTES.every((byte, i) => head[i] === byte)
}

/**
 * Append-only segment files of JSON lines in one folder, the write-ahead
 * journal of the score_log writer. A row line is the row's JSONEachRow line
 * itself, so the same bytes are written here and sent to the store. A marker
 * line `{"insert":"<token>","first":<ordinal>,"rows":<n>}` is written before
 * an insert of rows of its segment, and `{"inserted":"<token>"}` after the
 * insert succeeded.
 *
 * Row appends are plain synchronous writes, so a row is in the file, and
 * survives the process being killed, once `appendRows` returns. `sync`
 * fdatasyncs the files written since the last call, and the folder after a
 * new segment. A process appends only to segments it created, so the torn
 * line a crash leaves is always the last line of its segment.
 *
 * A spool holds the folder's lock file, `spool.lock` with its pid and start
 * time, from before it reads or writes a segment until `close`, so two
 * processes do not replay and delete the same segments. A spool that finds the
 * lock held by a running process, or by another spool of this process, throws
 * SpoolLockedError. A lock whose process is gone, as after a SIGKILL, or whose
 * content is invalid, is stale: the spool replaces it and logs a warning. The
 * pid check covers only this machine's processes, so a folder shared between
 * machines or containers with their own pid namespaces is not protected.
 */
export class Spool {
  readonly dir: string
  readonly maxBytes: number
  private readonly segmentBytes: number
  private segments: SegmentFile[] = []
  /** Segment that row appends go to. */
  private active: SegmentFile | undefined
  private nextSequence = 1
  private folderReady = false
  private folderUnsynced = false
  private opened = false
  private syncing: Promise<void> | undefined
  private readonly log: SpoolLogger | undefined
  /** The folder's lock file while this spool holds it. */
  private heldLock: HeldLock | undefined

  constructor(options: SpoolOptions) {
    this.dir = options.dir
    this.maxBytes = options.maxBytes
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES
    this.log = options.log
  }

  /** Size of every segment file together, in bytes. */
  get bytes(): number {
    return this.segments.reduce((sum, segment) => sum + segment.bytes, 0)
  }

  /** Rows on disk only: not inserted and not held in memory by the writer. */
  get diskRows(): number {
    return this.segments.reduce(
      (sum, segment) => sum + Math.max(0, segment.rows - segment.insertedRows - segment.memoryRows),
      0,
    )
  }

  get segmentCount(): number {
    return this.segments.length
  }

  /**
   * Takes the folder's lock and lists the segments a previous process left,
   * with their sizes and row counts, in disk mode. The folder is created by
   * the first append, which takes the lock when open found no folder, so
   * opening a spool that never held rows writes nothing. Throws
   * SpoolLockedError when a running process holds the lock.
   */
  async open(): Promise<void> {
    if (this.opened) return
    let names: string[] = []
    if (statSync(this.dir, { throwIfNoEntry: false }) !== undefined) {
      this.lock()
      names = await readdir(this.dir)
    }
    const own = new Set(this.segments.map((segment) => segment.file))
    const found: SegmentFile[] = []
    for (const file of names) {
      const match = SEGMENT_NAME.exec(file)
      if (!match || own.has(file)) continue
      const path = join(this.dir, file)
      const { size } = await stat(path)
      found.push({
        file,
        sequence: Number(match[1]),
        bytes: size,
        rows: await countRowLines(path),
        insertedRows: 0,
        memoryRows: 0,
        mode: 'disk',
        fd: undefined,
        writable: false,
        unsynced: false,
      })
    }
    this.segments = [...found, ...this.segments].sort((a, b) => a.sequence - b.sequence)
    const last = found.reduce((max, segment) => Math.max(max, segment.sequence), 0)
    this.nextSequence = Math.max(this.nextSequence, last + 1)
    this.opened = true
  }

  /**
   * Writes the lines, each a row ending in a line feed, to the active
   * segment in one synchronous write, without fsync. Lines are taken in order
   * while they fit under maxBytes and the rest are rejected. A full active
   * segment is replaced by a new one in `mode`. A failed write takes the
   * segment out of appends, so the next append starts a new file after
   * whatever partial line it left, and throws. The first append takes the
   * folder's lock unless `open` took it, and throws SpoolLockedError, writing
   * nothing, when a running process holds it.
   */
  appendRows(lines: readonly string[], mode: SpoolSegment['mode']): SpoolAppendResult {
    let size = 0
    let count = 0
    const room = this.maxBytes - this.bytes
    const sizes: number[] = []
    for (const line of lines) {
      const lineBytes = Buffer.byteLength(line)
      if (size + lineBytes > room) break
      size += lineBytes
      sizes.push(lineBytes)
      count++
    }
    const rejected = lines.length - count
    if (count === 0) {
      return { segment: undefined, first: 0, written: 0, rejected, text: '', sizes: [] }
    }

    const segment = this.activeSegment(mode)
    const text = count === lines.length ? lines.join('') : lines.slice(0, count).join('')
    // Written as a string: a Buffer per call would be memory outside the heap that V8 counts
    // towards starting a mark-compact.
    this.write(segment, text, size)
    const first = segment.rows
    segment.rows += count
    return { segment, first, written: count, rejected, text, sizes }
  }

  /**
   * Appends a marker or insert-result line to a segment that still takes
   * lines. Returns false, writing nothing, when the segment takes no more
   * lines or the line does not fit under maxBytes, and throws when the write
   * fails.
   */
  appendMeta(target: SpoolSegment, line: string): boolean {
    const segment = target as SegmentFile
    if (!segment.writable) return false
    const size = Buffer.byteLength(line)
    if (this.bytes + size > this.maxBytes) return false
    this.write(segment, line, size)
    return true
  }

  /** Returns the oldest segment in disk mode, whose rows a replay has to read from the file. */
  oldestOnDisk(): SpoolSegment | undefined {
    return this.segments.find((segment) => segment.mode === 'disk')
  }

  /** Returns every segment, oldest first. */
  list(): readonly SpoolSegment[] {
    return this.segments
  }

  /**
   * Reads a segment after taking it out of appends, so it cannot change while
   * its rows are inserted. Returns undefined when another process deleted
   * the file after inserting it.
   */
  async read(target: SpoolSegment): Promise<ParsedSegment | undefined> {
    const segment = target as SegmentFile
    this.stopAppends(segment)
    await this.closeFile(segment)
    try {
      const text = await readFile(join(this.dir, segment.file), 'utf8')
      return parseSegment(segment.file, text)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      this.segments = this.segments.filter((entry) => entry !== segment)
      return undefined
    }
  }

  /**
   * Deletes a segment whose rows are all inserted or accounted for. It is
   * taken out of appends first, in the same tick as the caller's check.
   */
  async remove(target: SpoolSegment): Promise<void> {
    const segment = target as SegmentFile
    this.stopAppends(segment)
    this.segments = this.segments.filter((entry) => entry !== segment)
    await this.closeFile(segment)
    await unlink(join(this.dir, segment.file)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error
    })
  }

  /** Switches every segment to disk mode, so their rows are inserted by a replay. */
  moveAllToDisk(): void {
    for (const segment of this.segments) segment.mode = 'disk'
  }

  /**
   * Fdatasyncs the segment files written since the last call, and the folder
   * when a segment was created since. Calls made during a sync share it.
   */
  sync(): Promise<void> {
    this.syncing ??= this.syncFiles().finally(() => {
      this.syncing = undefined
    })
    return this.syncing
  }

  /**
   * Syncs and closes every segment file, and deletes the lock file even when
   * that fails. The rows stay on disk for the next process. A later `open` or
   * append takes the lock again.
   */
  async close(): Promise<void> {
    this.active = undefined
    try {
      await this.sync()
      for (const segment of this.segments) await this.closeFile(segment)
    } finally {
      this.opened = false
      this.folderReady = false
      this.unlock()
    }
  }

  /**
   * Creates the folder's lock file unless this spool holds it. A stale lock,
   * whose process is not running or whose content is invalid, is replaced
   * with a warning. Throws SpoolLockedError when a running process or
   * another spool of this process holds it.
   */
  private lock(): void {
    if (this.heldLock !== undefined) return
    const path = join(this.dir, LOCK_FILE)
    const realPath = join(realpathSync(this.dir), LOCK_FILE)
    if (heldLocks.has(realPath)) {
      throw new SpoolLockedError(this.dir, { pid: process.pid, startedAt: PROCESS_STARTED_AT })
    }
    const text = `${JSON.stringify({ pid: process.pid, startedAt: PROCESS_STARTED_AT })}\n`
    for (let tries = 0; tries < MAX_LOCK_TRIES; tries++) {
      if (createLockFile(path, text)) {
        heldLocks.add(realPath)
        this.heldLock = { path, realPath, text }
        return
      }
      let found: string
      try {
        found = readFileSync(path, 'utf8')
      } catch (error) {
        // Deleted since the create failed, so the next try can create it.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
        throw error
      }
      const owner = parseLock(found)
      if (typeof owner !== 'string' && isLockOwnerRunning(owner.pid)) {
        throw new SpoolLockedError(this.dir, owner)
      }
      // NOTE: segments do not name their store, so after taking over the lock of a server of
      // another store, the replay inserts that server's rows into this one.
      if (removeStaleLock(path, found)) this.warnStaleLock(path, owner, found)
    }
    throw new Error(
      `spool lock file ${path} could not be created in ${MAX_LOCK_TRIES} tries, because other processes replaced it each time`,
    )
  }

  private warnStaleLock(path: string, owner: SpoolLockOwner | string, text: string): void {
    if (typeof owner === 'string') {
      this.log?.warn(
        { file: path, reason: owner, content: text.slice(0, MAX_QUOTED_LOCK_CHARS) },
        `spool lock file ${path} has invalid content (${owner}); took it over as a stale lock`,
      )
      return
    }
    this.log?.warn(
      { file: path, ownerPid: owner.pid, ownerStartedAt: owner.startedAt },
      `took over the stale spool lock of process ${owner.pid} in ${path}, because that process is no longer running`,
    )
  }

  /** Deletes the lock file, unless another process replaced it while this spool held it. */
  private unlock(): void {
    const { heldLock } = this
    if (heldLock === undefined) return
    this.heldLock = undefined
    heldLocks.delete(heldLock.realPath)
    const { path } = heldLock
    let found: string
    try {
      found = readFileSync(path, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      this.log?.warn({ file: path }, `spool lock file ${path} was deleted while this spool held it`)
      return
    }
    if (found !== heldLock.text) {
      this.log?.warn(
        { file: path, content: found.slice(0, MAX_QUOTED_LOCK_CHARS) },
        `spool lock file ${path} was replaced by another process while this spool held it; left it in place`,
      )
      return
    }
    unlinkSync(path)
  }

  private async syncFiles(): Promise<void> {
    const pending = this.segments.filter((segment) => segment.unsynced && segment.fd !== undefined)
    const folder = this.folderUnsynced
    this.folderUnsynced = false
    for (const segment of pending) {
      segment.unsynced = false
      if (segment.fd !== undefined) await fdatasyncAsync(segment.fd)
    }
    if (folder) await syncFolder(this.dir)
  }

  private write(segment: SegmentFile, text: string, size: number): void {
    try {
      const written = writeSync(segment.fd as number, text)
      if (written < size) {
        // On a full disk a write can store part of the text without an error. That part is cut
        // off again, so that the file has no partial row for a replay to count as torn.
        ftruncateSync(segment.fd as number, segment.bytes)
        throw new Error(
          `short write to ${segment.file}: ${written} of ${size} bytes, as on a full disk`,
        )
      }
    } catch (error) {
      this.stopAppends(segment)
      // The file may hold part of the text, so its size is read back.
      try {
        segment.bytes = fstatSync(segment.fd as number).size
      } catch {
        // The size stays as it was.
      }
      segment.mode = 'disk'
      throw error
    }
    segment.bytes += size
    segment.unsynced = true
  }

  /** Returns the segment row appends go to, creating one when there is none or it is full. */
  private activeSegment(mode: SpoolSegment['mode']): SegmentFile {
    const current = this.active
    if (current && current.writable && current.bytes < this.segmentBytes) return current
    this.active = undefined
    if (!this.folderReady) {
      mkdirSync(this.dir, { recursive: true })
      this.lock()
      for (const name of readdirSync(this.dir)) {
        const match = SEGMENT_NAME.exec(name)
        if (match) this.nextSequence = Math.max(this.nextSequence, Number(match[1]) + 1)
      }
      this.folderReady = true
    }
    for (let tries = 0; ; tries++) {
      const sequence = this.nextSequence++
      const file = segmentName(sequence)
      let fd: number
      try {
        // 'ax' fails if the file exists, so a segment of another process is never appended to.
        fd = openSync(join(this.dir, file), 'ax')
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST' && tries < MAX_NAME_TRIES) continue
        throw error
      }
      const segment: SegmentFile = {
        file,
        sequence,
        bytes: 0,
        rows: 0,
        insertedRows: 0,
        memoryRows: 0,
        mode,
        fd,
        writable: true,
        unsynced: false,
      }
      this.segments.push(segment)
      this.folderUnsynced = true
      this.active = segment
      return segment
    }
  }

  private stopAppends(segment: SegmentFile): void {
    if (this.active === segment) this.active = undefined
    segment.writable = false
  }

  /** Closes a segment's descriptor once a sync in progress is done with it. */
  private async closeFile(segment: SegmentFile): Promise<void> {
    while (this.syncing) await this.syncing.catch(() => undefined)
    const fd = segment.fd
    segment.fd = undefined
    if (fd !== undefined) closeSync(fd)
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

/** Splits a segment's text into row lines and marker lines, setting aside torn and invalid lines. */
export function parseSegment(file: string, text: string): ParsedSegment {
  const lines = text.split('\n')
  // Text that ends with a line feed splits into a last empty string; anything else there is torn.
  const last = lines.pop() as string
  const parsed: ParsedSegment = {
    file,
    rows: [],
    markers: [],
    inserted: new Set(),
    tornLine: undefined,
    invalidLines: [],
    invalidMarkers: [],
  }
  // A torn marker means its insert never started, so only a torn row is reported.
  if (last !== '' && !last.startsWith(META_PREFIX)) {
    parsed.tornLine = { line: lines.length + 1, reason: 'no line feed' }
  }
  lines.forEach((text, index) => parseLine(parsed, text, index + 1))
  return parsed
}

function parseLine(parsed: ParsedSegment, text: string, line: number): void {
  let entry: unknown
  try {
    entry = JSON.parse(text)
  } catch (error) {
    const reason = `invalid JSON: ${(error as Error).message}`
    if (text.startsWith(META_PREFIX)) parsed.invalidMarkers.push({ line, reason })
    else addInvalidRow(parsed, text, line, reason)
    return
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    addInvalidRow(parsed, text, line, 'expected a JSON object')
    return
  }
  const fields = entry as Record<string, unknown>
  if (text.startsWith(META_PREFIX)) {
    parseMeta(parsed, fields, line)
    return
  }
  if ('batch' in fields) {
    parseLegacy(parsed, fields, text, line)
    return
  }
  parsed.rows.push({ line, text: `${text}\n`, row: fields })
}

function parseMeta(parsed: ParsedSegment, fields: Record<string, unknown>, line: number): void {
  const { insert, inserted, first, rows } = fields
  if (typeof inserted === 'string' && inserted !== '') {
    parsed.inserted.add(inserted)
    return
  }
  const isCount = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 0
  if (typeof insert !== 'string' || insert === '' || !isCount(first) || !isCount(rows)) {
    parsed.invalidMarkers.push({
      line,
      reason: 'expected "insert" as a non-empty string and "first" and "rows" as counts',
    })
    return
  }
  parsed.markers.push({ line, token: insert, first: first as number, rows: rows as number })
}

/** Reads a `{"batch":"<id>","row":{...}}` line, the format spools had before row lines were the rows. */
function parseLegacy(
  parsed: ParsedSegment,
  fields: Record<string, unknown>,
  text: string,
  line: number,
): void {
  const { batch, row } = fields
  if (typeof batch !== 'string' || batch === '') {
    addInvalidRow(parsed, text, line, '"batch" must be a non-empty string')
    return
  }
  if (typeof row !== 'object' || row === null || Array.isArray(row)) {
    addInvalidRow(parsed, text, line, '"row" must be an object')
    return
  }
  const rowFields = row as Record<string, unknown>
  parsed.rows.push({
    line,
    text: `${JSON.stringify(rowFields)}\n`,
    row: rowFields,
    legacyBatch: batch,
  })
}

function addInvalidRow(parsed: ParsedSegment, text: string, line: number, reason: string): void {
  parsed.invalidLines.push({ line, reason })
  parsed.rows.push({ line, text: `${text}\n`, row: undefined })
}

/** Rows that one insert sends, with the token that makes a repeat of the insert a no-op. */
export interface SpoolBatch {
  token: string
  /** The rows' JSONEachRow lines, joined. */
  body: string | Buffer
  rows: number
}

/** Inserts that a replay of a segment sends, and the counts of what it left out. */
export interface ReplayPlan {
  batches: SpoolBatch[]
  /** Rows already inserted, as an insert-result line shows. */
  insertedRows: number
  /** Parsed rows that `isValidRow` rejected, with the first reason. */
  invalidRows: number
  firstRowProblem: string | undefined
  /** Markers whose rows no longer match their token, so those rows are inserted under a new token. */
  changedMarkers: number
}

/**
 * Returns the insert token of rows of one segment: the sha256 of the file
 * name, the first row's ordinal and the lines. A repeat of the same rows from
 * the same place gets the same token, so the store skips it. Two different
 * batches never share one, even when their rows are the same bytes.
 */
export function spoolToken(
  file: string,
  first: number,
  lines: readonly (string | Buffer)[],
): string {
  const hash = createHash('sha256').update(`${file}\n${first}\n`)
  for (const line of lines) hash.update(line)
  return hash.digest('hex')
}

/** Line written before an insert of `rows` rows of a segment, from ordinal `first`. */
export const markerLine = (token: string, first: number, rows: number) =>
  `{"insert":"${token}","first":${first},"rows":${rows}}\n`

/** Line written after that insert succeeded. */
export const insertedLine = (token: string) => `{"inserted":"${token}"}\n`

/**
 * Groups the rows of a parsed segment into inserts. Rows under a marker whose
 * token still matches them are sent with that token, or skipped when an
 * insert-result line shows it succeeded. Rows of the earlier line format keep
 * their batch id as the token. Every other run of rows is cut into batches
 * of `batchRows` from its first row, so a replay of an unchanged file makes
 * the same batches and tokens each time. Only rows that pass `isValidRow`
 * are sent.
 */
export function planReplay(
  parsed: ParsedSegment,
  batchRows: number,
  isValidRow: (row: Record<string, unknown>) => string | undefined,
): ReplayPlan {
  const { file, rows } = parsed
  const plan: ReplayPlan = {
    batches: [],
    insertedRows: 0,
    invalidRows: 0,
    firstRowProblem: undefined,
    changedMarkers: 0,
  }
  const valid = rows.map(({ row }) => {
    if (row === undefined) return false
    const problem = isValidRow(row)
    if (problem === undefined) return true
    plan.invalidRows++
    plan.firstRowProblem ??= problem
    return false
  })
  const covered = new Uint8Array(rows.length)
  for (const { token, first, rows: count } of parsed.markers) {
    const end = first + count
    if (count === 0 || end > rows.length || covered.subarray(first, end).some((flag) => flag)) {
      plan.changedMarkers++
      continue
    }
    const range = rows.slice(first, end)
    const intact =
      spoolToken(
        file,
        first,
        range.map((line) => line.text),
      ) === token
    if (!intact || !valid.slice(first, end).every(Boolean)) {
      plan.changedMarkers++
      continue
    }
    covered.fill(1, first, end)
    if (parsed.inserted.has(token)) plan.insertedRows += count
    else plan.batches.push({ token, body: range.map((line) => line.text).join(''), rows: count })
  }

  let start = 0
  while (start < rows.length) {
    const startRow = rows[start] as SpoolRowLine
    if (covered[start] || startRow.legacyBatch !== undefined) {
      start++
      continue
    }
    let end = start
    while (end < rows.length && end - start < batchRows) {
      if (covered[end] || (rows[end] as SpoolRowLine).legacyBatch !== undefined) break
      end++
    }
    const lines = rows.slice(start, end).filter((_, i) => valid[start + i])
    const texts = lines.map((line) => line.text)
    if (texts.length > 0) {
      plan.batches.push({
        token: spoolToken(file, start, texts),
        body: texts.join(''),
        rows: texts.length,
      })
    }
    start = end
  }

  let legacy: SpoolBatch | undefined
  rows.forEach(({ legacyBatch, text }, i) => {
    if (legacyBatch === undefined || !valid[i]) return
    if (legacy?.token !== legacyBatch) {
      legacy = { token: legacyBatch, body: '', rows: 0 }
      plan.batches.push(legacy)
    }
    legacy.body += text
    legacy.rows++
  })
  return plan
}
