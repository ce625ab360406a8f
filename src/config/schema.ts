import { z } from 'zod'
import { isTimeZone } from '../time-zone.ts'

function integer(min: number, max: number) {
  const error = `expected an integer from ${min} to ${max}`
  return z
    .string({ error })
    .regex(/^\s*\d+\s*$/, { error })
    .transform(Number)
    .pipe(z.number().int({ error }).min(min, { error }).max(max, { error }))
}

/** Scopes an API key can hold; `admin` implies the other two. */
export const API_SCOPES = ['score', 'ingest', 'admin'] as const
export type ApiScope = (typeof API_SCOPES)[number]

/** One entry of SEGMENTS_API_KEYS: the key itself is never stored, only its sha256. */
export interface ApiKey {
  name: string
  scopes: readonly ApiScope[]
  /** Lower-case hex sha256 of the key's UTF-8 bytes. */
  sha256: string
}

const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
const SHA256_HEX = /^[0-9a-fA-F]{64}$/

/**
 * Parses `name:scope[,scope...]:sha256hex` entries separated by `;`, reporting
 * every invalid entry by position and name. Messages never repeat the third
 * field, in case someone put the key itself there.
 */
function parseApiKeys(text: string, problems: string[]): ApiKey[] {
  const entries = text
    .split(';')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
  if (entries.length === 0) problems.push('expected at least one name:scopes:sha256 entry')

  const keys: ApiKey[] = []
  const seenNames = new Set<string>()
  const seenHashes = new Set<string>()
  entries.forEach((entry, index) => {
    const fields = entry.split(':').map((field) => field.trim())
    const [name = '', scopeList = '', hash = ''] = fields
    // An invalid name is left out of messages because it may be a key pasted in the wrong place.
    const validName = KEY_NAME.test(name)
    const before = problems.length

    if (fields.length !== 3) {
      const found = fields.length === 1 ? '1 field' : `${fields.length} fields`
      problems.push(`entry ${index + 1}: expected name:scopes:sha256, found ${found}`)
      return
    }
    const where = `entry ${index + 1}${validName ? ` (${name})` : ''}`
    if (!validName) {
      problems.push(`${where}: expected a name of up to 64 letters, digits, _, . and -`)
    }
    const scopes = scopeList
      .split(',')
      .map((scope) => scope.trim())
      .filter((scope) => scope !== '')
    if (scopes.length === 0) {
      problems.push(`${where}: expected at least one scope of ${API_SCOPES.join(', ')}`)
    }
    for (const scope of scopes) {
      if (!(API_SCOPES as readonly string[]).includes(scope)) {
        problems.push(
          `${where}: unknown scope ${JSON.stringify(scope)}, expected one of ${API_SCOPES.join(', ')}`,
        )
      }
    }
    if (!SHA256_HEX.test(hash)) {
      problems.push(
        `${where}: the third field must be the key's sha256 as 64 hex digits, not the key itself`,
      )
    }
    const sha256 = hash.toLowerCase()
    if (seenNames.has(name)) problems.push(`${where}: an earlier entry already has this name`)
    if (seenHashes.has(sha256)) problems.push(`${where}: an earlier entry already has this hash`)
    seenNames.add(name)
    seenHashes.add(sha256)
    if (problems.length === before) {
      keys.push({ name, scopes: [...new Set(scopes)] as ApiScope[], sha256 })
    }
  })
  return keys
}

const apiKeysSchema = z.string().transform((text, context) => {
  const problems: string[] = []
  const keys = parseApiKeys(text, problems)
  for (const problem of problems) context.addIssue(problem)
  return problems.length > 0 ? z.NEVER : Object.freeze(keys.map((key) => Object.freeze(key)))
})

function url(protocols: string[]) {
  const error = `expected a URL with scheme ${protocols.join(' or ')}`
  const protocol = new RegExp(`^(${protocols.join('|')})$`)
  return z.url({ protocol, error })
}

/**
 * Every environment variable the program reads, with its default and an
 * example of a good value for error messages.
 */
