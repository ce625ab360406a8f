import { describe, expect, it } from 'vitest'
import { isStoreUnreachable, storeUnavailableError } from '../../../inference/errors.ts'

/** Builds an Error with extra fields, as @clickhouse/client, Node and chDB raise them. */
function errorWith(message: string, fields: Record<string, unknown>, cause?: unknown): Error {
  const error = new Error(message, cause === undefined ? undefined : { cause })
  return Object.assign(error, fields)
}

describe('isStoreUnreachable', () => {
  const cases: [string, unknown, boolean][] = [
    ['refused connection', errorWith('connect ECONNREFUSED', { code: 'ECONNREFUSED' }), true],
    ['reset connection', errorWith('socket hang up', { code: 'ECONNRESET' }), true],
    ['client timeout', new Error('Timeout error.'), true],
    ['closed chDB session', errorWith('closed', { code: 'CHDB_CLOSED' }), true],
    ['server TIMEOUT_EXCEEDED', errorWith('Code: 159. Timeout exceeded', { code: '159' }), true],
    ['chDB TOO_MANY_SIMULTANEOUS_QUERIES', errorWith('Too many', { clickhouseCode: 202 }), true],
    [
      'cause of a wrapper',
      new Error('query failed', { cause: errorWith('x', { code: 'EPIPE' }) }),
      true,
    ],
    ['syntax error', errorWith('Code: 62. Syntax error', { code: '62' }), false],
    ['unknown table', errorWith('Code: 60. Unknown table', { clickhouseCode: 60 }), false],
    ['plain error', new Error('bug'), false],
    ['string', 'ECONNREFUSED', false],
    ['undefined', undefined, false],
  ]
  it.each(cases)('classifies %s', (_name, error, expected) => {
    expect(isStoreUnreachable(error)).toBe(expected)
  })
})

describe('storeUnavailableError', () => {
  it('names the cause and the path', () => {
    const error = storeUnavailableError(new Error('connect ECONNREFUSED 127.0.0.1:8123'), [
      'contacts',
      2,
      'key',
    ])
    expect(error.statusCode).toBe(503)
    expect(error.toBody()).toEqual({
      error: {
        code: 'STORE_UNAVAILABLE',
        message:
          'The ClickHouse store did not respond (connect ECONNREFUSED 127.0.0.1:8123); retry later. Contacts sent with their features are scored without it',
        path: ['contacts', 2, 'key'],
      },
    })
  })
})
