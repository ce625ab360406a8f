import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { startStageProgress } from '../../../src/cli/progress.ts'

/** Creates a stream that collects what is written; `isTTY` sets whether it counts as a terminal. */
function logStream(isTTY = false) {
  const stream = Object.assign(new PassThrough(), { isTTY }) as unknown as NodeJS.WriteStream
  let text = ''
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')))
  return { stream, text: () => text }
}

describe('startStageProgress off a terminal', () => {
  it('prints every stage by quarters', () => {
    const { stream, text } = logStream()
    const progress = startStageProgress(stream)
    progress.update({ stage: 'features', done: 0, total: 2 })
    progress.update({ stage: 'features', done: 1, total: 2 })
    progress.update({ stage: 'features', done: 2, total: 2 })
    progress.update({ stage: 'labels', done: 0, total: 1 })
    progress.update({ stage: 'labels', done: 1, total: 1 })
    progress.update({ stage: 'personas', done: 0, total: 1 })
    progress.update({ stage: 'personas', done: 1, total: 1 })
    for (let done = 0; done <= 10; done += 1) progress.update({ stage: 'churn', done, total: 10 })
    progress.update({ stage: 'bundle', done: 0, total: 1 })
    progress.update({ stage: 'bundle', done: 1, total: 1 })
    progress.stop()

    expect(text().split('\n')).toEqual([
      'features: 50% (1/2)',
      'features: 100% (2/2)',
      'labels: 100% (1/1)',
      'personas: 100% (1/1)',
      // 10 trees pass the quarters at 3, 5, 8 and 10 trees.
      'churn: 30% (3/10)',
      'churn: 50% (5/10)',
      'churn: 80% (8/10)',
      'churn: 100% (10/10)',
      'bundle: 100% (1/1)',
      '',
    ])
  })
})

describe('startStageProgress on a terminal', () => {
  it('draws the first and the last stage', () => {
    const { stream, text } = logStream(true)
    const progress = startStageProgress(stream)
    progress.update({ stage: 'features', done: 0, total: 2 })
    progress.update({ stage: 'churn', done: 5, total: 10 })
    progress.update({ stage: 'bundle', done: 1, total: 1 })
    progress.stop()

    // cli-progress redraws on a timer, so only the first draw (at start) and the last (at stop)
    // are certain to be written.
    const output = text()
    expect(output).toMatch(/features +\[[^\]]*\] 0% 0\/2/)
    expect(output).toMatch(/bundle +\[[^\]]*\] 100% 1\/1/)
  })
})
