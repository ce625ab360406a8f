import { z } from 'zod'
import { isTimeZone } from '../time-zone.ts'

function integer(min: number, max: number) {
  const error = `expected an integer from ${min} to ${max}`
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error })
}

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
  CLICKHOUSE_USER: { schema: z.string().min(1).default('default'), example: 'default' },
  CLICKHOUSE_PASSWORD: { schema: z.string().default(''), example: 'secret' },
  CLICKHOUSE_DATABASE: {
    schema: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a database name of letters, digits and _')
      .default('default'),
    example: 'segments',
  },
  REDIS_URL: { schema: url(['redis', 'rediss']).optional(), example: 'redis://127.0.0.1:6379' },
  SEGMENTS_CHDB_PATH: {
    schema: z.string().min(1).default('.data/clickhouse'),
    example: '.data/clickhouse',
  },
  SEGMENTS_MODELS_DIR: { schema: z.string().min(1).default('models'), example: 'models' },
  SEGMENTS_HOST: { schema: z.string().min(1).default('127.0.0.1'), example: '127.0.0.1' },
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
    schema: integer(1024, 1024 * 1024 * 1024).default(16 * 1024 * 1024),
    example: '16777216',
  },
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
  }
  redisUrl: Parsed<'REDIS_URL'>
  modelsDir: string
  host: string
  port: number
  logLevel: Parsed<'SEGMENTS_LOG_LEVEL'>
  defaultTimeZone: string
  scoreMaxContacts: number
  bodyLimitBytes: number
  webhooks: {
    sendgridVerificationKey: string | undefined
    mailgunSigningKey: string | undefined
    postmarkBasicAuth: string | undefined
    maxAgeSeconds: number
  }
}
