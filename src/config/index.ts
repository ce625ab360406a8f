import { CONFIG_VARIABLES, type Config, type ConfigVariable } from './schema.ts'

export type { Config } from './schema.ts'

/** Raised when the environment contains a value the program cannot run with. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((line) => `  ${line}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

const OUR_PREFIX = 'SEGMENTS_'

/** Variables that hold secrets: an error about one never repeats its value. */
const SECRET_VARIABLES = new Set([
  'CLICKHOUSE_PASSWORD',
  'SEGMENTS_API_KEYS',
  'SEGMENTS_MAILGUN_SIGNING_KEY',
  'SEGMENTS_POSTMARK_BASIC_AUTH',
])

function describeValue(name: string, value: string | undefined): string {
  if (value !== undefined && SECRET_VARIABLES.has(name))
    return `a value of ${value.length} characters (not shown)`
  return value === undefined ? 'nothing' : JSON.stringify(value)
}

/**
 * Parses the whole configuration from `env` once, listing every invalid
 * variable with the reason and an example, and rejecting unknown
 * `SEGMENTS_*` names so a typo does not pass silently.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const problems: string[] = []
  const values: Record<string, unknown> = {}

  for (const [name, variable] of Object.entries(CONFIG_VARIABLES)) {
    const raw = env[name] === '' ? undefined : env[name]
    const result = variable.schema.safeParse(raw)
    if (result.success) {
      values[name] = result.data
      continue
    }
    const reason = result.error.issues.map((issue) => issue.message).join('; ')
    problems.push(
      `${name}: ${reason}, received ${describeValue(name, raw)}. Example: ${name}=${variable.example}`,
    )
  }

  for (const name of Object.keys(env)) {
    if (name.startsWith(OUR_PREFIX) && !(name in CONFIG_VARIABLES)) {
      const known = Object.keys(CONFIG_VARIABLES).filter((key) => key.startsWith(OUR_PREFIX))
      problems.push(`${name}: unknown variable. Known ones: ${known.join(', ')}`)
    }
  }

  if (problems.length > 0) throw new ConfigError(problems)

  const get = <K extends ConfigVariable>(name: K) => values[name] as never
  const config: Config = {
    clickhouse: {
      url: get('CLICKHOUSE_URL'),
      user: get('CLICKHOUSE_USER'),
      password: get('CLICKHOUSE_PASSWORD'),
      database: get('CLICKHOUSE_DATABASE'),
      chdbPath: get('SEGMENTS_CHDB_PATH'),
      requestTimeoutMs: get('CLICKHOUSE_REQUEST_TIMEOUT_MS'),
    },
    redisUrl: get('REDIS_URL'),
    queue: {
      prefix: get('SEGMENTS_QUEUE_PREFIX'),
      attempts: get('SEGMENTS_JOB_ATTEMPTS'),
      backoffSeconds: get('SEGMENTS_JOB_BACKOFF_SECONDS'),
      lockSeconds: get('SEGMENTS_JOB_LOCK_SECONDS'),
    },
    modelsDir: get('SEGMENTS_MODELS_DIR'),
    modelReloadSeconds: get('SEGMENTS_MODEL_RELOAD_SECONDS'),
    host: get('SEGMENTS_HOST'),
    port: get('SEGMENTS_PORT'),
    logLevel: get('SEGMENTS_LOG_LEVEL'),
    defaultTimeZone: get('SEGMENTS_DEFAULT_TIME_ZONE'),
    scoreMaxContacts: get('SEGMENTS_SCORE_MAX_CONTACTS'),
    bodyLimitBytes: get('SEGMENTS_BODY_LIMIT_BYTES'),
    apiKeys: get('SEGMENTS_API_KEYS'),
    rateLimitPerMinute: get('SEGMENTS_RATE_LIMIT_PER_MINUTE'),
    featureCache: {
      seconds: get('SEGMENTS_FEATURE_CACHE_SECONDS'),
      maxEntries: get('SEGMENTS_FEATURE_CACHE_MAX_ENTRIES'),
    },
    backgroundNice: get('SEGMENTS_BACKGROUND_NICE'),
    batch: {
      maxRows: get('SEGMENTS_BATCH_MAX_ROWS'),
      maxWaitMs: get('SEGMENTS_BATCH_MAX_WAIT_MS'),
    },
    webhooks: {
      sendgridVerificationKey: get('SEGMENTS_SENDGRID_VERIFICATION_KEY'),
      mailgunSigningKey: get('SEGMENTS_MAILGUN_SIGNING_KEY'),
      postmarkBasicAuth: get('SEGMENTS_POSTMARK_BASIC_AUTH'),
      maxAgeSeconds: get('SEGMENTS_WEBHOOK_MAX_AGE_SECONDS'),
    },
    scoreLog: {
      flushRows: get('SEGMENTS_SCORE_LOG_FLUSH_ROWS'),
      flushMs: get('SEGMENTS_SCORE_LOG_FLUSH_MS'),
      spoolDir: get('SEGMENTS_SCORE_LOG_SPOOL_DIR'),
      spoolMaxBytes: get('SEGMENTS_SCORE_LOG_SPOOL_MAX_BYTES'),
    },
  }
  return Object.freeze({
    ...config,
    clickhouse: Object.freeze(config.clickhouse),
    queue: Object.freeze(config.queue),
    webhooks: Object.freeze(config.webhooks),
    scoreLog: Object.freeze(config.scoreLog),
    featureCache: Object.freeze(config.featureCache),
    batch: Object.freeze(config.batch),
  })
}
