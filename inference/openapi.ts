import swagger, { type SwaggerTransform } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { jsonSchemaTransform } from 'fastify-type-provider-zod'
import type { RouteAccess } from './auth.ts'

/** Path prefix of the docs: swagger UI at the prefix itself, the OpenAPI document at `<prefix>/json`. */
export const DOCS_PREFIX = '/docs'

const SECURITY_SCHEMES = {
  bearerAuth: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <key>' },
  apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
} as const

const KEY_SECURITY: Record<string, string[]>[] = [{ bearerAuth: [] }, { apiKeyHeader: [] }]

function describeAccess(access: RouteAccess, acceptsWebhookSignature: boolean): string {
  if (access === 'public') return 'Needs no API key.'
  const scope = access === 'admin' ? '`admin`' : `\`${access}\` (or \`admin\`)`
  const signature = acceptsWebhookSignature
    ? " Without a key, the request is accepted when the provider's signature check is configured and passes."
    : ''
  return `Needs an API key with the ${scope} scope when SEGMENTS_API_KEYS is set.${signature}`
}

/**
 * Converts a route's zod schemas with fastify-type-provider-zod, then adds
 * the security requirement and a description of the scope the route needs.
 */
const transform: SwaggerTransform = (document) => {
  const converted = jsonSchemaTransform(document as Parameters<typeof jsonSchemaTransform>[0])
  const schema = converted.schema as Record<string, unknown>
  if (schema.hide) return converted

  const config = document.route.config ?? {}
  const access = config.access ?? 'admin'
  const description = [
    schema.description,
    describeAccess(access, Boolean(config.acceptsWebhookSignature)),
  ]
    .filter(Boolean)
    .join('\n\n')
  const security = access === 'public' ? [] : KEY_SECURITY
  return { url: converted.url, schema: { ...schema, description, security } }
}

/**
 * Registers @fastify/swagger, which collects every route registered after it,
 * and swagger UI under DOCS_PREFIX. Call it before registering the routes.
 */
export function registerOpenApi(app: FastifyInstance): void {
  app.register(swagger, {
    openapi: {
      info: {
        title: 'contact-segments API',
        description: 'Persona, churn probability and best send time of email contacts.',
        version: '1',
      },
      components: { securitySchemes: SECURITY_SCHEMES },
    },
    transform,
  })
  app.register(swaggerUi, { routePrefix: DOCS_PREFIX })
}
