import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  ApiKeyRing,
  hasWebhookCheck,
  keyAllows,
  needsWebhookCheck,
  presentedKey,
} from '../../../inference/auth.ts'
import type { ApiKey } from '../../../src/config/schema.ts'

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')

const SCORER: ApiKey = { name: 'scorer', scopes: ['score'], sha256: sha256('scorer-key') }
const INGESTER: ApiKey = { name: 'ingester', scopes: ['ingest'], sha256: sha256('ingester-key') }
const OPS: ApiKey = { name: 'ops', scopes: ['admin'], sha256: sha256('ops-key') }

describe('presentedKey', () => {
  it('reads a bearer token', () => {
    expect(presentedKey({ authorization: 'Bearer abc.def' })).toBe('abc.def')
  })

  it('accepts any scheme case', () => {
    expect(presentedKey({ authorization: 'bearer abc' })).toBe('abc')
    expect(presentedKey({ authorization: 'BEARER abc' })).toBe('abc')
  })

  it('reads X-API-Key', () => {
    expect(presentedKey({ 'x-api-key': ' abc ' })).toBe('abc')
  })

  it('prefers the bearer token', () => {
    expect(presentedKey({ authorization: 'Bearer first', 'x-api-key': 'second' })).toBe('first')
  })

  it('ignores basic auth', () => {
    expect(presentedKey({ authorization: 'Basic dXNlcjpwYXNz' })).toBeUndefined()
  })

  it('ignores an empty token', () => {
    expect(presentedKey({ authorization: 'Bearer ' })).toBeUndefined()
    expect(presentedKey({ 'x-api-key': '' })).toBeUndefined()
  })

  it('ignores a token with spaces', () => {
    expect(presentedKey({ authorization: 'Bearer two words' })).toBeUndefined()
  })

  it('returns undefined without headers', () => {
    expect(presentedKey({})).toBeUndefined()
  })
})

describe('ApiKeyRing', () => {
  const ring = new ApiKeyRing([SCORER, INGESTER, OPS])

  it('finds each key', () => {
    expect(ring.find('scorer-key')).toBe(SCORER)
    expect(ring.find('ingester-key')).toBe(INGESTER)
    expect(ring.find('ops-key')).toBe(OPS)
  })

  it('rejects an unknown key', () => {
    expect(ring.find('scorer-key ')).toBeUndefined()
    expect(ring.find('SCORER-KEY')).toBeUndefined()
    expect(ring.find('')).toBeUndefined()
  })

  it('rejects the hash itself', () => {
    expect(ring.find(SCORER.sha256)).toBeUndefined()
  })

  it('works without keys', () => {
    expect(new ApiKeyRing([]).find('scorer-key')).toBeUndefined()
  })
})

describe('keyAllows', () => {
  it('checks the scope', () => {
    expect(keyAllows(SCORER, 'score')).toBe(true)
    expect(keyAllows(SCORER, 'ingest')).toBe(false)
    expect(keyAllows(SCORER, 'admin')).toBe(false)
    expect(keyAllows(INGESTER, 'ingest')).toBe(true)
    expect(keyAllows(INGESTER, 'score')).toBe(false)
  })

  it('lets admin do everything', () => {
    expect(keyAllows(OPS, 'score')).toBe(true)
    expect(keyAllows(OPS, 'ingest')).toBe(true)
    expect(keyAllows(OPS, 'admin')).toBe(true)
  })
})

describe('hasWebhookCheck', () => {
  const none = { maxAgeSeconds: 300 }
  const all = {
    sendgridVerificationKey: 'MFkw',
    mailgunSigningKey: 'key-1',
    postmarkBasicAuth: 'user:password',
    maxAgeSeconds: 300,
  }

  it('needs the provider secret', () => {
    for (const provider of ['sendgrid', 'mailgun', 'postmark']) {
      expect(hasWebhookCheck(provider, none), provider).toBe(false)
      expect(hasWebhookCheck(provider, all), provider).toBe(true)
    }
  })

  it('is false for unsigned providers', () => {
    for (const provider of ['ses', 'jsonl', 'csv', 'nope', undefined]) {
      expect(hasWebhookCheck(provider, all), String(provider)).toBe(false)
    }
  })
})

describe('needsWebhookCheck', () => {
  it('skips the check for a key', () => {
    expect(needsWebhookCheck({ kind: 'key', key: INGESTER })).toBe(false)
    expect(needsWebhookCheck({ kind: 'webhook-signature' })).toBe(true)
    expect(needsWebhookCheck({ kind: 'open' })).toBe(true)
  })
})
