import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildServer } from '../../inference/server.ts'
import { ScoringService } from '../../inference/service.ts'
import { loadConfig, type Config } from '../../src/config/index.ts'
import { importContactsCsv } from '../../src/events/contacts.ts'
import { ingestBody } from '../../src/events/ingest.ts'
import { computeFeatures } from '../../src/features/compute.ts'
import { countWeekOpens, toDenseWeek } from '../../src/features/send-time.ts'
import type { Manifest } from '../../src/registry/manifest.ts'
import { simulate, type SimulationSummary } from '../../src/simulate/simulate.ts'
import { openStore, type Store } from '../../src/store/client.ts'
import { trainBundle, type TrainResult } from '../../training/pipeline.ts'
import { countRows, makeTempDir, readFixture } from '../helpers/integration.ts'

const SEED = 7
const CONTACTS = 300
const DAYS = 120
const HORIZON_DAYS = 30
const PERSONAS = 8
const TREES = 20
const BUNDLE = 'segments'

/** Limits of the second server, which shares the store and the bundle. */
const LIMITED_MAX_CONTACTS = 5
const LIMITED_BODY_BYTES = 2048

const SETUP_TIMEOUT_MS = 180_000
const REQUEST_TIMEOUT_MS = 30_000

const SENDGRID_BODY = readFixture('sendgrid-event-webhook-batch.json')
/** The SendGrid fixture's 16 records hold 15 distinct events (the last repeats one). */
const SENDGRID_FIXTURE_EVENTS = 15
// The batch has one more record: it repeats a delivered event's sg_event_id.
const SENDGRID_FIXTURE_REPEATS = 1

interface HttpReply {
  status: number
  body: any
}

interface ScoredResult {
  index: number
  key: string | null
  persona: { id: number; name: string; distance: number }
  churn: { probability: number; band: string }
  reasons: { feature: string; value: number; effect: number }[]
  bestSendTime: {
    hourOfWeek: number
    weekday: string
    hour: number
    ownShare: number
    personaShare: number
    globalShare: number
  }
  modelVersion: string
}

let root: string
let config: Readonly<Config>
let store: Store
let summary: SimulationSummary
let trained: TrainResult
let manifest: Manifest
let cutoffMs: number
let app: FastifyInstance
let baseUrl: string
let limitedApp: FastifyInstance
let limitedUrl: string
let unloadedApp: FastifyInstance
let unloadedUrl: string

async function startServer(config: Readonly<Config>): Promise<[FastifyInstance, string]> {
  const service = new ScoringService(config, store, BUNDLE)
  await service.loadChampion()
  const server = buildServer(service)
  const address = await server.listen({ host: '127.0.0.1', port: 0 })
  return [server, address]
}

async function request(url: string, init: RequestInit = {}): Promise<HttpReply> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  const text = await response.text()
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) }
}

