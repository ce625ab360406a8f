import { connect } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildServer } from '../../inference/server.ts'
import { ScoringService, type ContactInput } from '../../inference/service.ts'
import { loadConfig, type Config } from '../../src/config/index.ts'
import { readFixture } from '../helpers/integration.ts'
import { apiKeysValue, setUpTrainedStore, type TrainedStore } from '../helpers/trained-store.ts'

const SETUP_TIMEOUT_MS = 180_000
const REQUEST_TIMEOUT_MS = 30_000
const RATE_LIMIT = 3

const KEYS = {
  scorer: { scopes: ['score'], key: 'scorer-key-5d2a8c0e7b1f' },
  other: { scopes: ['score'], key: 'other-key-9b4e1f6a3c8d' },
  ops: { scopes: ['admin'], key: 'ops-key-1e7c3a9f5b0d' },
}

const SENDGRID_BODY = readFixture('sendgrid-event-webhook-batch.json')
/** The SendGrid fixture's 16 records hold 15 distinct events (the last repeats one). */
const SENDGRID_FIXTURE_EVENTS = 15

interface HttpReply {
  status: number
  headers: Headers
  text: string
  body: any
}

let setup: TrainedStore
let keyedConfig: Readonly<Config>

async function send(url: string, init: RequestInit = {}): Promise<HttpReply> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  const text = await response.text()
  const json = (response.headers.get('content-type') ?? '').includes('application/json')
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: json && text !== '' ? JSON.parse(text) : undefined,
  }
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

async function startServer(
  config: Readonly<Config>,
  service = new ScoringService(config, setup.store, setup.bundle),
): Promise<[FastifyInstance, string]> {
  await service.loadChampion()
  const server = buildServer(service)
  const address = await server.listen({ host: '127.0.0.1', port: 0 })
  return [server, address]
}

/** Returns the value of the sample `series` (name and labels exactly as exposed) in a scrape. */
function sampleValue(scrape: string, series: string): number | undefined {
  const line = scrape.split('\n').find((entry) => entry.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

beforeAll(async () => {
  setup = await setUpTrainedStore({ prefix: 'api-operations-test' })
  keyedConfig = loadConfig({ ...setup.env, SEGMENTS_API_KEYS: apiKeysValue(KEYS) })
}, SETUP_TIMEOUT_MS)

afterAll(async () => {
  await setup?.close()
})

describe('OpenAPI docs', () => {
  let app: FastifyInstance
  let baseUrl: string
  let document: any

  beforeAll(async () => {
    ;[app, baseUrl] = await startServer(keyedConfig)
    document = (await send(`${baseUrl}/docs/json`, { headers: bearer(KEYS.ops.key) })).body
  })

  afterAll(async () => {
    await app?.close()
  })

  it('serves swagger UI', async () => {
    const reply = await send(`${baseUrl}/docs`, { headers: bearer(KEYS.ops.key) })

    expect(reply.status).toBe(200)
    expect(reply.headers.get('content-type')).toMatch(/^text\/html/)
    expect(reply.text).toContain('swagger')
  })

  it('documents every API route', () => {
    const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations as object).map((method) => `${method.toUpperCase()} ${path}`),
    )
    const routes = app.routeAccess
      .filter((route) => route.method !== 'HEAD' && !route.url.startsWith('/docs'))
      .map((route) => `${route.method} ${route.url.replace(/:(\w+)/g, '{$1}')}`)

    expect(documented.sort()).toEqual([...new Set(routes)].sort())
    expect(document.openapi).toMatch(/^3\./)
  })

  it('states security per route', () => {
    const keySecurity = [{ bearerAuth: [] }, { apiKeyHeader: [] }]

    expect(document.components.securitySchemes.bearerAuth).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    })
    expect(document.components.securitySchemes.apiKeyHeader).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'X-API-Key',
    })
    expect(document.paths['/healthz'].get.security).toEqual([])
    expect(document.paths['/v1/score'].post.security).toEqual(keySecurity)
    expect(document.paths['/v1/models'].get.security).toEqual(keySecurity)
    expect(document.paths['/v1/score'].post.description).toContain('`score` (or `admin`) scope')
    expect(document.paths['/v1/webhooks/{provider}'].post.description).toContain('signature')
  })

  it('derives schemas from zod', () => {
    const contact = document.paths['/v1/contacts/{key}'].get
    const parameters = contact.parameters.map((parameter: any) => [parameter.in, parameter.name])
    const ok = contact.responses['200'].content['application/json'].schema
    const notFound = contact.responses['404'].content['application/json'].schema

    expect(parameters).toContainEqual(['path', 'key'])
    expect(parameters).toContainEqual(['query', 'asOf'])
    expect(ok.required).toEqual(expect.arrayContaining(['persona', 'churn', 'features', 'asOf']))
    expect(notFound.properties.error.properties.code.enum).toContain('UNKNOWN_CONTACT')
    for (const status of ['401', '403', '429']) {
      expect(contact.responses[status], status).toBeDefined()
    }
    expect(document.paths['/healthz'].get.responses['401']).toBeUndefined()
  })
})

