import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { checkWebhook, type WebhookSecrets } from '../../../inference/webhook-auth.ts'

const fixture = (name: string) => readFileSync(`tests/fixtures/esp/${name}`, 'utf8')

// Keys and the signature the fixtures were signed with, as published beside them.
const SENDGRID_KEY =
  'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0S7kh8Ryvlw4LdMQmyY1ARoCijC9mxi640mMyfbLMrzcv3bBIuF/msIi6YndPa8gT7TSfMBauXTO/+so8c8BbA=='
const SENDGRID_HEADERS = {
  'x-twilio-email-event-webhook-timestamp': '1741504560',
  'x-twilio-email-event-webhook-signature':
    'MEUCIQDw6XgI8HEz28HdqkMKhC0d3lhkBPGEAB8i4cCXQX8iawIgN/cvhHEcCbFVr9aepEvwZxBzBEfqAGGTuV4tWafeJEw=',
}
const MAILGUN_KEY = 'whsec-example-mailgun-signing-key-0000'
const SIGNED_AT_MS = 1_741_504_560_000

const secrets = (extra: Partial<WebhookSecrets>): WebhookSecrets => ({
  maxAgeSeconds: 300,
  ...extra,
})

function errorOf(run: () => void): { code: string; message: string; path: unknown[] } {
  try {
    run()
  } catch (error) {
    return error as { code: string; message: string; path: unknown[] }
  }
  throw new Error('expected an error')
}

describe('sendgrid signature', () => {
  const body = fixture('sendgrid-event-webhook-batch.json')
  const keyed = secrets({ sendgridVerificationKey: SENDGRID_KEY })

  it('accepts the signed fixture', () => {
    expect(() =>
      checkWebhook('sendgrid', body, SENDGRID_HEADERS, keyed, SIGNED_AT_MS + 1000),
    ).not.toThrow()
  })

  it('rejects an altered body', () => {
    const altered = body.replace('"open"', '"click"')
    const error = errorOf(() =>
      checkWebhook('sendgrid', altered, SENDGRID_HEADERS, keyed, SIGNED_AT_MS),
    )
    expect(error.code).toBe('INVALID_SIGNATURE')
    expect(error.message).toBe(
      'X-Twilio-Email-Event-Webhook-Signature does not match the body and timestamp',
    )
  })

  it('rejects a missing signature header', () => {
    const headers = { 'x-twilio-email-event-webhook-timestamp': '1741504560' }
    const error = errorOf(() => checkWebhook('sendgrid', body, headers, keyed, SIGNED_AT_MS))
    expect(error.message).toBe('Missing header X-Twilio-Email-Event-Webhook-Signature')
    expect(error.path).toEqual(['X-Twilio-Email-Event-Webhook-Signature'])
  })

  it('rejects an old timestamp', () => {
    const later = SIGNED_AT_MS + 301_000
    const error = errorOf(() => checkWebhook('sendgrid', body, SENDGRID_HEADERS, keyed, later))
    expect(error.message).toMatch(/is more than 300 s away from now; the request may be a replay$/)
  })

  it('accepts any age when the limit is 0', () => {
    const anyAge = secrets({ sendgridVerificationKey: SENDGRID_KEY, maxAgeSeconds: 0 })
    expect(() =>
      checkWebhook('sendgrid', body, SENDGRID_HEADERS, anyAge, Date.UTC(2030, 0, 1)),
    ).not.toThrow()
  })

  it('checks nothing without a key', () => {
    expect(() => checkWebhook('sendgrid', body, {}, secrets({}), SIGNED_AT_MS)).not.toThrow()
  })
})

describe('mailgun signature', () => {
  const bodies = (JSON.parse(fixture('mailgun-webhook-requests.json')) as unknown[]).map((body) =>
    JSON.stringify(body),
  )
  const keyed = secrets({ mailgunSigningKey: MAILGUN_KEY, maxAgeSeconds: 0 })

  it('accepts every signed fixture body', () => {
    for (const body of bodies)
      expect(() => checkWebhook('mailgun', body, {}, keyed, 0)).not.toThrow()
  })

  it('rejects a changed token', () => {
    const body = JSON.parse(bodies[0] as string) as { signature: { token: string } }
    body.signature.token = `${body.signature.token.slice(0, -1)}2`
    const error = errorOf(() => checkWebhook('mailgun', JSON.stringify(body), {}, keyed, 0))
    expect(error.code).toBe('INVALID_SIGNATURE')
    expect(error.path).toEqual(['signature', 'signature'])
  })

  it('rejects a body without signature', () => {
    const error = errorOf(() => checkWebhook('mailgun', '{"event-data":{}}', {}, keyed, 0))
    expect(error.path).toEqual(['signature'])
  })
})

describe('postmark basic auth', () => {
  const keyed = secrets({ postmarkBasicAuth: 'postmark:s3cret' })
  const basic = (credentials: string) => ({
    authorization: `Basic ${Buffer.from(credentials).toString('base64')}`,
  })

  it('accepts the configured credentials', () => {
    expect(() => checkWebhook('postmark', '{}', basic('postmark:s3cret'), keyed, 0)).not.toThrow()
  })

  it('rejects wrong credentials', () => {
    const error = errorOf(() => checkWebhook('postmark', '{}', basic('postmark:guess'), keyed, 0))
    expect(error.code).toBe('INVALID_SIGNATURE')
    expect(error.path).toEqual(['Authorization'])
  })
})
