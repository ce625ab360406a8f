import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../../src/config/index.ts'

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('loadConfig', () => {
  it('applies defaults to an empty environment', () => {
    const config = loadConfig({})
    expect(config.clickhouse.url).toBeUndefined()
    expect(config.clickhouse.chdbPath).toBe('.data/clickhouse')
    expect(config.port).toBe(8080)
    expect(config.host).toBe('127.0.0.1')
    expect(config.defaultTimeZone).toBe('UTC')
    expect(config.scoreMaxContacts).toBe(10_000)
  })

  it('parses given values', () => {
    const config = loadConfig({
      CLICKHOUSE_URL: 'http://127.0.0.1:8123',
      SEGMENTS_PORT: '9000',
      SEGMENTS_DEFAULT_TIME_ZONE: 'Asia/Kolkata',
    })
    expect(config.clickhouse.url).toBe('http://127.0.0.1:8123')
    expect(config.port).toBe(9000)
    expect(config.defaultTimeZone).toBe('Asia/Kolkata')
  })

  it('returns a frozen object', () => {
    const config = loadConfig({})
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.clickhouse)).toBe(true)
  })

  it('names variable, reason and example', () => {
    const [problem] = problemsOf({ SEGMENTS_PORT: 'eighty' })
    expect(problem).toBe(
      'SEGMENTS_PORT: expected an integer from 0 to 65535, received "eighty". Example: SEGMENTS_PORT=8080',
    )
  })

  it('lists every invalid variable', () => {
    const problems = problemsOf({
      CLICKHOUSE_URL: 'ftp://example.com',
      REDIS_URL: 'http://127.0.0.1:6379',
      SEGMENTS_DEFAULT_TIME_ZONE: 'Mars/Olympus',
      SEGMENTS_LOG_LEVEL: 'loud',
    })
    expect(problems).toHaveLength(4)
    expect(problems[0]).toMatch(
      /^CLICKHOUSE_URL: expected a URL with scheme http or https, received "ftp:/,
    )
    expect(problems[1]).toMatch(/^REDIS_URL: expected a URL with scheme redis or rediss/)
    expect(problems[2]).toMatch(/^SEGMENTS_LOG_LEVEL: expected one of fatal, error/)
    expect(problems[3]).toMatch(
      /^SEGMENTS_DEFAULT_TIME_ZONE: expected an IANA time zone name, received "Mars\/Olympus"/,
    )
  })

  it('rejects an unknown SEGMENTS_ variable', () => {
    const [problem] = problemsOf({ SEGMENTS_PROT: '1' })
    expect(problem).toMatch(/^SEGMENTS_PROT: unknown variable\. Known ones: SEGMENTS_CHDB_PATH, /)
  })

  it('never repeats a secret value', () => {
    const [problem] = problemsOf({ SEGMENTS_API_KEYS: 'plain-secret-key' })
    expect(problem).toContain('received a value of 16 characters (not shown)')
    expect(problem).not.toContain('plain-secret-key')
  })

  it('ignores variables of other programs', () => {
    expect(() => loadConfig({ PATH: '/bin', HOME: '/root', PORT: 'x' })).not.toThrow()
  })
})
