/**
 * The API's error catalogue. Every error response has the shape
 * `{ error: { code, message, path } }`, where `path` locates the offending
 * field in the request (empty when the request as a whole is at fault).
 */
export const ERROR_CODES = {
  INVALID_REQUEST: 400,
  UNPARSEABLE_PAYLOAD: 400,
  UNAUTHENTICATED: 401,
  INVALID_SIGNATURE: 401,
  FORBIDDEN: 403,
  UNKNOWN_CONTACT: 404,
  NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  MODEL_NOT_LOADED: 503,
  STORE_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  INTERNAL: 500,
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export interface ErrorBody {
  code: ErrorCode
  message: string
  path: (string | number)[]
}

export class ApiError extends Error {
  readonly statusCode: number

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly path: (string | number)[] = [],
  ) {
    super(message)
    this.name = 'ApiError'
    this.statusCode = ERROR_CODES[code]
  }

  toBody(): { error: ErrorBody } {
    return { error: { code: this.code, message: this.message, path: this.path } }
  }
}

/** Error codes of a store that could not be reached or did not respond in time. */
const UNREACHABLE_CODES = new Set([
  // Node's socket errors, which @clickhouse/client passes on.
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  // chDB's errors for a closed or unopened session and a query past its deadline.
  'CHDB_CLOSED',
  'CHDB_CONNECTION',
  'CHDB_TIMEOUT',
])

/**
 * ClickHouse exception codes of a server that is overloaded or timed out, so
 * that a retry may succeed: TIMEOUT_EXCEEDED (159), TOO_SLOW (160),
 * TOO_MANY_SIMULTANEOUS_QUERIES (202), SOCKET_TIMEOUT (209), NETWORK_ERROR
 * (210). @clickhouse/client gives them as `code` strings, chDB as
 * `clickhouseCode` numbers.
 */
const RETRYABLE_CLICKHOUSE_CODES = new Set([159, 160, 202, 209, 210])

/**
 * Returns true when `error`, or an error in its `cause` chain, means the
 * store could not be reached, did not respond in time or was overloaded, as
 * opposed to a query the store rejected. @clickhouse/client reports a request past its
 * timeout as an Error whose message starts with "Timeout error".
 */
export function isStoreUnreachable(error: unknown): boolean {
  let current: unknown = error
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const { code, clickhouseCode } = current as { code?: unknown; clickhouseCode?: unknown }
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true
    const exceptionCode = typeof clickhouseCode === 'number' ? clickhouseCode : Number(code)
    if (RETRYABLE_CLICKHOUSE_CODES.has(exceptionCode)) return true
    if (current.message.startsWith('Timeout error')) return true
    current = current.cause
  }
  return false
}

/** Builds the error of a request that needed the store while it was unreachable. */
export function storeUnavailableError(error: unknown, path: (string | number)[] = []): ApiError {
  const reason = error instanceof Error ? error.message : String(error)
  return new ApiError(
    'STORE_UNAVAILABLE',
    `The ClickHouse store did not respond (${reason}); retry later. Contacts sent with their features are scored without it`,
    path,
  )
}
