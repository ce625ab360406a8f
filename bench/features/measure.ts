/** Timing, memory sampling and engine counters for the feature benchmark. */
import { loadavg } from 'node:os'
import type { ClickHouseClient } from '@clickhouse/client'

const MIB = 1024 * 1024

/** Peak memory of the Node process seen while a measured call ran. */
export interface MemoryPeak {
  /** Highest resident set size sampled, in bytes. It includes chDB, which runs inside the process. */
  rss: number
  /** V8 heap in use at the sample with the highest RSS, in bytes. */
  heapUsed: number
  /** Memory of ArrayBuffers and Buffers at that sample, in bytes. */
  arrayBuffers: number
  samples: number
}

/**
 * Samples `process.memoryUsage()` on a timer. A sample needs a free event
 * loop, so a long synchronous stretch (parsing one large result chunk) shows
 * up only in `process.resourceUsage().maxRSS`, which the kernel tracks.
 */
export class MemorySampler {
  private timer: NodeJS.Timeout | undefined
  private peak: MemoryPeak = { rss: 0, heapUsed: 0, arrayBuffers: 0, samples: 0 }

  constructor(private readonly intervalMs = 50) {}

  start(): void {
    this.peak = { rss: 0, heapUsed: 0, arrayBuffers: 0, samples: 0 }
    this.sample()
    this.timer = setInterval(() => this.sample(), this.intervalMs)
  }

  stop(): MemoryPeak {
    clearInterval(this.timer)
    this.timer = undefined
    this.sample()
    return { ...this.peak }
  }

  private sample(): void {
    const usage = process.memoryUsage()
    this.peak.samples += 1
    if (usage.rss > this.peak.rss) {
      this.peak.rss = usage.rss
      this.peak.heapUsed = usage.heapUsed
      this.peak.arrayBuffers = usage.arrayBuffers
    }
  }
}

/** Returns the process's maximum resident set size since it started, in bytes. */
export function maxRssBytes(): number {
  // Node reports maxRSS in kilobytes.
  return process.resourceUsage().maxRSS * 1024
}

export function mib(bytes: number): string {
  return `${Math.round(bytes / MIB)} MiB`
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  if (sorted.length % 2 === 1) return sorted[middle] as number
  return ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

/** ProfileEvents counters that tell where a query spent its time and memory. */
const COUNTERS = [
  'UserTimeMicroseconds',
  'SystemTimeMicroseconds',
  'SelectedRows',
  'SelectedBytes',
  'ExternalSortWritePart',
  'ExternalAggregationWritePart',
  'ExternalProcessingFilesTotal',
  'ArenaAllocBytes',
] as const

export type Counters = Record<(typeof COUNTERS)[number], number>

/**
 * Reads the process-wide ProfileEvents counters from `system.events`. chDB
 * (3.4.0, engine 26.7) keeps no `system.query_log`, so differences of these
 * counters around a query are the per-query profile. Counters never
 * incremented are missing from the table and read as 0.
 */
export async function readCounters(client: ClickHouseClient): Promise<Counters> {
  const result = await client.query({
    query: `SELECT event, value FROM system.events WHERE event IN (${COUNTERS.map((name) => `'${name}'`).join(', ')})`,
    format: 'JSONEachRow',
  })
  const rows = await result.json<{ event: string; value: number | string }>()
  const counters = Object.fromEntries(COUNTERS.map((name) => [name, 0])) as Counters
  for (const row of rows) counters[row.event as keyof Counters] = Number(row.value)
  return counters
}

export function subtractCounters(after: Counters, before: Counters): Counters {
  const difference = { ...after }
  for (const name of COUNTERS) difference[name] = after[name] - before[name]
  return difference
}

/** One measured call: wall time, engine counters and the memory peak. */
export interface Measurement<T> {
  seconds: number
  /** CPU seconds of the engine's threads (user plus system) during the call, from ProfileEvents. */
  cpuSeconds: number
  /** CPU seconds of the whole process, chDB threads and the JavaScript thread together. */
  processCpuSeconds: number
  /** One-minute load average of the machine when the call ended. */
  loadAverage: number
  counters: Counters
  memory: MemoryPeak
  value: T
}

/** Runs `work` once while sampling memory, and reads the engine counters around it. */
export async function measure<T>(
  client: ClickHouseClient,
  work: () => Promise<T>,
): Promise<Measurement<T>> {
  const sampler = new MemorySampler()
  const before = await readCounters(client)
  sampler.start()
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  let value: T
  let memory: MemoryPeak
  try {
    value = await work()
  } finally {
    memory = sampler.stop()
  }
  const seconds = (performance.now() - started) / 1000
  const cpuUsed = process.cpuUsage(cpuBefore)
  const processCpuSeconds = (cpuUsed.user + cpuUsed.system) / 1e6
  const counters = subtractCounters(await readCounters(client), before)
  const cpuSeconds = (counters.UserTimeMicroseconds + counters.SystemTimeMicroseconds) / 1e6
  return {
    seconds,
    cpuSeconds,
    processCpuSeconds,
    loadAverage: loadavg()[0] ?? 0,
    counters,
    memory,
    value,
  }
}
