import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../../src/config/index.ts'
import {
  parseTrainingJobData,
  TrainingJobDataError,
  trainingJobId,
} from '../../../src/queue/training-job.ts'
import { trainingJobOptions } from '../../../src/queue/training-queue.ts'

const REQUEST = {
  name: 'segments',
  asOf: '2025-04-06T00:00:00Z',
  horizonDays: 30,
  k: 8,
  seed: 7,
  trees: 100,
}

function problemsOf(data: unknown): string[] {
  try {
    parseTrainingJobData(data)
  } catch (error) {
    if (error instanceof TrainingJobDataError) return error.problems
    throw error
  }
  throw new Error('expected a TrainingJobDataError')
}

describe('parseTrainingJobData', () => {
  it('normalizes the cutoff to UTC', () => {
    const data = parseTrainingJobData({ ...REQUEST, asOf: '2025-04-06T02:00:00+02:00' })
    expect(data.asOf).toBe('2025-04-06T00:00:00.000Z')
  })

  it('names every invalid field', () => {
    const problems = problemsOf({
      name: 'Segments',
      asOf: '2025-04-06',
      horizonDays: 0,
      k: 2.5,
      seed: -1,
      trees: '100',
    })
    expect(problems).toEqual([
      'name: expected a bundle name of lower-case letters, digits, _ and -',
      'asOf: expected an ISO 8601 time with Z or an offset',
      'horizonDays: expected an integer from 1 to 3650',
      'k: expected an integer from 2 to 1000',
      'seed: expected an integer of at least 0',
      'trees: expected an integer from 1 to 10000',
    ])
  })

  it('rejects missing and unknown fields', () => {
    const { trees: _trees, ...withoutTrees } = REQUEST
    expect(problemsOf({ ...withoutTrees, kRanges: [2, 8] })).toEqual([
      'trees: expected an integer from 1 to 10000',
      '(root): Unrecognized key: "kRanges"',
    ])
  })

  it('rejects a k range with min above max', () => {
    expect(problemsOf({ ...REQUEST, k: undefined, kRange: { min: 9, max: 4 } })).toEqual([
      'kRange: expected min <= max',
    ])
  })

  it('rejects data that is not an object', () => {
    expect(problemsOf(null)).toEqual(['(root): Invalid input: expected object, received null'])
  })
})

describe('trainingJobId', () => {
  const id = trainingJobId(parseTrainingJobData(REQUEST))

  it('hashes the fields in name order', () => {
    // The fields sorted by name, each as a [name, value] pair, as trainingJobId documents.
    const canonical = JSON.stringify([
      ['asOf', '2025-04-06T00:00:00.000Z'],
      ['horizonDays', 30],
      ['k', 8],
      ['kRange', null],
      ['name', 'segments'],
      ['seed', 7],
      ['trees', 100],
    ])
    const digest = createHash('sha256').update(canonical).digest('hex')
    expect(id).toBe(`train-${digest.slice(0, 32)}`)
  })

  it('ignores field order and offset spelling', () => {
    const reordered = {
      trees: 100,
      seed: 7,
      k: 8,
      horizonDays: 30,
      asOf: '2025-04-06T01:00:00+01:00',
      name: 'segments',
    }
    expect(trainingJobId(parseTrainingJobData(reordered))).toBe(id)
  })

  it('differs when any field differs', () => {
    const changes: Record<string, unknown>[] = [
      { name: 'other' },
      { asOf: '2025-04-07T00:00:00Z' },
      { horizonDays: 14 },
      { k: 6 },
      { k: undefined, kRange: { min: 4, max: 12 } },
      { k: undefined, kRange: { min: 4, max: 10 } },
      { seed: 8 },
      { trees: 50 },
    ]
    const ids = changes.map((change) =>
      trainingJobId(parseTrainingJobData({ ...REQUEST, ...change })),
    )
    expect(new Set([id, ...ids]).size).toBe(changes.length + 1)
  })

  it('contains no colon', () => {
    // BullMQ rejects custom ids with a colon, and ids made only of digits.
    expect(id).toMatch(/^train-[0-9a-f]{32}$/)
  })
})

describe('queue configuration', () => {
  it('has defaults', () => {
    const config = loadConfig({})
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379')
    expect(config.queue).toEqual({
      prefix: 'bull',
      attempts: 3,
      backoffSeconds: 30,
      lockSeconds: 300,
    })
  })

  it('maps to job options', () => {
    const config = loadConfig({ SEGMENTS_JOB_ATTEMPTS: '5', SEGMENTS_JOB_BACKOFF_SECONDS: '4' })
    expect(trainingJobOptions(config)).toEqual({
      attempts: 5,
      backoff: { type: 'exponential', delay: 4000 },
      removeOnComplete: { age: 30 * 86_400 },
      removeOnFail: false,
    })
  })

  it('rejects invalid settings', () => {
    let problems: string[] = []
    try {
      loadConfig({ SEGMENTS_JOB_ATTEMPTS: '0', SEGMENTS_QUEUE_PREFIX: 'a:b' })
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      problems = error.problems
    }
    expect(problems).toEqual([
      'SEGMENTS_QUEUE_PREFIX: expected up to 64 letters, digits, _, . and -, received "a:b". Example: SEGMENTS_QUEUE_PREFIX=segments',
      'SEGMENTS_JOB_ATTEMPTS: expected an integer from 1 to 100, received "0". Example: SEGMENTS_JOB_ATTEMPTS=3',
    ])
  })
})
