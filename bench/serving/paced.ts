/**
 * Open-loop load at a fixed rate: requests start at evenly spaced times whether or not earlier
 * ones have returned, over a pool of keep-alive connections.
 *
 * autocannon's rate limit (9.0.0) lets each connection send its quota for the second back to
 * back and then pause until the next second, so "half the saturation rate" is really saturation
 * for half of each second. Its latency histogram under a rate also adds corrected values at an
 * interval of Math.ceil(1 / rate) = 1 ms, which weights each response by its own latency. This
 * generator spaces requests 1 / rate apart instead, and measures each latency from the time the
 * request was due, so a request that waited for a free connection counts its wait.
 */
import { connect, type Socket } from 'node:net'
import type { LoadResult, Target } from './load.ts'

export interface PacedLoadOptions {
  bodies: string[]
  /** Requests per second over all connections. */
  rate: number
  durationSeconds: number
  /** Keep-alive connections. A request due while all are busy waits for one. */
  connections: number
  /** Milliseconds after which a request counts as failed and its connection is dropped. */
  timeoutMs?: number
}

/** Value at quantile q (0 to 1) of sorted values, by the nearest-rank method. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.max(1, Math.ceil(q * sorted.length))
  return sorted[rank - 1] as number
}

/** Whole HTTP/1.1 requests, built once so that sending one costs a single socket write. */
function buildRequests(target: Target, bodies: string[]): Buffer[] {
  const url = new URL('/v1/score', target.baseUrl)
  return bodies.map((body) => {
    const head =
      `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\n` +
      `Content-Type: application/json\r\nAuthorization: Bearer ${target.apiKey}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`
    return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body, 'utf8')])
  })
}

const HEAD_END = Buffer.from('\r\n\r\n')
const CONTENT_LENGTH = /\r\ncontent-length: *(\d+)/i

/**
 * One keep-alive connection with at most one request in flight. It reads responses by their
 * Content-Length, which every reply of the scoring API carries; a reply without one fails the
 * request and the connection.
 */
class Connection {
  private socket: Socket | undefined
  private buffer: Buffer = Buffer.alloc(0)
  private done: ((status: number | Error) => void) | undefined
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly port: number,
    private readonly host: string,
    private readonly timeoutMs: number,
  ) {}

  get busy(): boolean {
    return this.done !== undefined
  }

  /** Sends a request and calls `done` with its status code, or with the error that ended it. */
  send(request: Buffer, done: (status: number | Error) => void): void {
    this.done = done
    this.timer = setTimeout(
      () => this.fail(new Error(`timed out after ${this.timeoutMs} ms`)),
      this.timeoutMs,
    )
    this.open().write(request)
  }

  close(): void {
    this.socket?.destroy()
    this.socket = undefined
  }

  private open(): Socket {
    if (this.socket) return this.socket
    const socket = connect({ port: this.port, host: this.host, noDelay: true })
    socket.on('data', (chunk: Buffer) => this.read(chunk))
    socket.on('error', (error) => this.fail(error))
    socket.on('close', () => this.fail(new Error('connection closed')))
    this.socket = socket
    this.buffer = Buffer.alloc(0)
    return socket
  }

  private read(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    const headEnd = this.buffer.indexOf(HEAD_END)
    if (headEnd < 0) return
    const head = this.buffer.toString('latin1', 0, headEnd)
    const length = CONTENT_LENGTH.exec(head)
    if (!length) return this.fail(new Error(`response without Content-Length: ${head}`))
    const end = headEnd + HEAD_END.length + Number(length[1])
    if (this.buffer.length < end) return
    const status = Number(head.slice(9, 12))
    this.buffer = this.buffer.subarray(end)
    this.finish(status)
  }

  private finish(outcome: number | Error): void {
    const done = this.done
    clearTimeout(this.timer)
    this.done = undefined
    done?.(outcome)
  }

  private fail(error: Error): void {
    this.close()
    this.finish(error)
  }
}

/**
 * Sends POST /v1/score at `rate` requests per second for `durationSeconds` and returns the
 * achieved rate and the latency percentiles in whole milliseconds, as autocannon reports them.
 */
export async function runPacedLoad(target: Target, options: PacedLoadOptions): Promise<LoadResult> {
  const { rate, durationSeconds } = options
  const timeoutMs = options.timeoutMs ?? 10_000
  const url = new URL(target.baseUrl)
  const requests = buildRequests(target, options.bodies)
  const connections = Array.from(
    { length: options.connections },
    () => new Connection(Number(url.port), url.hostname, timeoutMs),
  )
  const total = Math.round(rate * durationSeconds)
  const intervalMs = 1000 / rate
  const latencies: number[] = []
  let failures = 0
  let completed = 0
  /** Due times of requests that found every connection busy, oldest first. */
  const waiting: number[] = []
  let sent = 0
  const startMs = performance.now()
  let allDone: () => void = () => {}
  const finished = new Promise<void>((resolve) => (allDone = resolve))

  const start = (connection: Connection, dueMs: number, index: number) => {
    connection.send(requests[index % requests.length] as Buffer, (outcome) => {
      if (typeof outcome === 'number' && outcome >= 200 && outcome < 300) {
        latencies.push(performance.now() - dueMs)
      } else {
        failures++
      }
      completed++
      const next = waiting.shift()
      if (next !== undefined) start(connection, next, completed)
      if (completed === total) allDone()
    })
  }

  const sendDue = () => {
    const nowMs = performance.now()
    while (sent < total && startMs + sent * intervalMs <= nowMs) {
      const dueMs = startMs + sent * intervalMs
      const free = connections.find((connection) => !connection.busy)
      if (free) start(free, dueMs, sent)
      else waiting.push(dueMs)
      sent++
    }
  }

  while (sent < total) {
    sendDue()
    const nextDueMs = startMs + sent * intervalMs
    // Timers fire late rather than early, so the loop wakes at or after the next due time and
    // sends every request that has come due meanwhile.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, nextDueMs - performance.now())))
  }
  if (total > 0) await finished
  const elapsedSeconds = (performance.now() - startMs) / 1000
  for (const connection of connections) connection.close()
  latencies.sort((a, b) => a - b)
  return {
    requestsPerSecond: latencies.length / elapsedSeconds,
    p50Ms: Math.round(quantile(latencies, 0.5)),
    p99Ms: Math.round(quantile(latencies, 0.99)),
    requests: latencies.length,
    failures,
  }
}
