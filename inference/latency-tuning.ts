/**
 * Process settings that keep the scoring API's event loop responsive on a
 * machine with few CPUs: V8 without allocation-site pretenuring, and the
 * threads that run the embedded store's work at a lower CPU priority than
 * the event loop.
 *
 * Both are applied by `segments serve` only, because they change the whole
 * process. Measurements are in bench/RESULTS.md (serving section).
 */
import { pbkdf2 } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { getPriority, setPriority } from 'node:os'
import { setFlagsFromString } from 'node:v8'

/**
 * Turns off V8's allocation-site pretenuring for this process.
 *
 * Under a burst of requests, objects of the request path live across two
 * scavenges, so V8 decides to allocate them straight in the old generation,
 * and keeps that decision once the burst is over. Every request then leaves
 * its garbage to the mark-compact collector. On the serving benchmark (2
 * CPUs, Node 20, 3,500 requests/s after a saturation run), the old
 * generation grew by about 5 MB/s. A mark-compact ran every 1.5 to 2.5 s and
 * stalled the event loop for 20 to 40 ms. Without pretenuring the old
 * generation grew by under 0.3 MB/s. The flag must be set before the request
 * code runs.
 */
export function disablePretenuring(): void {
  setFlagsFromString('--no-allocation-site-pretenuring')
}

/** Lists this process's thread ids. Throws where `/proc/self/task` does not exist (not Linux). */
function listThreadIds(): Set<number> {
  return new Set(readdirSync('/proc/self/task').map(Number))
}

/** Returns each thread's name (its `comm`, at most 15 characters), by thread id. */
export function listThreads(): Map<number, string> {
  const threads = new Map<number, string>()
  for (const id of listThreadIds()) {
    try {
      threads.set(id, readFileSync(`/proc/self/task/${id}/comm`, 'utf8').trim())
    } catch {
      // The thread ended meanwhile.
    }
  }
  return threads
}

/** Threads that the embedded store started as it opened. */
export interface StoreThreads {
  ids: Set<number>
  /** Their names other than Node's own "node", which threads the engine starts later share. */
  names: Set<string>
}

/** Returns the threads present in `after` and not in `before`, as two `listThreads` calls give them. */
export function threadsStartedBetween(
  before: ReadonlyMap<number, string>,
  after: ReadonlyMap<number, string>,
): StoreThreads {
  const started: StoreThreads = { ids: new Set(), names: new Set() }
  for (const [id, name] of after) {
    if (before.has(id)) continue
    started.ids.add(id)
    if (name !== 'node') started.names.add(name)
  }
  return started
}

/** Returns the state letter of each thread ('R' running or runnable, 'S' sleeping, ...), from /proc. */
function readThreadStates(): Map<number, string> {
  const states = new Map<number, string>()
  for (const id of listThreadIds()) {
    try {
      const text = readFileSync(`/proc/self/task/${id}/stat`, 'utf8')
      // The state is the first field after the parenthesized name.
      states.set(id, text.charAt(text.lastIndexOf(')') + 2))
    } catch {
      // The thread ended meanwhile.
    }
  }
  return states
}

/**
 * Returns the threads, other than the main one, that are runnable in each of
 * 10 samples 2 ms apart, taken while each libuv pool thread has a CPU-bound
 * task: pbkdf2 of 300,000 rounds, 60 ms or more on the serving benchmark's machine.
 */
async function probeThreadPool(size: number): Promise<Set<number>> {
  let candidates: Set<number> | undefined
  const tasks = Array.from(
    { length: size },
    () =>
      new Promise<void>((resolve) =>
        pbkdf2('probe', 'salt', 300_000, 32, 'sha256', () => resolve()),
      ),
  )
  for (let sample = 0; sample < 10; sample++) {
    // Busy waits between samples, so that no other task of this process starts meanwhile.
    const until = performance.now() + 2
    while (performance.now() < until) {
      // Waiting.
    }
    const runnable = new Set<number>()
    for (const [id, state] of readThreadStates()) {
      if (id !== process.pid && state === 'R' && (candidates?.has(id) ?? true)) runnable.add(id)
    }
    candidates = runnable
  }
  await Promise.all(tasks)
  return candidates ?? new Set()
}

const sameSet = (a: ReadonlySet<number>, b: ReadonlySet<number>) =>
  a.size === b.size && [...a].every((id) => b.has(id))

/**
 * Finds the threads of libuv's thread pool, which runs chDB's queries and
 * inserts, by giving each of them a CPU-bound task and listing the threads
 * that stay runnable meanwhile. Node gives the pool no names, and V8's
 * helper threads must keep their priority: the event loop waits for them
 * during garbage collection, and with them at nice 19 one such wait took
 * 160 ms. A probe can include a V8 thread that happened to be busy, or miss
 * a pool thread that took its task late, so probes repeat until two in a row
 * find the same UV_THREADPOOL_SIZE threads. Returns an empty set when eight
 * probes never agree, so that no thread is lowered by mistake, or once
 * `signal` is aborted.
 */
