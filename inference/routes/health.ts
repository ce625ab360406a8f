import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { ScoringService } from '../service.ts'

/**
 * Probes need no key and are not rate-limited: behind a proxy every client
 * shares one IP, and a busy client must not make the orchestrator restart the server.
 */
const PROBE = { access: 'public', rateLimit: false } as const

export const healthRoutes =
  (service: ScoringService): FastifyPluginAsyncZod =>
  async (app) => {
    app.get('/healthz', { config: PROBE, schema: { summary: 'Liveness' } }, async () => ({
      status: 'ok',
    }))

    app.get(
      '/readyz',
      { config: PROBE, schema: { summary: 'Readiness: model loaded and store reachable' } },
      async (_request, reply) => {
        const storeReachable = await service.store.client
          .ping()
          .then((result) => result.success)
          .catch(() => false)
        const model = service.model?.manifest.version ?? null
        const ready = storeReachable && model !== null
        return reply.code(ready ? 200 : 503).send({
          ready,
          model,
          lastReloadError: service.lastReloadError ?? null,
          store: { engine: service.store.engine, reachable: storeReachable },
        })
      },
    )
  }
