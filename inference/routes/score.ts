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
        // The response schemas document this route, but on this hot path the reply is not checked
        // against them: zod's encode of 100 results cost as much as scoring them. The API tests
        // parse its replies with scoreResponseSchema instead.
        serializerCompiler: () => (data) => JSON.stringify(data),
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
