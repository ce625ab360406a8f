import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RouteAccessEntry } from '../../inference/auth.ts'
import { buildServer } from '../../inference/server.ts'
import { ScoringService } from '../../inference/service.ts'
import { loadConfig, type Config } from '../../src/config/index.ts'
import { readFixture } from '../helpers/integration.ts'
import { apiKeysValue, setUpTrainedStore, type TrainedStore } from '../helpers/trained-store.ts'

const SETUP_TIMEOUT_MS = 180_000
const REQUEST_TIMEOUT_MS = 30_000

const KEYS = {
  scorer: { scopes: ['score'], key: 'scorer-key-4b1f0c2e9d7a' },
  ingester: { scopes: ['ingest'], key: 'ingester-key-8e3d5a1c6b0f' },
  reader: { scopes: ['score', 'ingest'], key: 'reader-key-2c9e7f4a1d3b' },
  ops: { scopes: ['admin'], key: 'ops-key-6a0d8b3e5f2c' },
}
const UNKNOWN_KEY = 'not-a-configured-key-0000'

/** A key with the scope a route needs, and one without it. */
const KEY_FOR_SCOPE = {
  score: { right: KEYS.scorer.key, wrong: KEYS.ingester.key },
  ingest: { right: KEYS.ingester.key, wrong: KEYS.scorer.key },
  admin: { right: KEYS.ops.key, wrong: KEYS.reader.key },
} as const

const SENDGRID_BODY = readFixture('sendgrid-event-webhook-batch.json')
const SENDGRID_SIGNED_HEADERS = {
  'x-twilio-email-event-webhook-timestamp': '1741504560',
  'x-twilio-email-event-webhook-signature':
    'MEUCIQDw6XgI8HEz28HdqkMKhC0d3lhkBPGEAB8i4cCXQX8iawIgN/cvhHEcCbFVr9aepEvwZxBzBEfqAGGTuV4tWafeJEw=',
}
const SENDGRID_VERIFICATION_KEY =
  'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0S7kh8Ryvlw4LdMQmyY1ARoCijC9mxi640mMyfbLMrzcv3bBIuF/msIi6YndPa8gT7TSfMBauXTO/+so8c8BbA=='
const SES_BODY = readFixture('ses-sns-open-notification.json')

interface HttpReply {
  status: number
  headers: Headers
  body: any
}

interface Call {
  method: string
  path: string
  headers?: Record<string, string>
  body?: string
}

let setup: TrainedStore
let contactKey: string
let app: FastifyInstance
let baseUrl: string
let signedApp: FastifyInstance
let signedUrl: string

function keyedConfig(extra: Record<string, string> = {}): Readonly<Config> {
  return loadConfig({ ...setup.env, SEGMENTS_API_KEYS: apiKeysValue(KEYS), ...extra })
}

async function startServer(config: Readonly<Config>): Promise<[FastifyInstance, string]> {
  const service = new ScoringService(config, setup.store, setup.bundle)
  await service.loadChampion()
  const server = buildServer(service)
  const address = await server.listen({ host: '127.0.0.1', port: 0 })
  return [server, address]
}

