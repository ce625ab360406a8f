import type { FastifyInstance } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { IngestCounts } from '../src/events/ingest.ts'
import type { BatchEvent } from './batcher.ts'
import type { ScoreOutcome, ScoringService } from './service.ts'

/** Histogram bucket upper bounds in seconds, up to a minute for large /v1/score requests. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

/** Bucket upper bounds of rows per model call: powers of 4 up to 65,536. */
const BATCH_ROW_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536]

/** Bucket upper bounds of requests sharing one model call. */
const BATCH_REQUEST_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128]

/** Route label of requests that matched no route, so unknown paths do not add series. */
const UNMATCHED_ROUTE = 'unmatched'

/**
 * Prometheus metrics of one server, in a registry of its own so that several
 * servers in one process (as in the tests) do not clash.
 */
export class ApiMetrics {
  readonly registry = new Registry()
  private readonly requests: Counter<'method' | 'route' | 'status_code'>
  private readonly duration: Histogram<'method' | 'route' | 'status_code'>
  private readonly contactsScored: Counter
  private readonly contactErrors: Counter<'code'>
  private readonly webhookEvents: Counter<'provider' | 'outcome'>
  private readonly batchRows: Histogram
  private readonly batchRequests: Histogram

  constructor(service: ScoringService) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    this.requests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP responses sent, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      registers,
    })
    this.duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from receiving a request to sending its response, in seconds',
      labelNames: ['method', 'route', 'status_code'],
      buckets: DURATION_BUCKETS,
      registers,
    })
    this.contactsScored = new Counter({
      name: 'segments_contacts_scored_total',
      help: 'Contacts that received a score from /v1/score or /v1/contacts/:key',
      registers,
    })
    this.contactErrors = new Counter({
      name: 'segments_contact_score_errors_total',
      help: 'Contacts in a /v1/score request that got an error instead of a score, by error code',
      labelNames: ['code'],
      registers,
    })
    this.webhookEvents = new Counter({
      name: 'segments_webhook_events_total',
      help: 'Events received by webhook, by provider and outcome (stored, duplicate, rejected, ignored)',
      labelNames: ['provider', 'outcome'],
      registers,
    })
    this.batchRows = new Histogram({
      name: 'segments_model_batch_rows',
      help: 'Rows per model call (persona assignment and churn prediction) after micro-batching',
      buckets: BATCH_ROW_BUCKETS,
      registers,
    })
    this.batchRequests = new Histogram({
      name: 'segments_model_batch_requests',
      help: 'Requests, or pieces of split requests, whose rows shared one model call',
      buckets: BATCH_REQUEST_BUCKETS,
      registers,
    })
    new Counter({
      name: 'segments_feature_cache_lookups_total',
      help: 'Look-ups of contacts scored by key as of now in the feature cache, by outcome (hit, miss)',
      labelNames: ['outcome'],
      registers,
      // Read at scrape time from the cache's own counts.
      collect() {
        this.reset()
        this.inc({ outcome: 'hit' }, service.featureCache.hits)
        this.inc({ outcome: 'miss' }, service.featureCache.misses)
      },
    })
    new Gauge({
      name: 'segments_model_info',
      help: 'Model bundle in service: 1 for the loaded version, no series while none is loaded',
      labelNames: ['version'],
      registers,
      // Read at scrape time, so the value follows every loadChampion call.
      collect() {
        this.reset()
        const version = service.model?.manifest.version
        if (version !== undefined) this.set({ version }, 1)
      },
    })
    registerScoreLogMetrics(registers, service)
  }

  observeRequest(method: string, route: string | undefined, statusCode: number, seconds: number) {
    const labels = { method, route: route ?? UNMATCHED_ROUTE, status_code: String(statusCode) }
    this.requests.inc(labels)
    this.duration.observe(labels, seconds)
  }

  observeScores(outcomes: readonly ScoreOutcome[]): void {
    for (const outcome of outcomes) {
      if ('error' in outcome) this.contactErrors.inc({ code: outcome.error.code })
      else this.contactsScored.inc()
    }
  }

  observeBatch(event: BatchEvent): void {
    this.batchRows.observe(event.rows)
    this.batchRequests.observe(event.requests)
  }

  observeIngest(provider: string, result: IngestCounts): void {
    this.webhookEvents.inc({ provider, outcome: 'stored' }, result.stored)
    this.webhookEvents.inc({ provider, outcome: 'duplicate' }, result.duplicates)
    this.webhookEvents.inc({ provider, outcome: 'rejected' }, result.rejected)
    this.webhookEvents.inc({ provider, outcome: 'ignored' }, result.ignored)
  }
}

/** Records every response's route, status and duration. */
export function registerRequestMetrics(app: FastifyInstance, metrics: ApiMetrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.is404 ? undefined : request.routeOptions.url
    metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000)
  })
}

export const metricsRoutes =
  (metrics: ApiMetrics): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/metrics',
      {
        config: { access: 'admin' },
        schema: { summary: 'Prometheus metrics in the text exposition format' },
      },
      async (_request, reply) => {
        const text = await metrics.registry.metrics()
        return reply.type(metrics.registry.contentType).send(text)
      },
    )
  }

/**
 * Metrics of the score_log writer, read from its state at scrape time. No
 * series appear while the service has no writer.
 */
function registerScoreLogMetrics(registers: Registry[], service: ScoringService): void {
  new Gauge({
    name: 'segments_score_log_backlog_rows',
    help: 'score_log rows not yet inserted, by location: memory (queued or being inserted, and in the spool too) or spool (on disk only, left to a replay)',
    labelNames: ['location'],
    registers,
    collect() {
      this.reset()
      const state = service.scoreLog?.state()
      if (!state) return
      this.set({ location: 'memory' }, state.memoryRows)
      this.set({ location: 'spool' }, state.spoolRows)
    },
  })
  new Gauge({
    name: 'segments_score_log_spool_bytes',
    help: 'Size of the score_log spool files on disk, in bytes',
    registers,
    collect() {
      this.reset()
      const state = service.scoreLog?.state()
      if (state) this.set(state.spoolBytes)
    },
  })
  new Counter({
    name: 'segments_score_log_rows_total',
    help: 'score_log rows inserted into the store or written to the spool, by outcome (inserted, spooled); every row is spooled first while the spool is on',
    labelNames: ['outcome'],
    registers,
    collect() {
      this.reset()
      const state = service.scoreLog?.state()
      if (!state) return
      this.inc({ outcome: 'inserted' }, state.insertedRows)
      this.inc({ outcome: 'spooled' }, state.spooledRows)
    },
  })
  new Counter({
    name: 'segments_score_log_dropped_rows_total',
    help: 'score_log rows lost, by reason: build_error, spool_full, spool_error, torn_line, invalid_line, closed',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset()
      const state = service.scoreLog?.state()
      if (!state) return
      for (const [reason, rows] of Object.entries(state.droppedRows)) this.inc({ reason }, rows)
    },
  })
  new Counter({
    name: 'segments_score_log_insert_failures_total',
    help: 'score_log inserts that failed or timed out; their rows wait in the spool',
    registers,
    collect() {
      this.reset()
      const state = service.scoreLog?.state()
      if (state) this.inc(state.insertFailures)
    },
  })
}
