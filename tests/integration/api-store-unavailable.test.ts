/**
 * The API with a ClickHouse server that does not respond: a real client aimed at a loopback
 * port that nothing listens on, and one aimed at a loopback server that accepts connections
 * and never replies. Contacts given with features are still scored, and what needs the
 * store gets STORE_UNAVAILABLE.
 */
import { createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { createClient } from '@clickhouse/client'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildServer } from '../../inference/server.ts'
import { ScoringService } from '../../inference/service.ts'
import { loadConfig } from '../../src/config/index.ts'
import { execInsert, type Store } from '../../src/store/client.ts'
import { freeLoopbackPort, zeroFeatures } from '../helpers/integration.ts'
import { setUpTrainedStore, type TrainedStore } from '../helpers/trained-store.ts'

const SETUP_TIMEOUT_MS = 180_000

let setup: TrainedStore
let unreachable: Store
let app: FastifyInstance
let baseUrl: string

/** Request timeout of the client of the silent server, as CLICKHOUSE_REQUEST_TIMEOUT_MS sets it. */
const SILENT_TIMEOUT_MS = 3000

/** Builds a server store on `url` the way openStore does, without its migrations. */
function serverStore(url: string, requestTimeoutMs: number): Store {
  const client = createClient({ url, request_timeout: requestTimeoutMs })
  return {
    client,
    engine: 'server',
    location: url,
    insertFormatted: (insert) => execInsert(client, insert),
    close: () => client.close(),
  }
}

/**
 * Starts the API with the trained bundle on a ClickHouse server store at `url`, configured by
 * `env` over the trained store's environment. Returns the store, the app and its URL.
 */
async function startApi(url: string, env: Record<string, string>) {
  const config = loadConfig({ ...setup.env, CLICKHOUSE_URL: url, ...env })
  const store = serverStore(url, config.clickhouse.requestTimeoutMs)
  const service = new ScoringService(config, store, setup.bundle)
  await service.loadChampion()
  const server = buildServer(service)
  const serverUrl = await server.listen({ host: '127.0.0.1', port: 0 })
  return { store, server, serverUrl }
}

beforeAll(async () => {
  // The bundle comes from a trained embedded store; the server then gets a store it cannot reach.
  setup = await setUpTrainedStore({ prefix: 'api-store-unavailable-test' })
  const started = await startApi(`http://127.0.0.1:${await freeLoopbackPort()}`, {
    CLICKHOUSE_REQUEST_TIMEOUT_MS: '5000',
    SEGMENTS_SCORE_LOG_SPOOL_DIR: join(setup.root, 'spool'),
  })
  unreachable = started.store
  app = started.server
  baseUrl = started.serverUrl
}, SETUP_TIMEOUT_MS)

afterAll(async () => {
  await app?.close()
  await unreachable?.close()
  await setup?.close()
})

async function send(path: string, init: RequestInit = {}) {
  const response = await fetch(`${baseUrl}${path}`, init)
  return { status: response.status, body: (await response.json()) as any }
}

const postJson = (path: string, body: unknown) =>
  send(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })

describe('unreachable store', () => {
  it('scores contacts with features, fails contacts by key', async () => {
    const key = setup.trained.test.contactKeys[0] as string
    const reply = await postJson('/v1/score', {
      contacts: [
        { key },
        { features: zeroFeatures(setup.trained.manifest.featureNames) },
        { key: 'other@example.com' },
      ],
    })
    const [byKey, withFeatures, otherKey] = reply.body.results

    expect(reply.status).toBe(200)
    expect(byKey.key).toBe(key)
    expect(byKey.error.code).toBe('STORE_UNAVAILABLE')
    expect(byKey.error.path).toEqual(['contacts', 0, 'key'])
    expect(byKey.error.message).toMatch(/^The ClickHouse store did not respond \(.*ECONNREFUSED/)
    expect(withFeatures.persona).toBeDefined()
    expect(withFeatures.churn.probability).toBeGreaterThanOrEqual(0)
    expect(otherKey.error.code).toBe('STORE_UNAVAILABLE')
    expect(otherKey.error.path).toEqual(['contacts', 2, 'key'])
  })

  it('returns 503 for a contact by key', async () => {
    const key = setup.trained.test.contactKeys[0] as string
    const reply = await send(`/v1/contacts/${encodeURIComponent(key)}`)

    expect(reply.status).toBe(503)
    expect(reply.body.error.code).toBe('STORE_UNAVAILABLE')
    expect(reply.body.error.path).toEqual([])
  })

  it('returns 503 for a webhook', async () => {
    const event = {
      event_id: 'unreachable-1',
      contact: 'a@example.com',
      type: 'open',
      time: '2025-04-01T10:00:00Z',
    }
    const reply = await send('/v1/webhooks/jsonl', {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: `${JSON.stringify(event)}\n`,
    })

    expect(reply.status).toBe(503)
    expect(reply.body.error.code).toBe('STORE_UNAVAILABLE')
  })

  it('reports the store in /readyz', async () => {
    const reply = await send('/readyz')

    expect(reply.status).toBe(503)
    expect(reply.body.ready).toBe(false)
    expect(reply.body.store).toEqual({ engine: 'server', reachable: false })
  })
})

describe('silent store', () => {
  let silent: Server
  const sockets = new Set<Socket>()
  let silentStore: Store
  let silentApp: FastifyInstance
  let silentUrl: string

  beforeAll(async () => {
    // Accepts every connection and never writes a byte back.
    silent = createServer((socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
    })
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const { port } = silent.address() as { port: number }
    const started = await startApi(`http://127.0.0.1:${port}`, {
      CLICKHOUSE_REQUEST_TIMEOUT_MS: String(SILENT_TIMEOUT_MS),
      SEGMENTS_SCORE_LOG_SPOOL_DIR: join(setup.root, 'silent-spool'),
    })
    silentStore = started.store
    silentApp = started.server
    silentUrl = started.serverUrl
  }, SETUP_TIMEOUT_MS)

  afterAll(async () => {
    for (const socket of sockets) socket.destroy()
    await silentApp?.close()
    await silentStore?.close()
    await new Promise<void>((resolve) => silent.close(() => resolve()))
  })

  it('fails contacts by key after the request timeout', async () => {
    const key = setup.trained.test.contactKeys[0] as string
    const startMs = Date.now()
    const response = await fetch(`${silentUrl}/v1/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        contacts: [{ key }, { features: zeroFeatures(setup.trained.manifest.featureNames) }],
      }),
    })
    const elapsedMs = Date.now() - startMs
    const body = (await response.json()) as any

    expect(response.status).toBe(200)
    expect(body.results[0].error.code).toBe('STORE_UNAVAILABLE')
    expect(body.results[0].error.message).toContain('Timeout error')
    expect(body.results[1].persona).toBeDefined()
    expect(elapsedMs).toBeGreaterThanOrEqual(SILENT_TIMEOUT_MS - 100)
  })

  it('answers /readyz within its own ping limit', async () => {
    const startMs = Date.now()
    const response = await fetch(`${silentUrl}/readyz`)
    const elapsedMs = Date.now() - startMs
    const body = (await response.json()) as any

    expect(response.status).toBe(503)
    expect(body.store).toEqual({ engine: 'server', reachable: false })
    // The ping waits at most 2 s, less than the client's request timeout of 3 s.
    expect(elapsedMs).toBeGreaterThanOrEqual(1900)
    expect(elapsedMs).toBeLessThan(SILENT_TIMEOUT_MS)
  })
})
