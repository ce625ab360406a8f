/**
 * Load generation with autocannon over loopback, cycling through prepared request bodies.
 * NOTE: autocannon runs in the benchmark's process on the same CPUs as both servers, so on a
 * 2-CPU machine it takes CPU from them and the rates are lower than a separate client would see.
 */
import { createRequire } from 'node:module'

interface Histogram {
  average: number
  p50: number
  p99: number
}

interface AutocannonResult {
  requests: Histogram & { total: number }
  latency: Histogram
  non2xx: number
  errors: number
  timeouts: number
  duration: number
}

interface AutocannonOptions {
  url: string
  connections: number
  duration: number
  overallRate?: number
  requests: {
    method: string
    path: string
    headers: Record<string, string>
    setupRequest: (request: Record<string, unknown>) => Record<string, unknown>
  }[]
}

// autocannon 9 ships no type declarations, so the few fields used here are declared above.
const autocannon = createRequire(import.meta.url)('autocannon') as (
  options: AutocannonOptions,
) => Promise<AutocannonResult>

export interface Target {
  name: string
  baseUrl: string
  apiKey: string
}

export interface LoadOptions {
  bodies: string[]
  connections: number
  durationSeconds: number
  /** Requests per second over all connections; unset means as fast as responses come. */
  overallRate?: number
}

export interface LoadResult {
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  requests: number
  failures: number
}

/**
 * Sends POST /v1/score requests with the given bodies in turn for `durationSeconds`.
 * Failures count non-2xx responses, socket errors and timeouts.
 */
export async function runLoad(target: Target, options: LoadOptions): Promise<LoadResult> {
  let next = 0
  const { bodies } = options
  const result = await autocannon({
    url: target.baseUrl,
    connections: options.connections,
    duration: options.durationSeconds,
    ...(options.overallRate === undefined ? {} : { overallRate: options.overallRate }),
    requests: [
      {
        method: 'POST',
        path: '/v1/score',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${target.apiKey}`,
        },
        setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }),
      },
    ],
  })
  return {
    requestsPerSecond: result.requests.total / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    failures: result.non2xx + result.errors + result.timeouts,
  }
}
