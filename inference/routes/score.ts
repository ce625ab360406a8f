import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { errorSchema, scoreRequestSchema, scoreResponseSchema, resolveAsOf } from '../schemas.ts'
import type { ApiMetrics } from '../metrics.ts'
import type { ScoringService } from '../service.ts'

export const scoreRoutes =
  (service: ScoringService, metrics: ApiMetrics): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/v1/score',
      {
        config: { access: 'score' },
        schema: {
          summary: 'Score contacts: persona, churn probability and best send time',
          body: scoreRequestSchema(service.config.scoreMaxContacts),
          response: { 200: scoreResponseSchema, 400: errorSchema, 503: errorSchema },
        },
      },
      async (request) => {
        const asOfMs = resolveAsOf(request.body.asOf, ['asOf'])
        // Read once, so the response names the model that scored it even if a reload lands meanwhile.
        const model = service.requireModel()
        const results = await service.score(request.body.contacts, asOfMs, model, {
          asOfNow: request.body.asOf === undefined,
          requestId: request.id,
        })
        metrics.observeScores(results)
        return { modelVersion: model.manifest.version, results }
      },
    )
  }
