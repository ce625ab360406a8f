import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'
import {
  hasZodFastifySchemaValidationErrors,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod'
import { PayloadParseError } from '../src/events/types.ts'
import { registerAuth } from './auth.ts'
import { createScoreBatcher } from './batcher.ts'
import { ApiError, isStoreUnreachable, storeUnavailableError } from './errors.ts'
import { findForbiddenKeyInText, forbiddenKeyError } from './json-body.ts'
import { ApiMetrics, metricsRoutes, registerRequestMetrics } from './metrics.ts'
import { registerOpenApi } from './openapi.ts'
import { registerRateLimit } from './rate-limit.ts'
import { contactRoutes } from './routes/contacts.ts'
import { healthRoutes } from './routes/health.ts'
import { modelRoutes } from './routes/models.ts'
import { scoreRoutes } from './routes/score.ts'
import { registerScoreLog, type ScoreLogWriterOptions } from './score-log.ts'
import { segmentRoutes } from './routes/segments.ts'
import { webhookRoutes } from './routes/webhooks.ts'
import type { ScoringService } from './service.ts'

function toApiError(error: unknown, bodyLimitBytes: number): ApiError {
  if (error instanceof ApiError) return error
  if (hasZodFastifySchemaValidationErrors(error)) {
    const first = error.validation[0]
    const path: (string | number)[] = (first?.instancePath ?? '')
      .split('/')
      .filter(Boolean)
      .map((part) => (/^\d+$/.test(part) ? Number(part) : part))
    // An unknown field's issue names its parent object, so the field is added to the path.
    const unknownFields = (first?.params as { keys?: unknown } | undefined)?.keys
    if (first?.keyword === 'unrecognized_keys' && Array.isArray(unknownFields)) {
      path.push(String(unknownFields[0]))
    }
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
  if (fastifyCode === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new ApiError(
      'UNSUPPORTED_MEDIA_TYPE',
      'Send the body with Content-Type: application/json',
    )
  }
  // Any other client error fastify raises before routing, such as a body shorter than its Content-Length.
  const statusCode = (error as { statusCode?: number }).statusCode
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
    return new ApiError('INVALID_REQUEST', (error as Error).message)
  }
  if (isStoreUnreachable(error)) return storeUnavailableError(error)
  return new ApiError('INTERNAL', 'Internal error; the server log has the details')
}

/** Longest path parameter, in URL-encoded characters: a 320-character address encodes to at most 960. */
const MAX_PARAM_LENGTH = 1024

export interface ServerOptions {
  /** Destination of the server's log lines instead of stdout, such as a test's buffer. */
  logStream?: { write(line: string): void }
  /** Options of the score_log writer that replace the ones built from the configuration. */
  scoreLog?: Partial<ScoreLogWriterOptions>
}

/**
 * Lets requests in flight finish when `close()` begins, then ends their
 * connections: each response sent while closing carries `Connection: close`,
 * because an idle keep-alive connection would otherwise hold `close()` open
 * until its timeout. A request that still reaches routing is rejected with
 * SHUTTING_DOWN in the API's error shape, in place of Fastify's own 503,
 * which bypasses the error handler.
 */
function finishRequestsOnClose(app: FastifyInstance): void {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return
    reply.header('connection', 'close')
    throw new ApiError('SHUTTING_DOWN', 'The server is shutting down; send the request again')
  })
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close')
  })
}

/**
 * Replaces Fastify's JSON parser with one that names a "__proto__" or
 * "constructor.prototype" key. Fastify's parser rejects both keys, but with
 * the same error as malformed JSON, so a failed body is scanned again here.
 */
function registerJsonParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    // With parseAs 'string', Fastify hands the body over as text.
    const text = body as string
    parseJson(request, text, (error, value) => {
      if ((error as { code?: string } | null)?.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
        const found = findForbiddenKeyInText(text)
        if (found) return done(forbiddenKeyError(found), undefined)
      }
      done(error, value)
    })
  })
}

/** Builds the HTTP API around a scoring service (not yet listening). */
export function buildServer(service: ScoringService, options: ServerOptions = {}): FastifyInstance {
  const { config } = service
  const app = Fastify({
    logger: {
      level: config.logLevel,
      ...(options.logStream ? { stream: options.logStream } : {}),
    },
    bodyLimit: config.bodyLimitBytes,
    return503OnClosing: false,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Malformed URLs and overlong path parameters fail in the router, before any hook.
    frameworkErrors: (error, request, reply) => {
      const message =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? `A path parameter is longer than ${MAX_PARAM_LENGTH} characters`
          : `Invalid URL: ${error.message}`
      const apiError = new ApiError('INVALID_REQUEST', message)
      request.log.info({ code: apiError.code, fastifyCode: error.code }, apiError.message)
      // The reply's route generics are unknown here, so its typed send is bypassed.
      const plain = reply as unknown as FastifyReply
      return plain.code(apiError.statusCode).send(apiError.toBody())
    },
  })
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  // JSON routes take JSON only: without this, Fastify's default text/plain parser hands a
  // string to the body schema, which fails with a 400 instead of the 415 a client can act on.
  // The webhook routes register their own parser for every content type.
  app.removeContentTypeParser('text/plain')
  registerJsonParser(app)

  app.setErrorHandler((error, request, reply) => {
    const apiError = toApiError(error, config.bodyLimitBytes)
    // A 503 such as MODEL_NOT_LOADED or SHUTTING_DOWN is an expected state, not a fault.
    if (apiError.code === 'INTERNAL') request.log.error({ err: error }, 'request failed')
    else if (apiError.statusCode >= 500) request.log.warn({ code: apiError.code }, apiError.message)
    else request.log.info({ code: apiError.code, path: apiError.path }, apiError.message)
    return reply.code(apiError.statusCode).send(apiError.toBody())
  })
  app.setNotFoundHandler((request, reply) => {
    const error = new ApiError('NOT_FOUND', `No route ${request.method} ${request.url}`)
    return reply.code(404).send(error.toBody())
  })

  // Hooks and plugins that act on every route come first: Fastify applies
  // them only to routes registered after them.
  finishRequestsOnClose(app)
  registerAuth(app, config)
  registerRateLimit(app, config)
  registerOpenApi(app)
  const metrics = new ApiMetrics(service)
  registerRequestMetrics(app, metrics)
  registerScoreLog(app, service, options.scoreLog)
  service.batcher = createScoreBatcher(config.batch, (event) => metrics.observeBatch(event))

  app.register(healthRoutes(service))
  app.register(scoreRoutes(service, metrics))
  app.register(segmentRoutes(service))
  app.register(contactRoutes(service, metrics))
  app.register(webhookRoutes(service, metrics))
  app.register(modelRoutes(service))
  app.register(metricsRoutes(metrics))
  return app
}
