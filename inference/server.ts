import Fastify, { type FastifyInstance } from 'fastify'
import {
  hasZodFastifySchemaValidationErrors,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod'
import { PayloadParseError } from '../src/events/types.ts'
import { ApiError } from './errors.ts'
import { healthRoutes } from './routes/health.ts'
import { scoreRoutes } from './routes/score.ts'
import { webhookRoutes } from './routes/webhooks.ts'
import type { ScoringService } from './service.ts'

function toApiError(error: unknown, bodyLimitBytes: number): ApiError {
  if (error instanceof ApiError) return error
  if (hasZodFastifySchemaValidationErrors(error)) {
    const first = error.validation[0]
    const path = (first?.instancePath ?? '')
      .split('/')
      .filter(Boolean)
      .map((part) => (/^\d+$/.test(part) ? Number(part) : part))
    const where = path.length > 0 ? path.join('.') : 'request'
    return new ApiError('INVALID_REQUEST', `${where}: ${first?.message ?? 'invalid value'}`, path)
  }
  if (error instanceof PayloadParseError) return new ApiError('UNPARSEABLE_PAYLOAD', error.message)
  const fastifyCode = (error as { code?: string }).code
  if (fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new ApiError(
      'PAYLOAD_TOO_LARGE',
      `Request body is larger than ${bodyLimitBytes} bytes (SEGMENTS_BODY_LIMIT_BYTES)`,
    )
  }
  if (
    fastifyCode === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
    fastifyCode === 'FST_ERR_CTP_EMPTY_JSON_BODY'
  ) {
    return new ApiError('INVALID_REQUEST', (error as Error).message)
  }
  return new ApiError('INTERNAL', 'Internal error; the server log has the details')
}

/** Builds the HTTP API around a scoring service (not yet listening). */
export function buildServer(service: ScoringService): FastifyInstance {
  const app = Fastify({
    logger: { level: service.config.logLevel },
    bodyLimit: service.config.bodyLimitBytes,
  })
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)

  app.setErrorHandler((error, request, reply) => {
    const apiError = toApiError(error, service.config.bodyLimitBytes)
    if (apiError.statusCode >= 500) request.log.error({ err: error }, 'request failed')
    else request.log.info({ code: apiError.code, path: apiError.path }, apiError.message)
    return reply.code(apiError.statusCode).send(apiError.toBody())
  })
  app.setNotFoundHandler((request, reply) => {
    const error = new ApiError('NOT_FOUND', `No route ${request.method} ${request.url}`)
    return reply.code(404).send(error.toBody())
  })

  app.register(healthRoutes(service))
  app.register(scoreRoutes(service))
  app.register(webhookRoutes(service))
  return app
}
