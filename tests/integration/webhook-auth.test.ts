import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildServer } from '../../inference/server.ts'
import { ScoringService } from '../../inference/service.ts'
import { loadConfig } from '../../src/config/index.ts'
import { openStore, queryRows, type Store } from '../../src/store/client.ts'

const SENDGRID_HEADERS = {
  'content-type': 'application/json;charset=utf-8',
  'x-twilio-email-event-webhook-timestamp': '1741504560',
  'x-twilio-email-event-webhook-signature':
    'MEUCIQDw6XgI8HEz28HdqkMKhC0d3lhkBPGEAB8i4cCXQX8iawIgN/cvhHEcCbFVr9aepEvwZxBzBEfqAGGTuV4tWafeJEw=',
}

let dir: string
let store: Store
let app: FastifyInstance
let base: string
let body: string

async function eventCount(): Promise<number> {
  const [row] = await queryRows<{ n: number }>(store.client, 'SELECT count() AS n FROM events')
  return row?.n ?? 0
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'webhook-auth-'))
  body = await readFile('tests/fixtures/esp/sendgrid-event-webhook-batch.json', 'utf8')
  const config = loadConfig({
    SEGMENTS_LOG_LEVEL: 'silent',
    SEGMENTS_MODELS_DIR: join(dir, 'models'),
    SEGMENTS_SENDGRID_VERIFICATION_KEY:
      'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0S7kh8Ryvlw4LdMQmyY1ARoCijC9mxi640mMyfbLMrzcv3bBIuF/msIi6YndPa8gT7TSfMBauXTO/+so8c8BbA==',
    // The fixture was signed in 2025, so its age is not checked here; unit tests cover the age limit.
    SEGMENTS_WEBHOOK_MAX_AGE_SECONDS: '0',
  })
  store = await openStore({ ...config.clickhouse, chdbPath: join(dir, 'store') })
  app = buildServer(new ScoringService(config, store, 'none'))
  base = await app.listen({ host: '127.0.0.1', port: 0 })
})

afterAll(async () => {
  await app.close()
  await store.close()
  await rm(dir, { recursive: true, force: true })
})

describe('signed sendgrid webhook', () => {
  it('rejects an unsigned body', async () => {
    const response = await fetch(`${base}/v1/webhooks/sendgrid`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    })
    expect(response.status).toBe(401)
    expect(await response.json()).toEqual({
      error: {
        code: 'INVALID_SIGNATURE',
        message: 'Missing header X-Twilio-Email-Event-Webhook-Signature',
        path: ['X-Twilio-Email-Event-Webhook-Signature'],
      },
    })
    expect(await eventCount()).toBe(0)
  })

  it('stores a signed body', async () => {
    const response = await fetch(`${base}/v1/webhooks/sendgrid`, {
      method: 'POST',
      headers: SENDGRID_HEADERS,
      body,
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ stored: 15, duplicates: 1, rejected: 0, ignored: 0 })
    expect(await eventCount()).toBe(15)
  })
})
