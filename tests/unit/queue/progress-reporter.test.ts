import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { TrainingProgress } from '../../../src/queue/training-job.ts'
import { progressReporter, type TrainingJobHandle } from '../../../training/jobs.ts'

/** Creates a job handle that records its progress updates in place of Redis. */
function recordingJob(fail = false) {
  const updates: TrainingProgress[] = []
  const job: TrainingJobHandle = {
    id: 'train-test',
    data: {},
    updateProgress: async (progress) => {
      updates.push({ ...progress })
      if (fail) throw new Error('connection closed')
    },
  }
  return { job, updates }
}

const silent = pino({ level: 'silent' })

describe('progressReporter', () => {
  it('sends each stage and percent once', () => {
    const { job, updates } = recordingJob()
    const report = progressReporter(job, silent)
    report({ stage: 'features', done: 0, total: 2 })
    report({ stage: 'features', done: 1, total: 2 })
    report({ stage: 'features', done: 2, total: 2 })
    report({ stage: 'labels', done: 0, total: 1 })
    report({ stage: 'labels', done: 1, total: 1 })
    for (let done = 0; done <= 300; done += 1) report({ stage: 'churn', done, total: 300 })
    report({ stage: 'bundle', done: 1, total: 1 })

    expect(updates.slice(0, 5)).toEqual([
      { stage: 'features', percent: 0 },
      { stage: 'features', percent: 50 },
      { stage: 'features', percent: 100 },
      { stage: 'labels', percent: 0 },
      { stage: 'labels', percent: 100 },
    ])
    const churn = updates.filter((update) => update.stage === 'churn')
    // 300 trees in whole percents: 0, 1, ..., 100, each once.
    expect(churn.map((update) => update.percent)).toEqual(Array.from({ length: 101 }, (_, i) => i))
    expect(updates.at(-1)).toEqual({ stage: 'bundle', percent: 100 })
  })

  it('keeps going when an update fails', async () => {
    const { job, updates } = recordingJob(true)
    const report = progressReporter(job, silent)
    report({ stage: 'personas', done: 0, total: 1 })
    report({ stage: 'personas', done: 1, total: 1 })
    await new Promise((resolve) => setImmediate(resolve))
    expect(updates).toEqual([
      { stage: 'personas', percent: 0 },
      { stage: 'personas', percent: 100 },
    ])
  })
})
