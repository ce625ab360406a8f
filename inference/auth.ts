import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import type { Config } from '../src/config/index.ts'
import type { ApiKey, ApiScope } from '../src/config/schema.ts'
import type { Provider } from '../src/events/types.ts'
import { ApiError } from './errors.ts'
import { errorSchema } from './schemas.ts'
import type { Headers, WebhookSecrets } from './webhook-auth.ts'

/** Access rule of a route: no key (`public`) or a key with the given scope. */
export type RouteAccess = 'public' | ApiScope

/** Outcome of the authentication hook for a request it let through. */
export type RequestAuth =
  | { kind: 'open' }
  | { kind: 'public' }
  | { kind: 'key'; key: ApiKey }
  | { kind: 'webhook-signature' }

/** One registered route and the access it requires, as the onRoute hook recorded it. */
export interface RouteAccessEntry {
  method: string
  url: string
  access: RouteAccess
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Scope a request needs; routes that leave it out need `admin`. */
    access?: RouteAccess
    /** Whether a request without a key may rely on the provider's webhook signature check. */
    acceptsWebhookSignature?: boolean
  }
  interface FastifyRequest {
    auth: RequestAuth
  }
  interface FastifyInstance {
    /** Every route registered on the server with the access it requires. */
    routeAccess: RouteAccessEntry[]
  }
}

const WWW_AUTHENTICATE = 'Bearer realm="contact-segments"'

