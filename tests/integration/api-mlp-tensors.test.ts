/**
 * Tensor disposal of the churn MLP through the whole API: single-contact POST /v1/score
 * requests over real HTTP on loopback, joined by the micro-batcher and scored with
 * substitution reasons, leave tf.memory().numTensors where it started.
 */
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createScoreBatcher } from '../../inference/batcher.ts'
import { ScoringService } from '../../inference/service.ts'
import { backendName } from '../../inference/tf-backend.ts'
import { prepareServer } from '../../src/cli/commands/serve.ts'
import { loadConfig } from '../../src/config/index.ts'
import { computeFeatures } from '../../src/features/compute.ts'
import { promote } from '../../src/registry/champion.ts'
import { publishMlpChampion, type MlpChampion } from '../helpers/mlp-bundle.ts'
import { setUpTrainedStore, type TrainedStore } from '../helpers/trained-store.ts'

const SETUP_TIMEOUT_MS = 180_000
const LOAD_TIMEOUT_MS = 180_000
const REQUEST_TIMEOUT_MS = 30_000
const REQUESTS = 10_000
const CONCURRENCY = 32
/** Long enough that requests in flight together reliably share a model call. */
const BATCH_WAIT_MS = 2

let setup: TrainedStore
let champion: MlpChampion
let service: ScoringService
let app: FastifyInstance
let url: string
/** Tensors before the server loaded the champion, to show this file's tfjs is the server's. */
let tensorsBeforeLoad: number
/** Features of every contact as of the cutoff, by name, as a caller would send them. */
let contacts: Record<string, number>[]

async function featuresOfAll(): Promise<Record<string, number>[]> {
  const computed = await computeFeatures(
    setup.store.client,
    setup.cutoffMs,
    setup.config.defaultTimeZone,
  )
  const { cols, data } = computed.matrix
  return computed.contactKeys.map((_, row) =>
    Object.fromEntries(
      computed.featureNames.map((name, j) => [name, data[row * cols + j] as number]),
    ),
  )
}

/** Reads one sample of the Prometheus text, such as `segments_model_batch_requests_count`. */
async function metric(sample: string): Promise<number> {
  const response = await fetch(`${url}/metrics`, {
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  })
  const text = await response.text()
  const line = text.split('\n').find((entry) => entry.startsWith(`${sample} `))
  expect(line, `${sample} in /metrics`).toBeDefined()
  return Number((line as string).slice(sample.length + 1))
}

beforeAll(async () => {
  setup = await setUpTrainedStore({ prefix: 'api-mlp-tensors-test', contacts: 120, days: 120 })
  champion = await publishMlpChampion(setup, { seed: 11 })
  contacts = await featuresOfAll()
  const config = loadConfig({
    ...setup.env,
    SEGMENTS_BATCH_MAX_WAIT_MS: String(BATCH_WAIT_MS),
    SEGMENTS_MODEL_RELOAD_SECONDS: '0',
    // The default of 6,000 a minute would reject part of the 10,000 requests from one IP.
    SEGMENTS_RATE_LIMIT_PER_MINUTE: '10000000',
    SEGMENTS_SCORE_LOG_SPOOL_DIR: join(setup.root, 'score-log-spool'),
  })
  service = new ScoringService(config, setup.store, setup.bundle)
  tensorsBeforeLoad = tf.memory().numTensors
  app = await prepareServer(service)
  url = await app.listen({ host: '127.0.0.1', port: 0 })
}, SETUP_TIMEOUT_MS)

afterAll(async () => {
  await app?.close()
  await setup?.close()
})

interface LoadResult {
  /** Responses with status 200 and a churn probability in [0, 1]. */
  scored: number
  /** Scored requests whose contact has at least one reason. */
  withReasons: number
  /** Descriptions of the other responses, in the order they arrived. */
  problems: string[]
}

/** Posts one contact's features per request, REQUESTS in all, CONCURRENCY at a time. */
async function sendSingleContactRequests(): Promise<LoadResult> {
  const result: LoadResult = { scored: 0, withReasons: 0, problems: [] }
  let next = 0
  const worker = async () => {
    while (next < REQUESTS) {
      const index = next
      next += 1
      const features = contacts[index % contacts.length]
      const response = await fetch(`${url}/v1/score`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ contacts: [{ features }] }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      })
      const text = await response.text()
      const scored = response.status === 200 ? JSON.parse(text).results?.[0] : undefined
      const probability = scored?.churn?.probability
      if (typeof probability !== 'number' || !(probability >= 0 && probability <= 1)) {
        result.problems.push(`request ${index}: status ${response.status}, body ${text}`)
        continue
      }
      result.scored += 1
      if (Array.isArray(scored.reasons) && scored.reasons.length > 0) result.withReasons += 1
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return result
}

describe('churn MLP over HTTP', () => {
  it('serves the MLP bundle', () => {
    expect(service.model?.manifest.version).toBe(champion.version)
    expect(service.model?.churn.kind).toBe('tfjs-mlp')
    // Without path contributions, scoring computes reasons by substitution.
    expect(service.model?.churn.contributions).toBeUndefined()
    expect(backendName()).not.toBeNull()
    // The server's weight tensors are counted here, so this file reads the server's tfjs engine.
    expect(tf.memory().numTensors).toBeGreaterThan(tensorsBeforeLoad)
  })

  it(
    'disposes every tensor over 10,000 requests',
    async () => {
      const tensorsBefore = tf.memory().numTensors

      const result = await sendSingleContactRequests()

      const tensorsAfter = tf.memory().numTensors
      expect(result.problems.length, result.problems.slice(0, 5).join('\n')).toBe(0)
      expect(result.scored).toBe(REQUESTS)
      expect(result.withReasons).toBeGreaterThan(0)
      expect(tensorsAfter).toBe(tensorsBefore)
      const joinedRequests = await metric('segments_model_batch_requests_sum')
      const modelCalls = await metric('segments_model_batch_requests_count')
      expect(joinedRequests).toBe(REQUESTS)
      expect(modelCalls).toBeLessThan(REQUESTS)
    },
    LOAD_TIMEOUT_MS,
  )

  it('frees a replaced MLP once its calls end', async () => {
    const tensorsBefore = tf.memory().numTensors
    const reloading = new ScoringService(service.config, setup.store, setup.bundle)
    await reloading.loadChampion()
    // A batch that waits a second keeps the call below in progress while the champion changes.
    reloading.batcher = createScoreBatcher({ maxRows: 4096, maxWaitMs: 1000 })
    const tensorsWithMlp = tf.memory().numTensors
    expect(tensorsWithMlp).toBeGreaterThan(tensorsBefore)

    const inFlight = reloading.score([{ features: contacts[0] }], Date.now())
    await promote(setup.config.modelsDir, setup.bundle, setup.trained.manifest.version)
    const log = { info: () => {}, warn: () => {} } as never
    expect(await reloading.reloadChampion(log)).toBe('loaded')
    expect(reloading.model?.churn.kind).toBe('histogram-forest')
    // The call that began with the MLP still uses its weights.
    expect(tf.memory().numTensors).toBe(tensorsWithMlp)

    const [result] = await inFlight
    expect(result).toBeDefined()
    expect(result && 'error' in result ? result.error : undefined).toBeUndefined()
    expect((result as { modelVersion?: string }).modelVersion).toBe(champion.version)
    expect(tf.memory().numTensors).toBe(tensorsBefore)
  })
})
