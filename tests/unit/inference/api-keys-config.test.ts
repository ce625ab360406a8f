import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../../src/config/index.ts'

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')
const SCORER_HASH = sha256('scorer-key')
const OPS_HASH = sha256('ops-key')

function problemOf(value: string): string {
  try {
    loadConfig({ SEGMENTS_API_KEYS: value })
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.join('\n')
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('SEGMENTS_API_KEYS', () => {
  it('is unset by default', () => {
    expect(loadConfig({}).apiKeys).toBeUndefined()
  })

  it('parses several entries', () => {
    const config = loadConfig({
      SEGMENTS_API_KEYS: `scorer:score,ingest:${SCORER_HASH};ops:admin:${OPS_HASH}`,
    })

    expect(config.apiKeys).toEqual([
      { name: 'scorer', scopes: ['score', 'ingest'], sha256: SCORER_HASH },
      { name: 'ops', scopes: ['admin'], sha256: OPS_HASH },
    ])
  })

  it('allows spaces and a trailing separator', () => {
    const config = loadConfig({
      SEGMENTS_API_KEYS: ` scorer : score , ingest : ${SCORER_HASH} ;\n ops:admin:${OPS_HASH};`,
    })

    expect(config.apiKeys?.map((key) => key.name)).toEqual(['scorer', 'ops'])
    expect(config.apiKeys?.[0]?.scopes).toEqual(['score', 'ingest'])
  })

  it('lower-cases the hash', () => {
    const config = loadConfig({ SEGMENTS_API_KEYS: `ops:admin:${OPS_HASH.toUpperCase()}` })

    expect(config.apiKeys?.[0]?.sha256).toBe(OPS_HASH)
  })

  it('returns frozen entries', () => {
    const keys = loadConfig({ SEGMENTS_API_KEYS: `ops:admin:${OPS_HASH}` }).apiKeys

    expect(Object.isFrozen(keys)).toBe(true)
    expect(Object.isFrozen(keys?.[0])).toBe(true)
  })

  it('names variable and entry', () => {
    const problem = problemOf(`scorer:score:${SCORER_HASH};ops:admn:${OPS_HASH}`)

    expect(problem).toMatch(
      /^SEGMENTS_API_KEYS: entry 2 \(ops\): unknown scope "admn", expected one of score, ingest, admin, /,
    )
    expect(problem).toContain('Example: SEGMENTS_API_KEYS=')
  })

  it('rejects a key in place of its hash', () => {
    const problem = problemOf('scorer:score:my-plain-key')

    expect(problem).toContain(
      "entry 1 (scorer): the third field must be the key's sha256 as 64 hex digits, not the key itself",
    )
  })

  it('rejects a wrong field count', () => {
    const problem = problemOf(`pasted-key-without-fields;ops:admin:${OPS_HASH}:extra`)

    expect(problem).toContain('entry 1: expected name:scopes:sha256, found 1 field;')
    expect(problem).toContain('entry 2: expected name:scopes:sha256, found 4 fields')
  })

  it('rejects an empty scope list', () => {
    expect(problemOf(`ops::${OPS_HASH}`)).toContain(
      'entry 1 (ops): expected at least one scope of score, ingest, admin',
    )
  })

  it('rejects an invalid name', () => {
    const problem = problemOf(`bad name!:score:${OPS_HASH}`)

    expect(problem).toContain('entry 1: expected a name of up to 64 letters, digits, _, . and -')
  })

  it('rejects a repeated name', () => {
    expect(problemOf(`ops:admin:${OPS_HASH};ops:score:${SCORER_HASH}`)).toContain(
      'entry 2 (ops): an earlier entry already has this name',
    )
  })

  it('rejects a repeated hash', () => {
    expect(problemOf(`ops:admin:${OPS_HASH};other:score:${OPS_HASH}`)).toContain(
      'entry 2 (other): an earlier entry already has this hash',
    )
  })

  it('rejects a list without entries', () => {
    expect(problemOf(' ; ')).toMatch(
      /^SEGMENTS_API_KEYS: expected at least one name:scopes:sha256 entry, /,
    )
  })

  it('lists every invalid entry', () => {
    const problem = problemOf(`a:nope:${OPS_HASH};b:score:short;c:admin:${SCORER_HASH}`)

    expect(problem).toContain('entry 1 (a): unknown scope "nope"')
    expect(problem).toContain('entry 2 (b): the third field must be')
    expect(problem).not.toContain('entry 3')
  })
})

describe('SEGMENTS_RATE_LIMIT_PER_MINUTE', () => {
  it('defaults to 6000', () => {
    expect(loadConfig({}).rateLimitPerMinute).toBe(6000)
  })

  it('parses a value', () => {
    expect(loadConfig({ SEGMENTS_RATE_LIMIT_PER_MINUTE: '120' }).rateLimitPerMinute).toBe(120)
  })

  it('rejects zero', () => {
    expect(() => loadConfig({ SEGMENTS_RATE_LIMIT_PER_MINUTE: '0' })).toThrow(
      /SEGMENTS_RATE_LIMIT_PER_MINUTE: expected an integer from 1 to 10000000/,
    )
  })
})
