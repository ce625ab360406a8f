/**
 * Input checks of the HTTP API over loopback: open counts that are not
 * integers, JSON keys rejected as prototype poisoning on every JSON route,
 * and webhook providers that do not exist.
 */
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildServer } from '../../inference/server.ts'
import { ScoringService } from '../../inference/service.ts'
import { HOURS_PER_WEEK } from '../../src/features/send-time.ts'
import { countRows, zeroFeatures } from '../helpers/integration.ts'
import { setUpTrainedStore, type TrainedStore } from '../helpers/trained-store.ts'

const SETUP_TIMEOUT_MS = 180_000
const REQUEST_TIMEOUT_MS = 30_000

/** The tail of every prototype-poisoning message. */
const NOT_ALLOWED = 'is not allowed, because it can change object prototypes; remove it'

let setup: TrainedStore
let app: FastifyInstance
let baseUrl: string

interface HttpReply {
  status: number
  body: any
}

async function post(path: string, body: string, contentType = 'application/json') {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  })
  const text = await response.text()
  return { status: response.status, body: JSON.parse(text) } as HttpReply
}

/** Features of a contact of the bundle with every value 0. */
const zeroBundleFeatures = () => zeroFeatures(setup.trained.manifest.featureNames)

beforeAll(async () => {
  setup = await setUpTrainedStore({ prefix: 'api-input-checks-test' })
  const service = new ScoringService(setup.config, setup.store, setup.bundle)
  await service.loadChampion()
  app = buildServer(service)
  baseUrl = await app.listen({ host: '127.0.0.1', port: 0 })
}, SETUP_TIMEOUT_MS)

afterAll(async () => {
  await app?.close()
  await setup?.close()
})

describe('hourOfWeekOpens', () => {
  it('rejects a fractional count', async () => {
    const features = zeroBundleFeatures()
    const fractional = new Array<number>(HOURS_PER_WEEK).fill(0)
    fractional[9] = 1.5
    const whole = new Array<number>(HOURS_PER_WEEK).fill(0)
    whole[9] = 2

    const reply = await post(
      '/v1/score',
      JSON.stringify({
        contacts: [
          { features, hourOfWeekOpens: whole },
          { features, hourOfWeekOpens: fractional },
        ],
      }),
    )
    const [scored, invalid] = reply.body.results

    expect(reply.status).toBe(200)
    expect(scored.bestSendTime.hourOfWeek).toBeGreaterThanOrEqual(0)
    expect(scored.bestSendTime.ownShare).toBeCloseTo(2 / 107, 12)
    expect(invalid).toEqual({
      index: 1,
      key: null,
      error: {
        code: 'INVALID_REQUEST',
        message: 'hourOfWeekOpens[9] must be an integer from 0 to 1e9, received 1.5',
        path: ['contacts', 1, 'hourOfWeekOpens', 9],
      },
    })
  })
})

describe('feature ranges', () => {
  it('rejects values outside their unit', async () => {
    const cases: [string, number, string][] = [
      ['mean_engagement_hour', -1, 'from 0 to 24'],
      ['mean_engagement_hour', 25, 'from 0 to 24'],
      ['median_open_delay_minutes', -5, 'from 0 to 1000000000'],
      ['opens_30d', -1, 'from 0 to 1000000000'],
      ['weekend_share', 1.5, 'from 0 to 1'],
    ]
    for (const [name, value, range] of cases) {
      const features = { ...zeroBundleFeatures(), [name]: value }
      const reply = await post(
        '/v1/score',
        JSON.stringify({ contacts: [{ features }, { features: zeroBundleFeatures() }] }),
      )
      const [outside, inside] = reply.body.results

      expect(reply.status).toBe(200)
      expect(outside.error).toEqual({
        code: 'INVALID_REQUEST',
        message: `Feature "${name}" must be ${range}, received ${value}`,
        path: ['contacts', 0, 'features', name],
      })
      expect(inside.persona).toBeDefined()
    }
  })

  it('shows a value too large for a double', async () => {
    const features = JSON.stringify(zeroBundleFeatures()).replace(
      '"opens_30d":0',
      '"opens_30d":1e400',
    )
    const reply = await post('/v1/score', `{"contacts":[{"features":${features}}]}`)

    expect(reply.status).toBe(200)
    expect(reply.body.results[0].error.message).toBe(
      'Feature "opens_30d" must be a finite number, received Infinity',
    )
  })

  it('accepts the bounds of an hour', async () => {
    for (const hour of [0, 23.99, 24]) {
      const features = { ...zeroBundleFeatures(), mean_engagement_hour: hour }
      const reply = await post('/v1/score', JSON.stringify({ contacts: [{ features }] }))

      expect(reply.status).toBe(200)
      expect(reply.body.results[0].error).toBeUndefined()
    }
  })
})