export async function findThreadPoolThreads(signal?: AbortSignal): Promise<Set<number>> {
  const size = Number(process.env.UV_THREADPOOL_SIZE) || 4
  let previous: Set<number> | undefined
  for (let probe = 0; probe < 8 && !signal?.aborted; probe++) {
    const found = await probeThreadPool(size)
    if (found.size === size && previous && sameSet(found, previous)) return found
    previous = found
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return new Set()
}

/** Result of one pass over the process's threads. */
export interface ThreadPriorityPass {
  /** Threads whose nice value was raised to the target. */
  lowered: number
  /** Threads already at the target nice value or above it. */
  unchanged: number
  /** Threads whose priority could not be read or set, other than threads that exited meanwhile. */
  failed: number
  /** First failure's message, for the log. */
  firstError: string | undefined
}

/**
 * Raises the nice value of the threads of this process that `select`
 * accepts, but never the main thread's, to `nice` (0 to 19). A thread already
 * at `nice` or above is left as it is, so no thread gets a higher priority
 * than it had. On Linux a thread may always raise its own nice value, so this
 * needs no privilege. Throws where the thread list cannot be read.
 */
export function lowerThreads(
  nice: number,
  select: (id: number, name: string) => boolean,
): ThreadPriorityPass {
  if (!(Number.isInteger(nice) && nice >= 0 && nice <= 19)) {
    throw new RangeError(`Invalid nice value ${nice}: expected an integer from 0 to 19`)
  }
  const pass: ThreadPriorityPass = { lowered: 0, unchanged: 0, failed: 0, firstError: undefined }
  for (const [threadId, name] of listThreads()) {
    // On Linux the main thread's id is the process id.
    if (threadId === process.pid || !select(threadId, name)) continue
    try {
      if (getPriority(threadId) >= nice) {
        pass.unchanged++
        continue
      }
      setPriority(threadId, nice)
      pass.lowered++
    } catch (error) {
      // ESRCH: the thread ended between the listing and the call.
      if ((error as { info?: { code?: string } }).info?.code === 'ESRCH') continue
      pass.failed++
      pass.firstError ??= (error as Error).message
    }
  }
  return pass
}

export interface StoreThreadPriorityOptions {
  /** Nice value for the store's threads; 0 leaves priorities as they are. */
  nice: number
  /** Threads the embedded store started as it opened; undefined with a ClickHouse server. */
  storeThreads: StoreThreads | undefined
  /** Milliseconds between passes, which catch threads the engine starts later. */
  intervalMs: number
  /** Aborted when the server stops, so that a probe still running lowers and logs nothing. */
  signal?: AbortSignal
  log: {
    info(details: object, message: string): void
    warn(details: object, message: string): void
  }
}

/**
 * Lowers the CPU priority of the threads that run the store's work, now and
 * every `intervalMs`. These are the embedded engine's threads (inserts,
 * merges, background pools): those it started as it opened, and later ones
 * with the same names. They also include libuv's thread pool, which runs
 * chDB's queries and inserts, file system calls and hashing. The main
 * thread, V8's helper threads and any other thread keep their priority. On
 * a busy machine the event loop then gets a CPU before the score log's
 * inserts and the store's merges do.
 *
 * Logs the first pass, and a failure once. Resolves to the function that
 * stops the passes, whose timer is unref'd.
 */
export async function keepStoreThreadsLow(
  options: StoreThreadPriorityOptions,
): Promise<() => void> {
  const { nice, intervalMs, log } = options
  if (nice === 0) return () => {}
  const engine = options.storeThreads ?? { ids: new Set<number>(), names: new Set<string>() }
  let pool: Set<number>
  try {
    pool = await findThreadPoolThreads(options.signal)
  } catch (error) {
    log.warn(
      { err: error, nice },
      'thread priorities were not lowered: the thread list could not be read (this works on Linux only)',
    )
    return () => {}
  }
  if (options.signal?.aborted) return () => {}
  let warned = false
  const run = (first: boolean) => {
    let pass: ThreadPriorityPass
    try {
      pass = lowerThreads(
        nice,
        (id, name) => pool.has(id) || engine.ids.has(id) || engine.names.has(name),
      )
    } catch (error) {
      if (!warned) log.warn({ err: error, nice }, 'lowering thread priorities failed')
      warned = true
      return
    }
    if (pass.failed > 0 && !warned) {
      warned = true
      log.warn(
        { nice, failed: pass.failed, error: pass.firstError },
        'some threads could not be given a lower priority',
      )
    }
    if (first) {
      log.info(
        { nice, lowered: pass.lowered, unchanged: pass.unchanged, poolThreads: pool.size },
        'the store threads run at a lower CPU priority than the event loop (SEGMENTS_BACKGROUND_NICE)',
      )
    }
  }
  run(true)
  const timer = setInterval(() => run(false), intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}
