import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../src/config/index.ts'
import { rateLimitKey } from './auth.ts'
import { ApiError } from './errors.ts'

/**
 * Limits each API key (each client IP when the server is open) to
 * SEGMENTS_RATE_LIMIT_PER_MINUTE requests per minute, and rejects the rest
 * with RATE_LIMITED and a Retry-After header. Counts are kept in this process's memory, so
 * each replica counts on its own. Routes with `config.rateLimit: false` are exempt.
 */
export function registerRateLimit(app: FastifyInstance, config: Readonly<Config>): void {
  app.register(rateLimit, {
    global: true,
    max: config.rateLimitPerMinute,
    timeWindow: 60_000,
    // The limit's own onRequest hook runs after the authentication hook, so the key is known.
    keyGenerator: rateLimitKey,
    errorResponseBuilder: (request, context) => {
      const client = request.auth?.kind === 'key' ? `API key "${request.auth.key.name}"` : 'this IP'
      return new ApiError(
        'RATE_LIMITED',
        `Rate limit of ${context.max} requests per minute exceeded for ${client}; retry in ${context.after}`,
      )
    },
  })
}
