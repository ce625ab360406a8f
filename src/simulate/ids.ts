/**
 * Deterministic provider ids. Each id contains an invertible mix of the contact index, the
 * campaign index and the event ordinal, so two different events never share an id, padded with
 * hash bits so the ids look random.
 */

/** Murmur3's 32-bit finalizer: a bijection on 32-bit integers that spreads every input bit. */
export function scramble32(value: number): number {
  let h = value >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Hashes a list of integers to 32 bits. Not a bijection: use only for padding. */
export function hash32(...values: number[]): number {
  let h = 0x811c9dc5
  for (const value of values) h = scramble32(h ^ scramble32(value))
  return h
}

/** Keys that make the ids of one seed differ from those of every other seed. */
export interface RunKeys {
  contact: number
  campaign: number
  padding: number
}

export function runKeys(seed: number): RunKeys {
  return {
    contact: hash32(seed, 1),
    campaign: hash32(seed, 2) & 0xffff,
    padding: hash32(seed, 3),
  }
}

/** Identity of one message. An event is identified by its message and its ordinal in it. */
export interface MessageKey {
  contactIndex: number
  campaignIndex: number
  sentMs: number
}

/** Ordinal reserved for ids of a whole message, so they never equal the id of an event. */
const MESSAGE_ORDINAL = 0xffff

const HEX_BYTES = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'))
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** Formats a 32-bit integer as 8 lower-case hex digits. */
export function hex32(value: number): string {
  return (
    (HEX_BYTES[value >>> 24] ?? '') +
    (HEX_BYTES[(value >>> 16) & 0xff] ?? '') +
    (HEX_BYTES[(value >>> 8) & 0xff] ?? '') +
    (HEX_BYTES[value & 0xff] ?? '')
  )
}

/** Four 32-bit words computed by `fillEventWords`, reused to spare an allocation per id. */
const words = new Uint32Array(4)

/**
 * Fills `words` for event `ordinal` of a message. Words 0 and 1 are a two-round Feistel mix of
 * the contact index and the (campaign, ordinal) pair. The mix is invertible, so distinct events
 * get distinct words. Words 2 and 3 are padding hashes. `salt` selects another family of ids.
 */
function fillEventWords(keys: RunKeys, key: MessageKey, ordinal: number, salt: number): void {
  const campaign = (key.campaignIndex ^ keys.campaign) & 0xffff
  let left = scramble32(key.contactIndex ^ keys.contact ^ salt)
  let right = ((campaign << 16) | (ordinal & 0xffff)) >>> 0
  right = (right ^ scramble32(left)) >>> 0
  left = (left ^ scramble32(right ^ keys.padding)) >>> 0
  words[0] = left
  words[1] = right
  words[2] = hash32(keys.padding, salt, key.contactIndex, key.campaignIndex, ordinal)
  words[3] = scramble32(words[2] ^ left)
}

function byteAt(index: number): number {
  return ((words[index >>> 2] ?? 0) >>> (24 - 8 * (index & 3))) & 0xff
}

/** Character codes of one base64url id, decoded to a string in one call. */
const base64Chars = Buffer.alloc(22)

/** Encodes the 16 bytes of `words` as 22 base64url characters without padding. */
function wordsToBase64url(): string {
  let position = 0
  for (let i = 0; i < 15; i += 3) {
    const group = (byteAt(i) << 16) | (byteAt(i + 1) << 8) | byteAt(i + 2)
    base64Chars[position++] = BASE64URL.charCodeAt(group >>> 18)
    base64Chars[position++] = BASE64URL.charCodeAt((group >>> 12) & 63)
    base64Chars[position++] = BASE64URL.charCodeAt((group >>> 6) & 63)
    base64Chars[position++] = BASE64URL.charCodeAt(group & 63)
  }
  const last = byteAt(15)
  base64Chars[position++] = BASE64URL.charCodeAt(last >>> 2)
  base64Chars[position] = BASE64URL.charCodeAt((last & 3) << 4)
  return base64Chars.toString('latin1')
}

/** Formats `words` as a version-4 style UUID. Words 0 and 1 survive whole, so it stays unique. */
function wordsToUuid(): string {
  const first = hex32(words[0] ?? 0)
  const padding = hex32(words[2] ?? 0)
  const more = hex32(words[3] ?? 0)
  const variant = '89ab'.charAt((words[3] ?? 0) & 3)
  return (
    `${first}-${padding.slice(0, 4)}-4${padding.slice(5, 8)}-` +
    `${variant}${more.slice(1, 4)}-${more.slice(4, 8)}${hex32(words[1] ?? 0)}`
  )
}

const SALT = {
  sendgridEvent: 0,
  sendgridMessage: 1,
  snsMessage: 2,
  sesMessage: 3,
  feedback: 4,
  signature: 5,
} as const

/** Returns the 22-character base64url `sg_event_id` of one SendGrid event. */
export function sendgridEventId(keys: RunKeys, key: MessageKey, ordinal: number): string {
  fillEventWords(keys, key, ordinal, SALT.sendgridEvent)
  return wordsToBase64url()
}

/**
 * Returns the SendGrid `sg_message_id` of a message, in the style of the v3 mail send API:
 * `<id>.filterdrecv-<host>-<pid>-<time>-<n>.0`, where the 22-character `<id>` is unique.
 */
export function sendgridMessageId(keys: RunKeys, key: MessageKey): string {
  fillEventWords(keys, key, MESSAGE_ORDINAL, SALT.sendgridMessage)
  const unique = wordsToBase64url()
  const host = hex32(hash32(keys.padding, key.campaignIndex))
  const sentHex = hex32(Math.floor(key.sentMs / 1000)).toUpperCase()
  return `${unique}.filterdrecv-${host}-1-${sentHex}-${key.contactIndex % 97}.0`
}

/** Returns the UUID that serves as the SNS `MessageId` of one notification. */
export function snsMessageId(keys: RunKeys, key: MessageKey, ordinal: number): string {
  fillEventWords(keys, key, ordinal, SALT.snsMessage)
  return wordsToUuid()
}

/** 16 hex digits of a millisecond time, as at the start of SES message and feedback ids. */
function sesTimePrefix(ms: number): string {
  return `0100${hex32(Math.floor(ms / 0x100000000)).slice(4)}${hex32(ms >>> 0)}`
}

/**
 * Returns the SES `mail.messageId` of a message, such as `0100019577aa0001-<uuid>-000000`:
 * 16 hex digits of the send time, a UUID unique per message and a fixed suffix.
 */
export function sesMessageId(keys: RunKeys, key: MessageKey): string {
  fillEventWords(keys, key, MESSAGE_ORDINAL, SALT.sesMessage)
  return `${sesTimePrefix(key.sentMs)}-${wordsToUuid()}-000000`
}

/** Returns the SES `feedbackId` of a bounce or complaint, unique per event. */
export function sesFeedbackId(
  keys: RunKeys,
  key: MessageKey,
  ordinal: number,
  timeMs: number,
): string {
  fillEventWords(keys, key, ordinal, SALT.feedback)
  return `${sesTimePrefix(timeMs)}-${wordsToUuid()}-000000`
}

/**
 * Returns placeholder text for the SNS `Signature` field. It starts with EXAMPLE, uses base64url
 * rather than base64 and is shorter than an RSA signature, so it cannot pass for a real one.
 */
export function placeholderSignature(keys: RunKeys, key: MessageKey, ordinal: number): string {
  fillEventWords(keys, key, ordinal, SALT.signature)
  return `EXAMPLE${wordsToBase64url()}`
}
