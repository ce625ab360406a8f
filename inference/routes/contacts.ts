import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { ApiMetrics } from '../metrics.ts'
import {
  contactParamsSchema,
  contactQuerySchema,
  contactResponseSchema,
  errorSchema,
  resolveAsOf,
} from '../schemas.ts'
import type { ScoringService } from '../service.ts'

export const contactRoutes =
  (service: ScoringService, metrics: ApiMetrics): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/v1/contacts/:key',
      {
        config: { access: 'score' },
        schema: {
          summary: 'Score one contact by key and return the features it was scored on',
          params: contactParamsSchema,
          querystring: contactQuerySchema,
          response: {
            200: contactResponseSchema,
            400: errorSchema,
            404: errorSchema,
            503: errorSchema,
          },
        },
      },
      async (request) => {
        const asOfMs = resolveAsOf(request.query.asOf, ['asOf'])
        const report = await service.scoreContact(request.params.key, asOfMs, {
          asOfNow: request.query.asOf === undefined,
          requestId: request.id,
        })
        metrics.observeScores([report])
        return report
      },
    )
  }
