import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { ingestBody } from '../../src/events/ingest.ts'
import { PROVIDERS, type Provider } from '../../src/events/types.ts'
import { needsWebhookCheck } from '../auth.ts'
import { ApiError } from '../errors.ts'
import { findForbiddenKeyInText, forbiddenKeyError } from '../json-body.ts'
import type { ApiMetrics } from '../metrics.ts'
import { errorSchema, ingestResponseSchema } from '../schemas.ts'
import type { ScoringService } from '../service.ts'
import { checkWebhook } from '../webhook-auth.ts'

/**
 * Rejects a "__proto__" or "constructor.prototype" key in a JSON webhook body,
 * as the JSON routes' parser does. A JSONL body is checked line by line, with
 * the line index first in the error's path.
 *
 * NOTE: JSON text inside a string, such as an SNS envelope's Message, is not
 * checked. The SES adapter parses it with JSON.parse, which stores such a key
 * as a plain own property and leaves the object's prototype as it is.
 */
function rejectForbiddenKeys(provider: Provider, body: string): void {
  if (provider === 'csv') return
  if (provider !== 'jsonl') {
    const found = findForbiddenKeyInText(body)
    if (found) throw forbiddenKeyError(found)
    return
  }
  body.split('\n').forEach((line, index) => {
    const found = findForbiddenKeyInText(line)
    if (found) throw forbiddenKeyError(found, index)
  })
}

/** Rejects a provider this version has no adapter for with NOT_FOUND, as for an unknown route. */
async function rejectUnknownProvider(request: { method: string; url: string; params: unknown }) {
  const { provider } = request.params as { provider?: string }
  if (!(PROVIDERS as readonly (string | undefined)[]).includes(provider)) {
    throw new ApiError(
      'NOT_FOUND',
      `No route ${request.method} ${request.url}: the webhook providers are ${PROVIDERS.join(', ')}`,
      ['provider'],
    )
  }
}

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
        // Runs before the body is read and the params are validated.
        onRequest: rejectUnknownProvider,
        schema: {
          summary: 'Receive an ESP event webhook',
          params: z.object({ provider: z.enum(PROVIDERS) }),
          response: {
            200: ingestResponseSchema,
            400: errorSchema,
            401: errorSchema,
            404: errorSchema,
          },
        },
      },
      async (request) => {
        const body = typeof request.body === 'string' ? request.body : ''
        const { provider } = request.params
        if (needsWebhookCheck(request.auth)) {
          checkWebhook(provider, body, request.headers, service.config.webhooks, Date.now())
        }
        rejectForbiddenKeys(provider, body)
        const counts = await ingestBody(service.store.client, provider, body, `webhook:${provider}`)
        metrics.observeIngest(provider, counts)
        return counts
      },
    )
  }
