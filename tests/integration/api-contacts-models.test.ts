import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildServer } from '../../inference/server.ts'
import { ScoringService } from '../../inference/service.ts'
import { loadConfig, type Config } from '../../src/config/index.ts'
import { computeFeatures } from '../../src/features/compute.ts'
import type { Manifest } from '../../src/registry/manifest.ts'
import { trainBundle } from '../../training/pipeline.ts'
import { setUpTrainedStore, type TrainedStore } from '../helpers/trained-store.ts'

const SETUP_TIMEOUT_MS = 180_000
const REQUEST_TIMEOUT_MS = 30_000
const SECOND_VERSION = 'zz-second'
const BROKEN_VERSION = 'zz-third-broken'

interface HttpReply {
  status: number
  body: any
}

let setup: TrainedStore
let manifest: Manifest
let app: FastifyInstance
let baseUrl: string
let unloadedApp: FastifyInstance
let unloadedUrl: string

async function request(url: string, init: RequestInit = {}): Promise<HttpReply> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  const text = await response.text()
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) }
}

const contactUrl = (key: string, query = '') =>
  `${baseUrl}/v1/contacts/${encodeURIComponent(key)}${query}`

async function startServer(config: Readonly<Config>, load: boolean) {
  const service = new ScoringService(config, setup.store, setup.bundle)
  if (load) await service.loadChampion()
  const server = buildServer(service)
  const address = await server.listen({ host: '127.0.0.1', port: 0 })
  return [server, address] as const
}

beforeAll(async () => {
  setup = await setUpTrainedStore({ prefix: 'api-contacts-models-test' })
  manifest = setup.trained.manifest
  ;[app, baseUrl] = await startServer(setup.config, true)
  ;[unloadedApp, unloadedUrl] = await startServer(setup.config, false)
}, SETUP_TIMEOUT_MS)

afterAll(async () => {
  await app?.close()
  await unloadedApp?.close()
  await setup?.close()
})