async function send(base: string, call: Call): Promise<HttpReply> {
  const response = await fetch(`${base}${call.path}`, {
    method: call.method,
    headers: call.headers ?? {},
    ...(call.body === undefined ? {} : { body: call.body }),
    redirect: 'manual',
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  })
  const text = await response.text()
  const json = (response.headers.get('content-type') ?? '').includes('application/json')
  return {
    status: response.status,
    headers: response.headers,
    body: json && text !== '' ? JSON.parse(text) : text,
  }
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

/**
 * Returns a request that succeeds when the key is right: path parameters
 * filled in and, for routes that need one, a body.
 */
function sampleCall(route: RouteAccessEntry): Call {
  const path = route.url
    .replace(':key', encodeURIComponent(contactKey))
    .replace(':provider', 'ses')
    .replace('*', 'swagger-ui.css')
  if (route.method === 'POST' && route.url === '/v1/score') {
    const body = JSON.stringify({ contacts: [{ key: contactKey }], asOf: setup.summary.cutoff })
    return { method: 'POST', path, body, headers: { 'content-type': 'application/json' } }
  }
  if (route.method === 'POST' && route.url === '/v1/webhooks/:provider') {
    return { method: 'POST', path, body: SES_BODY, headers: { 'content-type': 'text/plain' } }
  }
  return { method: route.method, path }
}

function withHeaders(call: Call, headers: Record<string, string>): Call {
  return { ...call, headers: { ...call.headers, ...headers } }
}

const label = (route: RouteAccessEntry) => `${route.method} ${route.url}`

const protectedRoutes = () => app.routeAccess.filter((route) => route.access !== 'public')

beforeAll(async () => {
  setup = await setUpTrainedStore({ prefix: 'api-auth-test' })
  contactKey = setup.trained.test.contactKeys[0] as string
  ;[app, baseUrl] = await startServer(keyedConfig())
  ;[signedApp, signedUrl] = await startServer(
    keyedConfig({
      SEGMENTS_SENDGRID_VERIFICATION_KEY: SENDGRID_VERIFICATION_KEY,
      // The fixture was signed in 2025, so its age is not checked here.
      SEGMENTS_WEBHOOK_MAX_AGE_SECONDS: '0',
    }),
  )
}, SETUP_TIMEOUT_MS)

afterAll(async () => {
  await app?.close()
  await signedApp?.close()
  await setup?.close()
})

describe('route list', () => {
  it('contains the API routes', () => {
    const routes = app.routeAccess.map(label)

    for (const route of [
      'GET /healthz',
      'GET /readyz',
      'POST /v1/score',
      'GET /v1/contacts/:key',
      'GET /v1/segments',
      'POST /v1/webhooks/:provider',
      'GET /v1/models',
      'GET /metrics',
      'GET /docs',
      'GET /docs/json',
    ]) {
      expect(routes, route).toContain(route)
    }
  })

  it('makes only the probes public', () => {
    const open = app.routeAccess.filter((route) => route.access === 'public').map(label)

    expect(open.sort()).toEqual(['GET /healthz', 'GET /readyz', 'HEAD /healthz', 'HEAD /readyz'])
  })

  it('gives each route its scope', () => {
    const scopeOf = (method: string, url: string) =>
      app.routeAccess.find((route) => route.method === method && route.url === url)?.access

    expect(scopeOf('POST', '/v1/score')).toBe('score')
    expect(scopeOf('GET', '/v1/contacts/:key')).toBe('score')
    expect(scopeOf('GET', '/v1/segments')).toBe('score')
    expect(scopeOf('POST', '/v1/webhooks/:provider')).toBe('ingest')
    expect(scopeOf('GET', '/v1/models')).toBe('admin')
    expect(scopeOf('GET', '/metrics')).toBe('admin')
    expect(scopeOf('GET', '/docs')).toBe('admin')
    expect(scopeOf('GET', '/docs/json')).toBe('admin')
  })
})

describe('every route', () => {
  it('rejects a missing key', async () => {
    for (const route of protectedRoutes()) {
      const reply = await send(baseUrl, sampleCall(route))

      expect(reply.status, label(route)).toBe(401)
      expect(reply.headers.get('www-authenticate'), label(route)).toBe(
        'Bearer realm="contact-segments"',
      )
      if (route.method !== 'HEAD') {
        expect(reply.body.error.code, label(route)).toBe('UNAUTHENTICATED')
        expect(reply.body.error.path, label(route)).toEqual([])
      }
    }
  })

  it('rejects an unknown key', async () => {
    for (const route of protectedRoutes()) {
      const reply = await send(baseUrl, withHeaders(sampleCall(route), bearer(UNKNOWN_KEY)))

      expect(reply.status, label(route)).toBe(401)
      if (route.method !== 'HEAD') {
        expect(reply.body).toEqual({
          error: { code: 'UNAUTHENTICATED', message: 'Unknown API key', path: [] },
        })
      }
    }
  })

  it('rejects a wrong-scope key', async () => {
    for (const route of protectedRoutes()) {
      const scope = route.access as keyof typeof KEY_FOR_SCOPE
      const call = withHeaders(sampleCall(route), { 'x-api-key': KEY_FOR_SCOPE[scope].wrong })

      const reply = await send(baseUrl, call)

      expect(reply.status, label(route)).toBe(403)
      if (route.method !== 'HEAD') {
        expect(reply.body.error.code, label(route)).toBe('FORBIDDEN')
        expect(reply.body.error.message, label(route)).toContain(`"${scope}" scope`)
        expect(reply.body.error.path, label(route)).toEqual([])
      }
    }
  })

  it('accepts a right-scope key', async () => {
    for (const route of protectedRoutes()) {
      const scope = route.access as keyof typeof KEY_FOR_SCOPE
      const call = withHeaders(sampleCall(route), bearer(KEY_FOR_SCOPE[scope].right))

      const reply = await send(baseUrl, call)

      expect(reply.status, label(route)).toBeGreaterThanOrEqual(200)
      expect(reply.status, label(route)).toBeLessThan(400)
    }
  })

  it('accepts an admin key', async () => {
    for (const route of protectedRoutes()) {
      const reply = await send(baseUrl, withHeaders(sampleCall(route), bearer(KEYS.ops.key)))

      expect(reply.status, label(route)).toBeLessThan(400)
    }
  })

  it('serves the probes without a key', async () => {
    const probes = app.routeAccess.filter((route) => route.access === 'public')
    expect(probes.length).toBeGreaterThan(0)

    for (const route of probes) {
      const reply = await send(baseUrl, sampleCall(route))

      expect(reply.status, label(route)).toBe(200)
    }
  })
})

describe('key headers', () => {
  it('accepts X-API-Key', async () => {
    const reply = await send(baseUrl, {
      method: 'GET',
      path: '/v1/segments',
      headers: { 'x-api-key': KEYS.scorer.key },
    })

    expect(reply.status).toBe(200)
  })

  it('accepts a lower-case bearer scheme', async () => {
    const reply = await send(baseUrl, {
      method: 'GET',
      path: '/v1/segments',
      headers: { authorization: `bearer ${KEYS.scorer.key}` },
    })

    expect(reply.status).toBe(200)
  })

  it('ignores basic auth', async () => {
    const basic = Buffer.from(`user:${KEYS.scorer.key}`).toString('base64')

    const reply = await send(baseUrl, {
      method: 'GET',
      path: '/v1/segments',
      headers: { authorization: `Basic ${basic}` },
    })

    expect(reply.status).toBe(401)
    expect(reply.body.error.code).toBe('UNAUTHENTICATED')
    expect(reply.body.error.message).toMatch(/^Missing API key/)
  })

  it('rejects a key with extra bytes', async () => {
    const reply = await send(baseUrl, {
      method: 'GET',
      path: '/v1/segments',
      headers: bearer(`${KEYS.scorer.key}x`),
    })

    expect(reply.status).toBe(401)
  })
})

describe('unknown route', () => {
  it('needs a key', async () => {
    const reply = await send(baseUrl, { method: 'GET', path: '/v1/nothing' })

    expect(reply.status).toBe(401)
    expect(reply.body.error.code).toBe('UNAUTHENTICATED')
  })

  it('returns NOT_FOUND with any key', async () => {
    const reply = await send(baseUrl, {
      method: 'GET',
      path: '/v1/nothing',
      headers: bearer(KEYS.ingester.key),
    })

    expect(reply.status).toBe(404)
    expect(reply.body).toEqual({
      error: { code: 'NOT_FOUND', message: 'No route GET /v1/nothing', path: [] },
    })
  })
})

describe('webhook without key', () => {
  const post = (path: string, headers: Record<string, string>, body = SENDGRID_BODY) =>
    send(signedUrl, {
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', ...headers },
      body,
    })

  it('accepts a valid signature', async () => {
    const reply = await post('/v1/webhooks/sendgrid', SENDGRID_SIGNED_HEADERS)

    expect(reply.status).toBe(200)
    expect(reply.body.stored + reply.body.duplicates).toBe(16)
  })

  it('rejects a missing signature', async () => {
    const reply = await post('/v1/webhooks/sendgrid', {})

    expect(reply.status).toBe(401)
    expect(reply.body.error.code).toBe('INVALID_SIGNATURE')
  })

  it('rejects a provider without a check', async () => {
    const reply = await post('/v1/webhooks/ses', {}, SES_BODY)

    expect(reply.status).toBe(401)
    expect(reply.body.error.code).toBe('UNAUTHENTICATED')
    expect(reply.body.error.message).toContain('"ses"')
  })

  it('accepts an ingest key unsigned', async () => {
    const reply = await post('/v1/webhooks/sendgrid', bearer(KEYS.ingester.key))

    expect(reply.status).toBe(200)
    expect(reply.body.stored + reply.body.duplicates).toBe(16)
  })

  it('rejects a score key despite a signature', async () => {
    const reply = await post('/v1/webhooks/sendgrid', {
      ...SENDGRID_SIGNED_HEADERS,
      ...bearer(KEYS.scorer.key),
    })

    expect(reply.status).toBe(403)
    expect(reply.body.error.code).toBe('FORBIDDEN')
  })
})

describe('startup log', () => {
  function captureLog(config: Readonly<Config>) {
    const lines: { level: number; msg: string; [field: string]: unknown }[] = []
    const server = buildServer(new ScoringService(config, setup.store, setup.bundle), {
      logStream: { write: (line) => void lines.push(JSON.parse(line)) },
    })
    return { server, lines }
  }

  it('warns when no keys are set', async () => {
    const { server, lines } = captureLog(loadConfig({ ...setup.env, SEGMENTS_LOG_LEVEL: 'info' }))
    await server.ready()
    await server.close()

    const warning = lines.find((line) => line.msg.startsWith('SEGMENTS_API_KEYS is unset'))
    expect(warning?.level).toBe(40)
    expect(warning?.host).toBe('127.0.0.1')
  })

  it('names keys without hashes', async () => {
    const { server, lines } = captureLog(keyedConfig({ SEGMENTS_LOG_LEVEL: 'info' }))
    await server.ready()
    await server.close()
    const text = lines.map((line) => JSON.stringify(line)).join('\n')

    const loaded = lines.find((line) => line.msg === 'API keys loaded from SEGMENTS_API_KEYS')
    expect(loaded?.keys).toEqual([
      'scorer:score',
      'ingester:ingest',
      'reader:score,ingest',
      'ops:admin',
    ])
    expect(lines.some((line) => line.level >= 40)).toBe(false)
    for (const { key } of Object.values(KEYS)) expect(text).not.toContain(key)
    expect(text).not.toMatch(/[0-9a-f]{64}/)
  })
})

describe('open server', () => {
  it('serves admin routes without a key', async () => {
    const [open, openUrl] = await startServer(setup.config)
    try {
      const models = await send(openUrl, { method: 'GET', path: '/v1/models' })
      const metrics = await send(openUrl, { method: 'GET', path: '/metrics' })

      expect(models.status).toBe(200)
      expect(metrics.status).toBe(200)
    } finally {
      await open.close()
    }
  })
})