export const CONFIG_VARIABLES = {
  CLICKHOUSE_URL: {
    schema: url(['http', 'https']).optional(),
    example: 'http://127.0.0.1:8123',
  },
  CLICKHOUSE_USER: {
    schema: z.string().trim().min(1, 'expected a non-empty user name').default('default'),
    example: 'default',
  },
  CLICKHOUSE_PASSWORD: { schema: z.string().default(''), example: 'secret' },
  CLICKHOUSE_DATABASE: {
    schema: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a database name of letters, digits and _')
      .default('default'),
    example: 'segments',
  },
  CLICKHOUSE_REQUEST_TIMEOUT_MS: {
    schema: integer(100, 3_600_000).default(30_000),
    example: '2000',
  },
  REDIS_URL: {
    schema: url(['redis', 'rediss']).default('redis://127.0.0.1:6379'),
    example: 'redis://127.0.0.1:6379',
  },
  SEGMENTS_CHDB_PATH: {
    schema: z.string().trim().min(1, 'expected a non-empty value').default('.data/clickhouse'),
    example: '.data/clickhouse',
  },
  SEGMENTS_MODELS_DIR: {
    schema: z.string().trim().min(1, 'expected a non-empty value').default('models'),
    example: 'models',
  },
  SEGMENTS_MODEL_RELOAD_SECONDS: { schema: integer(0, 86_400).default(10), example: '10' },
  SEGMENTS_HOST: {
    schema: z.string().trim().min(1, 'expected a non-empty value').default('127.0.0.1'),
    example: '127.0.0.1',
  },
  SEGMENTS_PORT: { schema: integer(0, 65535).default(8080), example: '8080' },
  SEGMENTS_LOG_LEVEL: {
    schema: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        error: 'expected one of fatal, error, warn, info, debug, trace, silent',
      })
      .default('info'),
    example: 'info',
  },
  SEGMENTS_DEFAULT_TIME_ZONE: {
    schema: z.string().refine(isTimeZone, 'expected an IANA time zone name').default('UTC'),
    example: 'Europe/Warsaw',
  },
  SEGMENTS_SCORE_MAX_CONTACTS: { schema: integer(1, 1_000_000).default(10_000), example: '10000' },
  SEGMENTS_SENDGRID_VERIFICATION_KEY: {
    schema: z
      .string()
      .regex(/^[A-Za-z0-9+/]+=*$/, 'expected the base64 verification key from SendGrid')
      .optional(),
    example: 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE...',
  },
  SEGMENTS_MAILGUN_SIGNING_KEY: {
    schema: z.string().min(1).optional(),
    example: 'key-0123456789abcdef',
  },
  SEGMENTS_POSTMARK_BASIC_AUTH: {
    schema: z
      .string()
      .regex(/^[^:]+:.+$/, 'expected user:password')
      .optional(),
    example: 'postmark:a-long-random-password',
  },
  SEGMENTS_WEBHOOK_MAX_AGE_SECONDS: {
    schema: integer(0, 7 * 24 * 3600).default(300),
    example: '300',
  },
  SEGMENTS_BODY_LIMIT_BYTES: {
    // 10,000 contacts with 85 features each, the default maximum per request, took 17 to 25 MB
    // of JSON in the serving benchmark.
    schema: integer(1024, 1024 * 1024 * 1024).default(64 * 1024 * 1024),
    example: '67108864',
  },
  SEGMENTS_API_KEYS: {
    schema: apiKeysSchema.optional(),
    example:
      'scorer:score:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08;ops:admin:<sha256 hex>',
  },
  SEGMENTS_RATE_LIMIT_PER_MINUTE: {
    schema: integer(1, 10_000_000).default(6000),
    example: '6000',
  },
  SEGMENTS_FEATURE_CACHE_SECONDS: { schema: integer(0, 86_400).default(60), example: '60' },
  SEGMENTS_FEATURE_CACHE_MAX_ENTRIES: {
    schema: integer(1, 10_000_000).default(20_000),
    example: '20000',
  },
  SEGMENTS_BATCH_MAX_ROWS: { schema: integer(1, 1_000_000).default(4096), example: '4096' },
  SEGMENTS_BATCH_MAX_WAIT_MS: { schema: integer(0, 1000).default(0), example: '2' },
  SEGMENTS_BACKGROUND_NICE: { schema: integer(0, 19).default(19), example: '19' },
  SEGMENTS_SCORE_LOG_FLUSH_ROWS: { schema: integer(1, 100_000).default(1000), example: '1000' },
  SEGMENTS_SCORE_LOG_FLUSH_MS: { schema: integer(10, 3_600_000).default(1000), example: '1000' },
  SEGMENTS_SCORE_LOG_SPOOL_DIR: {
    schema: z.string().trim().min(1, 'expected a non-empty value').default('.data/score-log-spool'),
    example: '.data/score-log-spool',
  },
  SEGMENTS_SCORE_LOG_SPOOL_MAX_BYTES: {
    schema: integer(0, 2 ** 40).default(1024 * 1024 * 1024),
    example: '1073741824',
  },
  SEGMENTS_QUEUE_PREFIX: {
    schema: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected up to 64 letters, digits, _, . and -')
      .default('bull'),
    example: 'segments',
  },
  SEGMENTS_JOB_ATTEMPTS: { schema: integer(1, 100).default(3), example: '3' },
  SEGMENTS_JOB_BACKOFF_SECONDS: { schema: integer(0, 86_400).default(30), example: '30' },
  SEGMENTS_JOB_LOCK_SECONDS: { schema: integer(1, 86_400).default(300), example: '300' },
} as const

