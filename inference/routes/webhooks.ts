import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { ingestBody } from '../../src/events/ingest.ts'
import { PROVIDERS } from '../../src/events/types.ts'
import { needsWebhookCheck } from '../auth.ts'
import type { ApiMetrics } from '../metrics.ts'
import { errorSchema, ingestResponseSchema } from '../schemas.ts'
import type { ScoringService } from '../service.ts'
import { checkWebhook } from '../webhook-auth.ts'

/**
 * ESP webhooks. Bodies are taken as raw text whatever their content type
 * (SNS posts JSON as text/plain), and each adapter parses its own format.
 * A request with an ingest key skips the provider's signature check, and one
 * without a key passes only that check (see inference/auth.ts).
 */
export const webhookRoutes =
  (service: ScoringService, metrics: ApiMetrics): FastifyPluginAsyncZod =>
  async (app) => {
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body))

    app.post(
      '/v1/webhooks/:provider',
      {
        config: { access: 'ingest', acceptsWebhookSignature: true },
        schema: {
          summary: 'Receive an ESP event webhook',
          params: z.object({ provider: z.enum(PROVIDERS) }),
          response: { 200: ingestResponseSchema, 400: errorSchema, 401: errorSchema },
        },
      },
      async (request) => {
        const body = typeof request.body === 'string' ? request.body : ''
        const { provider } = request.params
        if (needsWebhookCheck(request.auth)) {
          checkWebhook(provider, body, request.headers, service.config.webhooks, Date.now())
        }
        const counts = await ingestBody(service.store.client, provider, body, `webhook:${provider}`)
        metrics.observeIngest(provider, counts)
        return counts
      },
    )
  }
