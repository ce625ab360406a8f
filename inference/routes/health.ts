import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { ScoringService } from '../service.ts'
import { backendName, backendPackage, loadTfBackend } from '../tf-backend.ts'

/**
 * Probes need no key and are not rate-limited: behind a proxy every client
 * shares one IP, and a busy client must not make the orchestrator restart the server.
 */
const PROBE = { access: 'public', rateLimit: false } as const

/**
 * Maximum wait for the store's ping in /readyz. A store that hangs would
 * otherwise hold the probe for the client's whole request timeout, behind
 * the requests queued for its connections.
 */
const READY_PING_TIMEOUT_MS = 2000

/** Pings the store and returns whether it replied within timeoutMs. */
async function pingWithin(service: ScoringService, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs)
  })
  const ping = service.store.client
    .ping()
    .then((result) => result.success)
    .catch(() => false)
  try {
    return await Promise.race([ping, timedOut])
  } finally {
    clearTimeout(timer)
  }
}

export const healthRoutes =
  (service: ScoringService): FastifyPluginAsyncZod =>
  async (app) => {
    // Fastify awaits this before the server is ready, so the churn MLP runs on the chosen
    // tfjs backend from the first request, and the choice is logged once at start.
    await loadTfBackend(app.log)

    app.get('/healthz', { config: PROBE, schema: { summary: 'Liveness' } }, async () => ({
      status: 'ok',
    }))

    app.get(
      '/readyz',
      { config: PROBE, schema: { summary: 'Readiness: model loaded and store reachable' } },
      async (_request, reply) => {
        const storeReachable = await pingWithin(service, READY_PING_TIMEOUT_MS)
        const model = service.model?.manifest.version ?? null
        const ready = storeReachable && model !== null
        return reply.code(ready ? 200 : 503).send({
          ready,
          model,
          lastReloadError: service.lastReloadError ?? null,
          store: { engine: service.store.engine, reachable: storeReachable },
          tfjsBackend: backendName(),
          tfjsPackage: backendPackage(),
          scoreLog: scoreLogProbe(service),
        })
      },
    )
  }

/**
 * Summarizes the score_log writer's backlog for `/readyz`. It does not change
 * readiness, because scoring goes on while the rows wait in the spool. The
 * spool folder and error messages are left out, so probes do not expose
 * server paths; the log has the errors.
 */
function scoreLogProbe(service: ScoringService) {
  const state = service.scoreLog?.state()
  if (!state) return null
  const { memoryRows, spoolRows, spoolBytes, spoolMaxBytes, spoolFull, insertFailing } = state
  const droppedRows = Object.values(state.droppedRows).reduce((sum, rows) => sum + rows, 0)
  return {
    memoryRows,
    spoolRows,
    spoolBytes,
    spoolMaxBytes,
    spoolFull,
    insertFailing,
    lastErrorAt: state.lastError?.at ?? null,
    droppedRows,
  }
}