export type ConfigVariable = keyof typeof CONFIG_VARIABLES

type Parsed<K extends ConfigVariable> = z.output<(typeof CONFIG_VARIABLES)[K]['schema']>

export interface Config {
  clickhouse: {
    url: Parsed<'CLICKHOUSE_URL'>
    user: string
    password: string
    database: string
    chdbPath: string
    /** Milliseconds a request to a ClickHouse server may take; the embedded store ignores it. */
    requestTimeoutMs: number
  }
  redisUrl: string
  /** Training queue settings; `prefix` namespaces the queue's Redis keys. */
  queue: {
    prefix: string
    /** Runs of a job before it fails for good, the first one included. */
    attempts: number
    /** Wait before the first retry; each later retry waits twice as long as the one before. */
    backoffSeconds: number
    /** How long a worker's lock on its job lasts without renewal; a job whose lock expires is run again. */
    lockSeconds: number
  }
  modelsDir: string
  /** Seconds between checks of champion.json by `serve`; 0 turns reloading off. */
  modelReloadSeconds: number
  host: string
  port: number
  logLevel: Parsed<'SEGMENTS_LOG_LEVEL'>
  defaultTimeZone: string
  scoreMaxContacts: number
  bodyLimitBytes: number
  /** API keys from SEGMENTS_API_KEYS; undefined means every route is open. */
  apiKeys: readonly ApiKey[] | undefined
  /** Requests per minute allowed to each API key (to each client IP when open). */
  rateLimitPerMinute: number
  /** Features of contacts scored by key as of now, kept per key for reuse. `seconds` 0 turns it off. */
  featureCache: { seconds: number; maxEntries: number }
  /** Maximum rows per model call, and the maximum wait in ms for other requests' rows (0: no wait). */
  batch: { maxRows: number; maxWaitMs: number }
  /** Nice value `serve` gives every thread but the event loop's; 0 leaves priorities as they are. */
  backgroundNice: number
  webhooks: {
    sendgridVerificationKey: string | undefined
    mailgunSigningKey: string | undefined
    postmarkBasicAuth: string | undefined
    maxAgeSeconds: number
  }
  /** The score_log writer: batch size and interval, and the spool for rows the store did not take. */
  scoreLog: {
    flushRows: number
    flushMs: number
    spoolDir: string
    /** Largest size of the spool's files together; rows past it are dropped and counted. */
    spoolMaxBytes: number
  }
}