function post(path: string, body: string, contentType = 'application/json', base = baseUrl) {
  return request(`${base}${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': contentType },
  })
}

function score(contacts: unknown[], base = baseUrl) {
  return post('/v1/score', JSON.stringify({ contacts, asOf: summary.cutoff }), undefined, base)
}

/** Returns the risk band of `probability`: the highest manifest threshold it reaches. */
function expectedBand(probability: number): string {
  if (probability >= manifest.churn.bands.high) return 'high'
  if (probability >= manifest.churn.bands.medium) return 'medium'
  return 'low'
}

/** Features of one contact as of the cutoff, computed from the store as the service does. */
async function featuresOf(key: string): Promise<Record<string, number>> {
  const computed = await computeFeatures(store.client, cutoffMs, config.defaultTimeZone, [key])
  expect(computed.contactKeys).toEqual([key])
  const row = computed.matrix.data
  return Object.fromEntries(computed.featureNames.map((name, j) => [name, row[j] as number]))
}

async function ingestSimulation(outDir: string): Promise<void> {
  const contactsCsv = await readFile(join(outDir, 'contacts.csv'), 'utf8')
  const contacts = await importContactsCsv(store.client, contactsCsv, 'test:contacts.csv')
  expect(contacts).toEqual({ stored: CONTACTS, rejects: [] })

  for (const file of summary.files.filter((name) => name.endsWith('.json'))) {
    const provider = file.startsWith('sendgrid/') ? 'sendgrid' : 'ses'
    const body = await readFile(join(outDir, file), 'utf8')
    await ingestBody(store.client, provider, body, `test:${file}`)
  }
}

beforeAll(async () => {
  root = await makeTempDir('api-test')
  const env = {
    SEGMENTS_CHDB_PATH: join(root, 'clickhouse'),
    SEGMENTS_MODELS_DIR: join(root, 'models'),
    SEGMENTS_LOG_LEVEL: 'silent',
  }
  config = loadConfig(env)
  store = await openStore(config.clickhouse)

  const outDir = join(root, 'simulation')
  summary = await simulate({ contacts: CONTACTS, days: DAYS, seed: SEED, outDir })
  cutoffMs = Date.parse(summary.cutoff)
  await ingestSimulation(outDir)

  trained = await trainBundle(store.client, {
    name: BUNDLE,
    modelsDir: config.modelsDir,
    asOfMs: cutoffMs,
    horizonDays: HORIZON_DAYS,
    k: PERSONAS,
    seed: SEED,
    nTrees: TREES,
    defaultZone: config.defaultTimeZone,
  })
  manifest = trained.manifest

  ;[app, baseUrl] = await startServer(config)
  const limitedConfig = loadConfig({
    ...env,
    SEGMENTS_SCORE_MAX_CONTACTS: String(LIMITED_MAX_CONTACTS),
    SEGMENTS_BODY_LIMIT_BYTES: String(LIMITED_BODY_BYTES),
  })
  ;[limitedApp, limitedUrl] = await startServer(limitedConfig)

  // A service whose champion was never loaded, as after a failed start.
  unloadedApp = buildServer(new ScoringService(config, store, BUNDLE))
  unloadedUrl = await unloadedApp.listen({ host: '127.0.0.1', port: 0 })
}, SETUP_TIMEOUT_MS)

afterAll(async () => {
  await app?.close()
  await limitedApp?.close()
  await unloadedApp?.close()
  await store?.close()
  if (root) await rm(root, { recursive: true, force: true })
})

describe('health routes', () => {
  it('GET /healthz returns ok', async () => {
    const reply = await request(`${baseUrl}/healthz`)

    expect(reply.status).toBe(200)
    expect(reply.body).toEqual({ status: 'ok' })
  })

  it('GET /readyz reports model and store', async () => {
    const reply = await request(`${baseUrl}/readyz`)

    expect(reply.status).toBe(200)
    expect(reply.body).toEqual({
      ready: true,
      model: manifest.version,
      lastReloadError: null,
      store: { engine: 'chdb', reachable: true },
      scoreLog: expect.objectContaining({ spoolRows: 0, insertFailing: false, droppedRows: 0 }),
      tfjsBackend: expect.stringMatching(/^(tensorflow|wasm|cpu)$/),
      tfjsPackage: expect.stringMatching(/^@tensorflow\/tfjs(-node-gpu|-node|-backend-wasm)?$/),
    })
    const expectedBackend: Record<string, string> = {
      '@tensorflow/tfjs-node-gpu': 'tensorflow',
      '@tensorflow/tfjs-node': 'tensorflow',
      '@tensorflow/tfjs-backend-wasm': 'wasm',
      '@tensorflow/tfjs': 'cpu',
    }
    expect(reply.body.tfjsBackend).toBe(expectedBackend[reply.body.tfjsPackage])
  })
})

describe('content types', () => {
  it.each([
    ['a=b', 'application/x-www-form-urlencoded'],
    ['{"contacts":[]}', 'text/plain'],
  ])('answers 415 for %s as %s', async (body, contentType) => {
    const reply = await post('/v1/score', body, contentType)
    expect(reply.status).toBe(415)
    expect(reply.body).toEqual({
      error: {
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: 'Send the body with Content-Type: application/json',
        path: [],
      },
    })
  })
})

describe('asOf', () => {
  it('rejects a time far ahead', async () => {
    const body = JSON.stringify({
      contacts: [{ key: 'a@example.com' }],
      asOf: '9999-12-31T23:59:59Z',
    })
    const reply = await post('/v1/score', body)
    expect(reply.status).toBe(400)
    expect(reply.body).toEqual({
      error: {
        code: 'INVALID_REQUEST',
        message: 'asOf: must be at most a day after now, received 9999-12-31T23:59:59Z',
        path: ['asOf'],
      },
    })
  })
})

describe('webhook route', () => {
  it('stores the SendGrid batch', async () => {
    const before = await countRows(store.client, 'events')

    const reply = await post('/v1/webhooks/sendgrid', SENDGRID_BODY)

    expect(reply.status).toBe(200)
    expect(reply.body).toEqual({
      stored: SENDGRID_FIXTURE_EVENTS,
      duplicates: SENDGRID_FIXTURE_REPEATS,
      rejected: 0,
      ignored: 0,
    })
    expect(await countRows(store.client, 'events')).toBe(before + SENDGRID_FIXTURE_EVENTS)
  })

  it('counts a repeated batch', async () => {
    const before = await countRows(store.client, 'events')

    const reply = await post('/v1/webhooks/sendgrid', SENDGRID_BODY)

    expect(reply.status).toBe(200)
    expect(reply.body).toEqual({
      stored: 0,
      duplicates: SENDGRID_FIXTURE_EVENTS + SENDGRID_FIXTURE_REPEATS,
      rejected: 0,
      ignored: 0,
    })
    expect(await countRows(store.client, 'events')).toBe(before)
  })

  it('accepts SNS as text/plain', async () => {
    const before = await countRows(store.client, 'events')
    const body = readFixture('ses-sns-open-notification.json')

    const reply = await post('/v1/webhooks/ses', body, 'text/plain; charset=UTF-8')

    // The notification is one Open with one destination address.
    expect(reply.status).toBe(200)
    expect(reply.body).toEqual({ stored: 1, duplicates: 0, rejected: 0, ignored: 0 })
    expect(await countRows(store.client, 'events')).toBe(before + 1)
  })

  it('rejects an unparseable body', async () => {
    const eventsBefore = await countRows(store.client, 'events')
    const rejectsBefore = await countRows(store.client, 'ingest_rejects')

    const reply = await post('/v1/webhooks/sendgrid', '[{"email":')

    expect(reply.status).toBe(400)
    expect(Object.keys(reply.body)).toEqual(['error'])
    expect(reply.body.error.code).toBe('UNPARSEABLE_PAYLOAD')
    expect(reply.body.error.message).toMatch(/^SendGrid body is not valid JSON: /)
    expect(reply.body.error.path).toEqual([])
    expect(await countRows(store.client, 'events')).toBe(eventsBefore)
    expect(await countRows(store.client, 'ingest_rejects')).toBe(rejectsBefore)
  })

  it('answers 404 for an unknown provider', async () => {
    const reply = await post('/v1/webhooks/nope', '[]')

    expect(reply.status).toBe(404)
    expect(reply.body.error.code).toBe('NOT_FOUND')
    expect(reply.body.error.message).toMatch(/^No route POST \/v1\/webhooks\/nope: /)
    expect(reply.body.error.path).toEqual(['provider'])
  })

  it('rejects an oversized webhook body', async () => {
    const before = await countRows(store.client, 'events')
    expect(Buffer.byteLength(SENDGRID_BODY)).toBeGreaterThan(LIMITED_BODY_BYTES)

    const reply = await post('/v1/webhooks/sendgrid', SENDGRID_BODY, 'application/json', limitedUrl)

    expect(reply.status).toBe(413)
    expect(reply.body.error.code).toBe('PAYLOAD_TOO_LARGE')
    expect(reply.body.error.path).toEqual([])
    expect(await countRows(store.client, 'events')).toBe(before)
  })
})

describe('score route', () => {
  it('scores a known contact', async () => {
    const key = trained.test.contactKeys[0] as string

    const reply = await score([{ key }])
    const result = reply.body.results[0] as ScoredResult
    const persona = manifest.personas.list.find((entry) => entry.id === result.persona.id)

    expect(reply.status).toBe(200)
    expect(reply.body.modelVersion).toBe(manifest.version)
    expect(reply.body.results).toHaveLength(1)
    expect(result.index).toBe(0)
    expect(result.key).toBe(key)
    expect(persona?.name).toBe(result.persona.name)
    expect(result.churn.probability).toBeGreaterThanOrEqual(0)
    expect(result.churn.probability).toBeLessThanOrEqual(1)
    expect(result.churn.band).toBe(expectedBand(result.churn.probability))
    expect(result.reasons.length).toBeLessThanOrEqual(3)
    for (const reason of result.reasons) {
      expect(manifest.churn.features).toContain(reason.feature)
      expect(reason.effect).not.toBe(0)
    }
    const { hourOfWeek, weekday, hour } = result.bestSendTime
    expect(Number.isInteger(hourOfWeek)).toBe(true)
    expect(hourOfWeek).toBeGreaterThanOrEqual(0)
    expect(hourOfWeek).toBeLessThanOrEqual(167)
    expect(hour).toBe(hourOfWeek % 24)
    expect(weekday).toBe(
      ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'][Math.floor(hourOfWeek / 24)],
    )
    expect(result.modelVersion).toBe(manifest.version)
  })

  it('matches the training personas', async () => {
    // Training labels each contact with its nearest final centroid, fitted on the features as
    // of the cutoff, so scoring by key at the cutoff gives the same persona.
    const keys = trained.test.contactKeys.slice(0, LIMITED_MAX_CONTACTS * 4)

    const reply = await score(keys.map((key) => ({ key })))
    const scored = (reply.body.results as ScoredResult[]).map((result) => result.persona.id)

    expect(reply.status).toBe(200)
    expect(scored).toEqual(keys.map((_, row) => trained.personas.labels[row]))
  })

  it('isolates an unknown contact', async () => {
    const [first, second] = trained.test.contactKeys as [string, string]

    const reply = await score([{ key: first }, { key: 'nobody@example.com' }, { key: second }])
    const [scoredFirst, unknown, scoredSecond] = reply.body.results

    expect(reply.status).toBe(200)
    expect(scoredFirst.key).toBe(first)
    expect(scoredFirst.persona).toBeDefined()
    expect(scoredFirst.error).toBeUndefined()
    expect(unknown).toEqual({
      index: 1,
      key: 'nobody@example.com',
      error: {
        code: 'UNKNOWN_CONTACT',
        message: `No events or contact record before ${summary.cutoff} for key "nobody@example.com"`,
        path: ['contacts', 1, 'key'],
      },
    })
    expect(scoredSecond.key).toBe(second)
    expect(scoredSecond.persona).toBeDefined()
    expect(scoredSecond.error).toBeUndefined()
  })

  it('scores features like the key', async () => {
    const key = trained.test.contactKeys[1] as string
    const features = await featuresOf(key)
    const opens = (await countWeekOpens(store.client, cutoffMs, config.defaultTimeZone, [key])).get(
      key,
    )
    const hourOfWeekOpens = Array.from(toDenseWeek(opens ?? { slots: [], counts: [] }))

    const reply = await score([{ key }, { features, hourOfWeekOpens }, { features }])
    const [byKey, byFeatures, withoutOpens] = reply.body.results as ScoredResult[]

    expect(reply.status).toBe(200)
    expect(byFeatures?.key).toBeNull()
    expect(byFeatures?.persona.id).toBe(byKey?.persona.id)
    expect(byFeatures?.persona.distance).toBe(byKey?.persona.distance)
    expect(byFeatures?.churn.probability).toBe(byKey?.churn.probability)
    expect(byFeatures?.bestSendTime).toEqual(byKey?.bestSendTime)
    // Without hourOfWeekOpens, the contact's own opens are unknown and only the profiles count.
    expect(withoutOpens?.bestSendTime.ownShare).toBe(0)
  })

  it('names a missing feature', async () => {
    const key = trained.test.contactKeys[2] as string
    const { tenure_days: _dropped, ...features } = await featuresOf(key)

    const reply = await score([{ key }, { features }])
    const [byKey, incomplete] = reply.body.results

    expect(reply.status).toBe(200)
    expect(byKey.persona).toBeDefined()
    expect(incomplete).toEqual({
      index: 1,
      key: null,
      error: {
        code: 'INVALID_REQUEST',
        message: 'Missing feature "tenure_days"',
        path: ['contacts', 1, 'features', 'tenure_days'],
      },
    })
  })

  it('names a feature of the wrong type', async () => {
    const key = trained.test.contactKeys[2] as string
    const features = await featuresOf(key)
    const cases: [unknown, string][] = [
      ['3', '"3"'],
      [null, 'null'],
      [true, 'true'],
    ]
    for (const [value, shown] of cases) {
      const reply = await score([{ key }, { features: { ...features, tenure_days: value } }])
      const [byKey, wrong] = reply.body.results

      expect(reply.status).toBe(200)
      expect(byKey.persona).toBeDefined()
      expect(wrong).toEqual({
        index: 1,
        key: null,
        error: {
          code: 'INVALID_REQUEST',
          message: `Feature "tenure_days" must be a finite number, received ${shown}`,
          path: ['contacts', 1, 'features', 'tenure_days'],
        },
      })
    }
  })

  it('asks for a key or features', async () => {
    const reply = await score([{}])

    expect(reply.status).toBe(200)
    expect(reply.body.results[0].error.code).toBe('INVALID_REQUEST')
    expect(reply.body.results[0].error.path).toEqual(['contacts', 0])
  })

  it('accepts the maximum contact count', async () => {
    const keys = trained.test.contactKeys.slice(0, LIMITED_MAX_CONTACTS)

    const reply = await score(
      keys.map((key) => ({ key })),
      limitedUrl,
    )

    expect(reply.status).toBe(200)
    expect(reply.body.results).toHaveLength(LIMITED_MAX_CONTACTS)
  })

  it('rejects too many contacts', async () => {
    const keys = trained.test.contactKeys.slice(0, LIMITED_MAX_CONTACTS + 1)

    const reply = await score(
      keys.map((key) => ({ key })),
      limitedUrl,
    )

    expect(reply.status).toBe(400)
    expect(reply.body.error.code).toBe('INVALID_REQUEST')
    expect(reply.body.error.path).toEqual(['contacts'])
  })

  it('rejects an oversized body', async () => {
    const body = JSON.stringify({ contacts: [{ key: 'k'.repeat(LIMITED_BODY_BYTES) }] })

    const reply = await post('/v1/score', body, 'application/json', limitedUrl)

    expect(reply.status).toBe(413)
    expect(reply.body.error.code).toBe('PAYLOAD_TOO_LARGE')
    expect(reply.body.error.path).toEqual([])
  })

  it('rejects invalid JSON', async () => {
    const reply = await post('/v1/score', '{"contacts":')

    expect(reply.status).toBe(400)
    expect(reply.body.error.code).toBe('INVALID_REQUEST')
    expect(typeof reply.body.error.message).toBe('string')
    expect(reply.body.error.path).toEqual([])
  })

  it('fails only a contact with an unknown field', async () => {
    const key = trained.test.contactKeys[3] as string
    const reply = await score([{ key: 'a@example.com', segment: 'x' }, { key }])
    const [unknown, valid] = reply.body.results

    expect(reply.status).toBe(200)
    expect(unknown).toEqual({
      index: 0,
      key: 'a@example.com',
      error: {
        code: 'INVALID_REQUEST',
        message: 'Unknown field "segment"; a contact takes "key", "features", "hourOfWeekOpens"',
        path: ['contacts', 0, 'segment'],
      },
    })
    expect(valid.persona).toBeDefined()
    expect(valid.error).toBeUndefined()
  })

  it('fails only contacts that break the contact schema', async () => {
    const key = trained.test.contactKeys[3] as string
    const reply = await score([
      'a@example.com',
      null,
      { key: 'k'.repeat(321) },
      { key: 7 },
      { key },
    ])
    const results = reply.body.results

    expect(reply.status).toBe(200)
    expect(results).toHaveLength(5)
    expect(results[0].error.path).toEqual(['contacts', 0])
    expect(results[0].error.message).toBe('Invalid input: expected object, received string')
    expect(results[1].error.path).toEqual(['contacts', 1])
    expect(results[2].key).toBe('k'.repeat(321))
    expect(results[2].error.path).toEqual(['contacts', 2, 'key'])
    expect(results[2].error.message).toMatch(
      /^key: Too big: expected string to have <=320 characters/,
    )
    expect(results[3].key).toBeNull()
    expect(results[3].error.path).toEqual(['contacts', 3, 'key'])
    for (const result of results.slice(0, 4)) {
      expect(result.error.code).toBe('INVALID_REQUEST')
    }
    expect(results[4].persona).toBeDefined()
  })

  it('names an unknown top-level field', async () => {
    const body = JSON.stringify({ contacts: [{ key: 'a@example.com' }], segment: 'x' })
    const reply = await post('/v1/score', body)

    expect(reply.status).toBe(400)
    expect(reply.body.error.code).toBe('INVALID_REQUEST')
    expect(reply.body.error.path).toEqual(['segment'])
  })
})

describe('segments route', () => {
  it('lists the personas', async () => {
    const reply = await request(`${baseUrl}/v1/segments`)
    const expected = manifest.personas.list.map(({ id, name, description, size, centroid }) => ({
      id,
      name,
      description,
      size,
      share: size / CONTACTS,
      centroid,
    }))

    expect(reply.status).toBe(200)
    expect(reply.body.modelVersion).toBe(manifest.version)
    expect(reply.body.personas).toEqual(expected)
    expect(reply.body.personas).toHaveLength(PERSONAS)
  })

  it('sizes sum to fitted contacts', async () => {
    // Every simulated contact is created before the cutoff, and personas are fitted on the
    // contacts as of the cutoff.
    const reply = await request(`${baseUrl}/v1/segments`)
    const sizes = (reply.body.personas as { size: number }[]).map((persona) => persona.size)

    expect(sizes.reduce((total, size) => total + size, 0)).toBe(CONTACTS)
    expect(trained.test.contactKeys).toHaveLength(CONTACTS)
  })
})

describe('unloaded model', () => {
  it('GET /readyz returns 503', async () => {
    const reply = await request(`${unloadedUrl}/readyz`)

    expect(reply.status).toBe(503)
    expect(reply.body).toEqual({
      ready: false,
      model: null,
      lastReloadError: null,
      store: { engine: 'chdb', reachable: true },
      scoreLog: expect.objectContaining({ spoolRows: 0, insertFailing: false, droppedRows: 0 }),
      tfjsBackend: expect.stringMatching(/^(tensorflow|wasm|cpu)$/),
      tfjsPackage: expect.stringMatching(/^@tensorflow\//),
    })
  })

  it('POST /v1/score returns 503', async () => {
    const key = trained.test.contactKeys[0] as string

    const reply = await score([{ key }], unloadedUrl)

    expect(reply.status).toBe(503)
    expect(reply.body.error.code).toBe('MODEL_NOT_LOADED')
    expect(reply.body.error.path).toEqual([])
  })

  it('GET /v1/segments returns 503', async () => {
    const reply = await request(`${unloadedUrl}/v1/segments`)

    expect(reply.status).toBe(503)
    expect(reply.body.error.code).toBe('MODEL_NOT_LOADED')
  })
})

describe('unknown route', () => {
  it('returns NOT_FOUND', async () => {
    const reply = await request(`${baseUrl}/v1/nothing`)

    expect(reply.status).toBe(404)
    expect(reply.body).toEqual({
      error: { code: 'NOT_FOUND', message: 'No route GET /v1/nothing', path: [] },
    })
  })
})