describe('prototype poisoning', () => {
  it('names "__proto__" in a score body', async () => {
    const reply = await post('/v1/score', '{"contacts":[{"__proto__":{}}]}')

    expect(reply.status).toBe(400)
    expect(reply.body).toEqual({
      error: {
        code: 'INVALID_REQUEST',
        message: `JSON key "__proto__" at contacts.0 ${NOT_ALLOWED}`,
        path: ['contacts', 0, '__proto__'],
      },
    })
  })

  it('names "constructor.prototype"', async () => {
    const body = '{"contacts":[{"key":"a@example.com","constructor":{"prototype":{}}}]}'

    const reply = await post('/v1/score', body)

    expect(reply.status).toBe(400)
    expect(reply.body.error.code).toBe('INVALID_REQUEST')
    expect(reply.body.error.message).toBe(
      `JSON key "constructor.prototype" at contacts.0 ${NOT_ALLOWED}`,
    )
    expect(reply.body.error.path).toEqual(['contacts', 0, 'constructor', 'prototype'])
  })

  it('names an escaped key at the top level', async () => {
    // \u005f is "_", so JSON.parse reads the key as "__proto__".
    const reply = await post('/v1/score', '{"\\u005f_proto__":{},"contacts":[]}')

    expect(reply.status).toBe(400)
    expect(reply.body.error.message).toBe(`JSON key "__proto__" at the top level ${NOT_ALLOWED}`)
    expect(reply.body.error.path).toEqual(['__proto__'])
  })

  it('keeps the message for malformed JSON', async () => {
    const reply = await post('/v1/score', '{"contacts":[{"__proto__":')

    expect(reply.status).toBe(400)
    expect(reply.body.error.code).toBe('INVALID_REQUEST')
    expect(reply.body.error.message).toMatch(/^Body is not valid JSON/)
    expect(reply.body.error.path).toEqual([])
  })

  it('lets a constructor key that holds no prototype through', async () => {
    const features = { ...zeroBundleFeatures(), constructor: 1 }

    const reply = await post('/v1/score', JSON.stringify({ contacts: [{ features }] }))

    expect(reply.status).toBe(200)
    expect(reply.body.results[0].error.message).toMatch(/^Unknown feature "constructor"/)
  })

  it('names "__proto__" in a webhook body', async () => {
    const before = await countRows(setup.store.client, 'events')
    const body = JSON.stringify([
      { email: 'a@example.com', event: 'open', timestamp: 1_700_000_000, sg_event_id: 'e1' },
    ]).replace('{"email"', '{"__proto__":{"polluted":true},"email"')

    const reply = await post('/v1/webhooks/sendgrid', body)

    expect(reply.status).toBe(400)
    expect(reply.body).toEqual({
      error: {
        code: 'INVALID_REQUEST',
        message: `JSON key "__proto__" at 0 ${NOT_ALLOWED}`,
        path: [0, '__proto__'],
      },
    })
    expect(await countRows(setup.store.client, 'events')).toBe(before)
  })

  it('names the line of a JSONL webhook body', async () => {
    const body = '{"contact_key":"a@example.com"}\n{"data":{"__proto__":{}}}\n'

    const reply = await post('/v1/webhooks/jsonl', body, 'application/x-ndjson')

    expect(reply.status).toBe(400)
    expect(reply.body.error.code).toBe('INVALID_REQUEST')
    expect(reply.body.error.message).toBe(`JSON key "__proto__" on line 2 at data ${NOT_ALLOWED}`)
    expect(reply.body.error.path).toEqual([1, 'data', '__proto__'])
  })
})

describe('webhook providers', () => {
  it('answers 404 for an unknown provider', async () => {
    const reply = await post('/v1/webhooks/NOPE', '[]')

    expect(reply.status).toBe(404)
    expect(reply.body).toEqual({
      error: {
        code: 'NOT_FOUND',
        message:
          'No route POST /v1/webhooks/NOPE: the webhook providers are sendgrid, ses, mailgun, postmark, jsonl, csv',
        path: ['provider'],
      },
    })
  })
})
