import { createHmac, createPublicKey, timingSafeEqual, verify, type KeyObject } from 'node:crypto'
import type { Provider } from '../src/events/types.ts'
import { ApiError } from './errors.ts'

/** Secrets that turn on each provider's webhook check; a provider without one is accepted unchecked. */
export interface WebhookSecrets {
  /** SendGrid's verification key: base64 DER of its ECDSA P-256 public key. */
  sendgridVerificationKey?: string | undefined
  /** Mailgun's HTTP webhook signing key. */
  mailgunSigningKey?: string | undefined
  /** `user:password` that Postmark sends with HTTP basic auth (Postmark signs nothing). */
  postmarkBasicAuth?: string | undefined
  /** Oldest signature timestamp accepted, in seconds before now; 0 accepts any age. */
  maxAgeSeconds: number
}

export type Headers = Record<string, string | string[] | undefined>

const header = (headers: Headers, name: string): string | undefined => {
  const value = headers[name.toLowerCase()]
  return Array.isArray(value) ? value[0] : value
}

function invalid(message: string, path: string[] = []): ApiError {
  return new ApiError('INVALID_SIGNATURE', message, path)
}

function equalSecret(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

function checkAge(
  timestampSeconds: number,
  nowMs: number,
  maxAgeSeconds: number,
  field: string,
  path: string[],
) {
  if (!Number.isFinite(timestampSeconds))
    throw invalid(`${field} is not a Unix time in seconds`, path)
  if (maxAgeSeconds > 0 && Math.abs(nowMs / 1000 - timestampSeconds) > maxAgeSeconds) {
    throw invalid(
      `${field} is more than ${maxAgeSeconds} s away from now; the request may be a replay`,
      path,
    )
  }
}

let sendgridKey: { text: string; key: KeyObject } | undefined

function sendgridPublicKey(text: string): KeyObject {
  if (sendgridKey?.text !== text) {
    sendgridKey = {
      text,
      key: createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' }),
    }
  }
  return sendgridKey.key
}

/**
 * SendGrid signs the timestamp header followed by the raw body with ECDSA
 * P-256 and SHA-256, and sends the base64 DER signature in a header.
 */
function checkSendGrid(
  body: string,
  headers: Headers,
  secrets: WebhookSecrets,
  nowMs: number,
): void {
  const key = secrets.sendgridVerificationKey as string
  const signatureHeader = 'X-Twilio-Email-Event-Webhook-Signature'
  const timestampHeader = 'X-Twilio-Email-Event-Webhook-Timestamp'
  const signature = header(headers, signatureHeader)
  const timestamp = header(headers, timestampHeader)
  if (!signature) throw invalid(`Missing header ${signatureHeader}`, [signatureHeader])
  if (!timestamp) throw invalid(`Missing header ${timestampHeader}`, [timestampHeader])
  checkAge(Number(timestamp), nowMs, secrets.maxAgeSeconds, timestampHeader, [timestampHeader])
  const signed = Buffer.concat([Buffer.from(timestamp, 'utf8'), Buffer.from(body, 'utf8')])
  const valid = verify('sha256', signed, sendgridPublicKey(key), Buffer.from(signature, 'base64'))
  if (!valid)
    throw invalid(`${signatureHeader} does not match the body and timestamp`, [signatureHeader])
}

/** Mailgun puts `signature: {timestamp, token, signature}` in the body: an HMAC-SHA256 hex of timestamp + token. */
function checkMailgun(body: string, secrets: WebhookSecrets, nowMs: number): void {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    // The adapter reports an unparseable body with its own message.
    return
  }
  const signature = (parsed as { signature?: Record<string, unknown> } | null)?.signature
  const { timestamp, token, signature: hex } = signature ?? {}
  if (typeof timestamp !== 'string' || typeof token !== 'string' || typeof hex !== 'string') {
    throw invalid('Missing signature.timestamp, signature.token or signature.signature', [
      'signature',
    ])
  }
  checkAge(Number(timestamp), nowMs, secrets.maxAgeSeconds, 'signature.timestamp', [
    'signature',
    'timestamp',
  ])
  const expected = createHmac('sha256', secrets.mailgunSigningKey as string)
    .update(timestamp + token)
    .digest('hex')
  if (!equalSecret(expected, hex)) {
    throw invalid('signature.signature does not match timestamp and token', [
      'signature',
      'signature',
    ])
  }
}

function checkPostmark(headers: Headers, secrets: WebhookSecrets): void {
  const authorization = header(headers, 'Authorization') ?? ''
  const expected = `Basic ${Buffer.from(secrets.postmarkBasicAuth as string).toString('base64')}`
  if (!equalSecret(authorization, expected)) {
    throw invalid('Missing or wrong HTTP basic auth credentials for the Postmark webhook', [
      'Authorization',
    ])
  }
}

/**
 * Checks a webhook's signature or credentials where a secret for its
 * provider is configured; throws an ApiError with code INVALID_SIGNATURE.
 * SNS message signatures are not checked: verifying them needs Amazon's
 * signing certificate, fetched from the message's SigningCertURL.
 */
export function checkWebhook(
  provider: Provider,
  body: string,
  headers: Headers,
  secrets: WebhookSecrets,
  nowMs: number,
): void {
  if (provider === 'sendgrid' && secrets.sendgridVerificationKey)
    checkSendGrid(body, headers, secrets, nowMs)
  if (provider === 'mailgun' && secrets.mailgunSigningKey) checkMailgun(body, secrets, nowMs)
  if (provider === 'postmark' && secrets.postmarkBasicAuth) checkPostmark(headers, secrets)
}