describe('GET /v1/contacts/:key', () => {
  it('matches the score route', async () => {
    const key = setup.trained.test.contactKeys[3] as string
    const asOf = setup.summary.cutoff

    const reply = await request(contactUrl(key, `?asOf=${asOf}`))
    const scored = await request(`${baseUrl}/v1/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contacts: [{ key }], asOf }),
    })
    const { features, asOf: replyAsOf, ...result } = reply.body

    expect(reply.status).toBe(200)
    expect(scored.status).toBe(200)
    expect(result).toEqual(scored.body.results[0])
    expect(result.index).toBe(0)
    expect(result.key).toBe(key)
    expect(result.modelVersion).toBe(manifest.version)
    expect(replyAsOf).toBe(new Date(setup.cutoffMs).toISOString())
    expect(Object.keys(features)).toEqual(manifest.featureNames)
  })

  it('returns the features used', async () => {
    const key = setup.trained.test.contactKeys[4] as string
    const computed = await computeFeatures(
      setup.store.client,
      setup.cutoffMs,
      setup.config.defaultTimeZone,
      [key],
    )
    const expected = Object.fromEntries(
      computed.featureNames.map((name, j) => [name, computed.matrix.data[j] as number]),
    )

    const reply = await request(contactUrl(key, `?asOf=${setup.summary.cutoff}`))

    expect(reply.status).toBe(200)
    for (const name of manifest.featureNames) {
      expect(reply.body.features[name], name).toBe(expected[name])
    }
  })

  it('scores as of now by default', async () => {
    const key = setup.trained.test.contactKeys[5] as string
    const before = Date.now()

    const reply = await request(contactUrl(key))

    expect(reply.status).toBe(200)
    expect(Date.parse(reply.body.asOf)).toBeGreaterThanOrEqual(before)
    expect(Date.parse(reply.body.asOf)).toBeLessThanOrEqual(Date.now())
    expect(reply.body.persona).toBeDefined()
  })

  it('looks addresses up lower-cased', async () => {
    const key = setup.trained.test.contactKeys[6] as string
    expect(key).toContain('@')
    const shouted = key.toUpperCase()

    const reply = await request(contactUrl(shouted, `?asOf=${setup.summary.cutoff}`))
    const plain = await request(contactUrl(key, `?asOf=${setup.summary.cutoff}`))

    expect(reply.status).toBe(200)
    expect(reply.body.key).toBe(shouted)
    expect(reply.body.persona).toEqual(plain.body.persona)
  })

  it('returns 404 for an unknown key', async () => {
    const reply = await request(contactUrl('nobody@example.com', `?asOf=${setup.summary.cutoff}`))

    expect(reply.status).toBe(404)
    expect(reply.body).toEqual({
      error: {
        code: 'UNKNOWN_CONTACT',
        message: `No events or contact record before ${setup.summary.cutoff} for key "nobody@example.com"`,
        path: ['key'],
      },
    })
  })

  it('returns 404 before any data', async () => {
    const key = setup.trained.test.contactKeys[0] as string

    const reply = await request(contactUrl(key, '?asOf=2000-01-01T00:00:00Z'))

    expect(reply.status).toBe(404)
    expect(reply.body.error.code).toBe('UNKNOWN_CONTACT')
  })

  it('rejects an invalid asOf', async () => {
    const key = setup.trained.test.contactKeys[0] as string

    const reply = await request(contactUrl(key, '?asOf=yesterday'))

    expect(reply.status).toBe(400)
    expect(reply.body.error.code).toBe('INVALID_REQUEST')
    expect(reply.body.error.path).toEqual(['asOf'])
  })

  it('rejects an unknown parameter', async () => {
    const key = setup.trained.test.contactKeys[0] as string

    const reply = await request(contactUrl(key, '?as_of=2025-01-01T00:00:00Z'))

    expect(reply.status).toBe(400)
    expect(reply.body.error.code).toBe('INVALID_REQUEST')
  })

  it('rejects a key over 320 characters', async () => {
    const reply = await request(contactUrl('k'.repeat(321)))

    expect(reply.status).toBe(400)
    expect(reply.body.error.path).toEqual(['key'])
  })

  it('rejects an overlong URL parameter', async () => {
    const reply = await request(contactUrl('k'.repeat(2000)))

    expect(reply.status).toBe(400)
    expect(reply.body.error.code).toBe('INVALID_REQUEST')
    expect(reply.body.error.path).toEqual([])
  })

  it('returns 503 without a model', async () => {
    const key = setup.trained.test.contactKeys[0] as string

    const reply = await request(`${unloadedUrl}/v1/contacts/${encodeURIComponent(key)}`)

    expect(reply.status).toBe(503)
    expect(reply.body.error.code).toBe('MODEL_NOT_LOADED')
  })
})

describe('GET /v1/models', () => {
  it('lists the loaded champion', async () => {
    const reply = await request(`${baseUrl}/v1/models`)

    expect(reply.status).toBe(200)
    expect(reply.body).toEqual({
      name: setup.bundle,
      champion: manifest.version,
      loaded: manifest.version,
      bundles: [
        {
          version: manifest.version,
          createdAt: manifest.createdAt,
          metrics: manifest.metrics,
          champion: true,
          loaded: true,
        },
      ],
    })
  })

  it('returns null loaded without a model', async () => {
    const reply = await request(`${unloadedUrl}/v1/models`)

    expect(reply.status).toBe(200)
    expect(reply.body.loaded).toBeNull()
    expect(reply.body.champion).toBe(manifest.version)
    expect(reply.body.bundles.every((bundle: any) => bundle.loaded === false)).toBe(true)
  })

  it('returns an empty list for an unknown name', async () => {
    const server = buildServer(new ScoringService(setup.config, setup.store, 'nothing-here'))
    try {
      const address = await server.listen({ host: '127.0.0.1', port: 0 })
      const reply = await request(`${address}/v1/models`)

      expect(reply.status).toBe(200)
      expect(reply.body).toEqual({
        name: 'nothing-here',
        champion: null,
        loaded: null,
        bundles: [],
      })
    } finally {
      await server.close()
    }
  })

  // Runs last in this file: it publishes new versions and moves the champion.
  it('separates champion from loaded', async () => {
    const second = await trainBundle(setup.store.client, {
      name: setup.bundle,
      modelsDir: setup.config.modelsDir,
      asOfMs: setup.cutoffMs,
      horizonDays: 30,
      k: 4,
      seed: 12,
      nTrees: 5,
      defaultZone: setup.config.defaultTimeZone,
      version: SECOND_VERSION,
    })
    const broken = join(setup.config.modelsDir, setup.bundle, BROKEN_VERSION)
    await mkdir(broken, { recursive: true })
    await writeFile(join(broken, 'manifest.json'), '{"kind":')

    const reply = await request(`${baseUrl}/v1/models`)
    const byVersion = Object.fromEntries(
      reply.body.bundles.map((bundle: any) => [bundle.version, bundle]),
    )

    expect(reply.status).toBe(200)
    expect(reply.body.champion).toBe(SECOND_VERSION)
    expect(reply.body.loaded).toBe(manifest.version)
    expect(reply.body.bundles.map((bundle: any) => bundle.version)).toEqual([
      manifest.version,
      SECOND_VERSION,
      BROKEN_VERSION,
    ])
    expect(byVersion[manifest.version]).toMatchObject({ champion: false, loaded: true })
    expect(byVersion[SECOND_VERSION]).toEqual({
      version: SECOND_VERSION,
      createdAt: second.manifest.createdAt,
      metrics: second.manifest.metrics,
      champion: true,
      loaded: false,
    })
    expect(byVersion[BROKEN_VERSION].createdAt).toBeNull()
    expect(byVersion[BROKEN_VERSION].metrics).toBeNull()
    expect(byVersion[BROKEN_VERSION].error).toMatch(
      new RegExp(`^Invalid model bundle file ${setup.bundle}/${BROKEN_VERSION}/manifest.json: `),
    )
    expect(byVersion[BROKEN_VERSION].error).not.toContain(setup.root)
  })
})