describe('metrics', () => {
  let app: FastifyInstance
  let baseUrl: string
  let scrape: string
  let scrapeType: string | null

  beforeAll(async () => {
    ;[app, baseUrl] = await startServer(keyedConfig)
    const known = setup.trained.test.contactKeys[0] as string
    const contacts = [{ key: known }, { key: 'nobody@example.com' }]
    await send(`${baseUrl}/v1/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(KEYS.scorer.key) },
      body: JSON.stringify({ contacts, asOf: setup.summary.cutoff }),
    })
    await send(`${baseUrl}/v1/contacts/${encodeURIComponent(known)}`, {
      headers: bearer(KEYS.scorer.key),
    })
    await send(`${baseUrl}/v1/webhooks/sendgrid`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(KEYS.ops.key) },
      body: SENDGRID_BODY,
    })
    await send(`${baseUrl}/v1/webhooks/sendgrid`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(KEYS.ops.key) },
      body: '[{"email":',
    })
    await send(`${baseUrl}/v1/segments`)
    await send(`${baseUrl}/v1/nothing/${Date.now()}`, { headers: bearer(KEYS.scorer.key) })
    const reply = await send(`${baseUrl}/metrics`, { headers: bearer(KEYS.ops.key) })
    scrape = reply.text
    scrapeType = reply.headers.get('content-type')
  })

  afterAll(async () => {
    await app?.close()
  })

  it('uses the Prometheus text format', () => {
    expect(scrapeType).toMatch(/^text\/plain; version=0\.0\.4/)
  })

  it('counts requests per route and status', () => {
    const series = (method: string, route: string, status: number) =>
      `http_requests_total{method="${method}",route="${route}",status_code="${status}"}`

    expect(sampleValue(scrape, series('POST', '/v1/score', 200))).toBe(1)
    expect(sampleValue(scrape, series('GET', '/v1/contacts/:key', 200))).toBe(1)
    expect(sampleValue(scrape, series('POST', '/v1/webhooks/:provider', 200))).toBe(1)
    expect(sampleValue(scrape, series('POST', '/v1/webhooks/:provider', 400))).toBe(1)
    expect(sampleValue(scrape, series('GET', '/v1/segments', 401))).toBe(1)
    expect(sampleValue(scrape, series('GET', 'unmatched', 404))).toBe(1)
  })

  it('observes latency per route', () => {
    const labels = 'method="POST",route="/v1/score",status_code="200"'

    expect(sampleValue(scrape, `http_request_duration_seconds_count{${labels}}`)).toBe(1)
    expect(sampleValue(scrape, `http_request_duration_seconds_sum{${labels}}`)).toBeGreaterThan(0)
    expect(sampleValue(scrape, `http_request_duration_seconds_bucket{le="+Inf",${labels}}`)).toBe(1)
  })

  it('counts scored contacts', () => {
    expect(sampleValue(scrape, 'segments_contacts_scored_total')).toBe(2)
    expect(sampleValue(scrape, 'segments_contact_score_errors_total{code="UNKNOWN_CONTACT"}')).toBe(
      1,
    )
  })

  it('counts webhook events by provider', () => {
    const series = (outcome: string) =>
      `segments_webhook_events_total{provider="sendgrid",outcome="${outcome}"}`

    expect(sampleValue(scrape, series('stored'))).toBe(SENDGRID_FIXTURE_EVENTS)
    expect(sampleValue(scrape, series('duplicate'))).toBe(1)
    expect(sampleValue(scrape, series('rejected'))).toBe(0)
  })

  it('labels the loaded model version', () => {
    const version = setup.trained.manifest.version

    expect(sampleValue(scrape, `segments_model_info{version="${version}"}`)).toBe(1)
  })

  it('includes process metrics', () => {
    expect(sampleValue(scrape, 'process_cpu_user_seconds_total')).toBeGreaterThan(0)
    expect(sampleValue(scrape, 'process_resident_memory_bytes')).toBeGreaterThan(0)
  })

  it('drops the version while unloaded', async () => {
    const service = new ScoringService(setup.config, setup.store, setup.bundle)
    const server = buildServer(service)
    try {
      const address = await server.listen({ host: '127.0.0.1', port: 0 })
      const before = await send(`${address}/metrics`)
      await service.loadChampion()
      const after = await send(`${address}/metrics`)

      expect(before.status).toBe(200)
      expect(after.status).toBe(200)
      expect(before.text).not.toMatch(/^segments_model_info\{/m)
      expect(after.text).toMatch(/^segments_model_info\{version="[^"]+"\} 1$/m)
    } finally {
      await server.close()
    }
  })
})

describe('rate limits', () => {
  const limitedEnv = () => ({ ...setup.env, SEGMENTS_RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT) })

  it('limits each key on its own', async () => {
    const config = loadConfig({ ...limitedEnv(), SEGMENTS_API_KEYS: apiKeysValue(KEYS) })
    const [app, baseUrl] = await startServer(config)
    try {
      const statuses: number[] = []
      for (let i = 0; i < RATE_LIMIT; i++) {
        const reply = await send(`${baseUrl}/v1/segments`, { headers: bearer(KEYS.scorer.key) })
        statuses.push(reply.status)
      }
      const limited = await send(`${baseUrl}/v1/segments`, { headers: bearer(KEYS.scorer.key) })
      const otherKey = await send(`${baseUrl}/v1/segments`, { headers: bearer(KEYS.other.key) })

      expect(statuses).toEqual(Array(RATE_LIMIT).fill(200))
      expect(limited.status).toBe(429)
      expect(limited.body.error.code).toBe('RATE_LIMITED')
      expect(limited.body.error.message).toMatch(
        new RegExp(
          `^Rate limit of ${RATE_LIMIT} requests per minute exceeded for API key "scorer"`,
        ),
      )
      expect(limited.body.error.path).toEqual([])
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
      expect(limited.headers.get('x-ratelimit-limit')).toBe(String(RATE_LIMIT))
      expect(otherKey.status).toBe(200)
    } finally {
      await app.close()
    }
  })

  it('limits by IP when open', async () => {
    const [app, baseUrl] = await startServer(loadConfig(limitedEnv()))
    try {
      for (let i = 0; i < RATE_LIMIT; i++) await send(`${baseUrl}/v1/segments`)

      const limited = await send(`${baseUrl}/v1/segments`)

      expect(limited.status).toBe(429)
      expect(limited.body.error.code).toBe('RATE_LIMITED')
      expect(limited.body.error.message).toContain('for this IP')
    } finally {
      await app.close()
    }
  })

  it('exempts the probes', async () => {
    const [app, baseUrl] = await startServer(loadConfig(limitedEnv()))
    try {
      const statuses: number[] = []
      for (let i = 0; i < RATE_LIMIT * 3; i++) {
        statuses.push((await send(`${baseUrl}/healthz`)).status)
        statuses.push((await send(`${baseUrl}/readyz`)).status)
      }

      expect(statuses).toEqual(Array(RATE_LIMIT * 6).fill(200))
    } finally {
      await app.close()
    }
  })
})

/** A promise with its resolve function, to hold a request at a known point. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {}
  const promise = new Promise<void>((done) => (resolve = done))
  return { promise, resolve }
}

/** A scoring service whose score() counts its calls and waits for `release` after signalling `entered`. */
class HeldScoringService extends ScoringService {
  readonly entered = deferred()
  readonly release = deferred()
  calls = 0

  override async score(contacts: ContactInput[], asOfMs: number) {
    this.calls += 1
    this.entered.resolve()
    await this.release.promise
    return super.score(contacts, asOfMs)
  }
}

/** Waits until the server stops accepting connections, which close() does after preClose hooks. */
async function untilNotListening(app: FastifyInstance): Promise<void> {
  while (app.server.listening) await new Promise((resolve) => setTimeout(resolve, 5))
}

describe('graceful shutdown', () => {
  it('finishes a request in flight', async () => {
    const service = new HeldScoringService(setup.config, setup.store, setup.bundle)
    const [app, baseUrl] = await startServer(setup.config, service)
    const keys = setup.trained.test.contactKeys
    const body = JSON.stringify({
      contacts: keys.map((key) => ({ key })),
      asOf: setup.summary.cutoff,
    })

    const pending = send(`${baseUrl}/v1/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    })
    await service.entered.promise
    let closed = false
    const closing = app.close().then(() => (closed = true))
    await untilNotListening(app)
    const connectionFailed = await fetch(`${baseUrl}/healthz`).then(
      () => false,
      () => true,
    )
    const closedBeforeRelease = closed
    service.release.resolve()
    const reply = await pending
    await closing

    expect(connectionFailed).toBe(true)
    expect(closedBeforeRelease).toBe(false)
    expect(reply.status).toBe(200)
    expect(reply.body.results).toHaveLength(keys.length)
    expect(reply.body.results.every((result: any) => result.persona !== undefined)).toBe(true)
    expect(closed).toBe(true)
  })

  it('rejects a pipelined request', async () => {
    const config = loadConfig({ ...setup.env, SEGMENTS_LOG_LEVEL: 'info' })
    const service = new HeldScoringService(config, setup.store, setup.bundle)
    const logLines: { code?: string; msg: string }[] = []
    const logStream = { write: (line: string) => void logLines.push(JSON.parse(line)) }
    const app = buildServer(service, { logStream })
    await service.loadChampion()
    const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = new URL(baseUrl)
    const body = JSON.stringify({
      contacts: [{ key: setup.trained.test.contactKeys[0] }],
      asOf: setup.summary.cutoff,
    })
    const scoreRequest =
      'POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
    const socket = connect(Number(port), '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    const ended = new Promise((resolve) => socket.on('close', resolve))

    socket.write(scoreRequest)
    await service.entered.promise
    const closing = app.close()
    await untilNotListening(app)
    // A second request on the busy connection, which close() leaves open until its response.
    socket.write(scoreRequest)
    await new Promise((resolve) => setTimeout(resolve, 50))
    service.release.resolve()
    await ended
    await closing
    const text = Buffer.concat(chunks).toString('utf8')
    const statuses = [...text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((match) => Number(match[1]))
    const rejected = logLines.filter((line) => line.code === 'SHUTTING_DOWN')

    // Node hands the second request to Fastify, which rejects it, but the first response
    // closes the connection, so the rejection is never written.
    expect(service.calls).toBe(1)
    expect(rejected).toHaveLength(1)
    expect(statuses).toEqual([200])
    expect(text.toLowerCase()).toContain('connection: close')
  })
})