const header = (headers: Headers, name: string): string | undefined => {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

/**
 * Returns the API key a request presents: the token of `Authorization: Bearer`,
 * else the `X-API-Key` header. Other Authorization schemes (Postmark sends
 * Basic) count as no key.
 */
export function presentedKey(headers: Headers): string | undefined {
  const bearer = /^Bearer +(\S+) *$/i.exec(header(headers, 'authorization') ?? '')
  if (bearer) return bearer[1]
  const apiKey = header(headers, 'x-api-key')?.trim()
  return apiKey === '' ? undefined : apiKey
}

/** Returns whether a key may call a route that needs `scope`. The `admin` scope implies every scope. */
export function keyAllows(key: ApiKey, scope: ApiScope): boolean {
  return key.scopes.includes('admin') || key.scopes.includes(scope)
}

/** The configured API keys, kept as sha256 digests only. */
export class ApiKeyRing {
  private readonly digests: { key: ApiKey; digest: Buffer }[]

  constructor(keys: readonly ApiKey[]) {
    this.digests = keys.map((key) => ({ key, digest: Buffer.from(key.sha256, 'hex') }))
  }

  /**
   * Finds the key whose hash matches the sha256 of `presented`. Every digest
   * is compared with timingSafeEqual, and the loop never stops early, so the
   * time taken does not depend on which key matched or how much of it.
   */
  find(presented: string): ApiKey | undefined {
    const digest = createHash('sha256').update(presented, 'utf8').digest()
    let found: ApiKey | undefined
    for (const entry of this.digests) {
      const equal = timingSafeEqual(digest, entry.digest)
      if (equal) found = entry.key
    }
    return found
  }
}

/**
 * Returns whether `checkWebhook` verifies this provider's requests: SendGrid,
 * Mailgun and Postmark have a check once their secret is configured, and the
 * other providers have none.
 */
export function hasWebhookCheck(provider: string | undefined, secrets: WebhookSecrets): boolean {
  switch (provider as Provider | undefined) {
    case 'sendgrid':
      return Boolean(secrets.sendgridVerificationKey)
    case 'mailgun':
      return Boolean(secrets.mailgunSigningKey)
    case 'postmark':
      return Boolean(secrets.postmarkBasicAuth)
    default:
      return false
  }
}

/** Returns whether the webhook handler must still run the provider's signature check. */
export function needsWebhookCheck(auth: RequestAuth): boolean {
  return auth.kind !== 'key'
}

function unauthenticated(message: string): ApiError {
  return new ApiError('UNAUTHENTICATED', message)
}

const MISSING_KEY =
  'Missing API key: send it as "Authorization: Bearer <key>" or "X-API-Key: <key>"'

/** Decides whether a request may reach its route; throws UNAUTHENTICATED or FORBIDDEN. */
function authorize(
  request: FastifyRequest,
  ring: ApiKeyRing,
  config: Readonly<Config>,
): RequestAuth {
  const route = request.routeOptions.config
  const access = request.is404 ? undefined : (route.access ?? 'admin')
  if (access === 'public') return { kind: 'public' }

  const presented = presentedKey(request.headers)
  if (presented === undefined) {
    const provider = (request.params as { provider?: string } | undefined)?.provider
    if (route.acceptsWebhookSignature && hasWebhookCheck(provider, config.webhooks)) {
      return { kind: 'webhook-signature' }
    }
    if (!route.acceptsWebhookSignature) throw unauthenticated(MISSING_KEY)
    throw unauthenticated(
      `Missing API key with the ingest scope, and provider ${JSON.stringify(provider)} has no ` +
        'signature check configured: send "Authorization: Bearer <key>" or "X-API-Key: <key>"',
    )
  }

  const key = ring.find(presented)
  if (!key) throw unauthenticated('Unknown API key')
  // A request for an unknown route needs a valid key of any scope, so a caller without one
  // cannot tell which paths exist.
  if (access !== undefined && !keyAllows(key, access)) {
    const target = `${request.method} ${request.routeOptions.url}`
    throw new ApiError(
      'FORBIDDEN',
      `API key "${key.name}" lacks the "${access}" scope that ${target} requires`,
    )
  }
  return { kind: 'key', key }
}

/**
 * Adds 401, 403 and 429 error responses to a protected route's schema, so the
 * OpenAPI document lists them; swagger-ui's hidden routes are left alone.
 */
function addAuthResponses(routeOptions: RouteOptions, access: RouteAccess): void {
  const schema = routeOptions.schema as { hide?: boolean; response?: object } | undefined
  if (access === 'public' || !schema || schema.hide) return
  schema.response = { 401: errorSchema, 403: errorSchema, 429: errorSchema, ...schema.response }
}

/**
 * Installs API-key authentication on the root instance, before any route is
 * registered: an onRoute hook gives every route its access (`admin` unless
 * the route sets another) and records it in `app.routeAccess`, and an
 * onRequest hook checks the key. Without SEGMENTS_API_KEYS every request is let through.
 */
export function registerAuth(app: FastifyInstance, config: Readonly<Config>): void {
  const routeAccess: RouteAccessEntry[] = []
  app.decorate('routeAccess', routeAccess)
  // Every request's onRequest hook sets it before any handler runs.
  app.decorateRequest<RequestAuth | null>('auth', null)

  app.addHook('onRoute', (routeOptions) => {
    routeOptions.config ??= {}
    const access = routeOptions.config.access ?? 'admin'
    routeOptions.config.access = access
    addAuthResponses(routeOptions, access)
    const methods = Array.isArray(routeOptions.method) ? routeOptions.method : [routeOptions.method]
    for (const method of methods) routeAccess.push({ method, url: routeOptions.url, access })
  })

  const keys = config.apiKeys
  if (!keys) {
    app.log.warn(
      { host: config.host },
      'SEGMENTS_API_KEYS is unset, so every route is open to anyone who can reach the server; ' +
        'set it before listening on anything but 127.0.0.1',
    )
    app.addHook('onRequest', async (request) => {
      request.auth = { kind: 'open' }
    })
    return
  }

  app.log.info(
    { keys: keys.map((key) => `${key.name}:${key.scopes.join(',')}`) },
    'API keys loaded from SEGMENTS_API_KEYS',
  )
  const ring = new ApiKeyRing(keys)
  app.addHook('onRequest', async (request, reply) => {
    try {
      request.auth = authorize(request, ring, config)
    } catch (error) {
      if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') {
        reply.header('www-authenticate', WWW_AUTHENTICATE)
      }
      throw error
    }
  })
}

/** Names the bucket a request counts against: its API key, or its client IP without one. */
export function rateLimitKey(request: FastifyRequest): string {
  return request.auth?.kind === 'key' ? `key:${request.auth.key.name}` : `ip:${request.ip}`
}
