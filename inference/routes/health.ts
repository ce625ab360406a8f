import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { ScoringService } from '../service.ts'

export const healthRoutes =
  (service: ScoringService): FastifyPluginAsyncZod =>
  async (app) => {
    app.get('/healthz', { schema: { summary: 'Liveness' } }, async () => ({ status: 'ok' }))

    app.get(
      '/readyz',
      { schema: { summary: 'Readiness: model loaded and store reachable' } },
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
          store: { engine: service.store.engine, reachable: storeReachable },
        })
      },
    )
  }
