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
