import { Worker, type Job } from 'bullmq'
import type { Logger } from 'pino'
import type { Config } from '../config/index.ts'
import { redactUrl } from './connection.ts'
import { TRAINING_QUEUE, type TrainingJobData, type TrainingJobResult } from './training-job.ts'

export type TrainingProcessor = (
  job: Job<TrainingJobData, TrainingJobResult>,
) => Promise<TrainingJobResult>

/** Maximum interval between two checks for jobs whose worker died, in milliseconds. */
const MAX_STALLED_INTERVAL_MS = 30_000

/** Connection errors repeat every reconnect; one log line per this many milliseconds is enough. */
const ERROR_LOG_INTERVAL_MS = 10_000

/**
 * Starts a BullMQ worker on the training queue that runs one job at a time,
 * and logs every start, finish, failure, retry and stalled job with its id.
 *
 * A job whose worker dies keeps its lock until `lockSeconds` pass. Then a
 * stalled check of any worker moves it back to waiting, and it runs again
 * from the start.
 */
export function startTrainingWorker(
  config: Pick<Config, 'redisUrl' | 'queue'>,
  processor: TrainingProcessor,
  logger: Logger,
): Worker<TrainingJobData, TrainingJobResult> {
  const lockDuration = config.queue.lockSeconds * 1000
  const worker = new Worker<TrainingJobData, TrainingJobResult>(TRAINING_QUEUE, processor, {
    // A connection of the worker's own, with BullMQ's reconnect strategy, so the worker
    // outlives a Redis restart.
    connection: { url: config.redisUrl },
    prefix: config.queue.prefix,
    // One job at a time, because every job trains on the one store the worker owns.
    concurrency: 1,
    lockDuration,
    stalledInterval: Math.min(MAX_STALLED_INTERVAL_MS, Math.max(500, lockDuration / 2)),
    // NOTE: a training step that blocks the event loop for longer than the lock (a large forest)
    // stops lock renewal, so another worker may start the same job. Raise SEGMENTS_JOB_LOCK_SECONDS.
    maxStalledCount: 1,
  })

  worker.on('active', (job) => {
    logger.info(
      {
        jobId: job.id,
        attemptsMade: job.attemptsMade,
        attemptsStarted: job.attemptsStarted,
        data: job.data,
      },
      'training job started',
    )
  })
  worker.on('completed', (job, result) => {
    const durationMs = job.finishedOn && job.processedOn ? job.finishedOn - job.processedOn : null
    logger.info(
      { jobId: job.id, version: result.version, dir: result.dir, durationMs },
      'training job completed',
    )
  })
  worker.on('failed', (job, error) => {
    if (!job) {
      logger.error({ err: error }, 'training job failed')
      return
    }
    const attempts = job.opts.attempts ?? 1
    const willRetry = job.attemptsMade < attempts && error.name !== 'UnrecoverableError'
    logger.error(
      { jobId: job.id, attemptsMade: job.attemptsMade, attempts, willRetry, err: error },
      willRetry ? 'training job failed; it will be retried' : 'training job failed for good',
    )
  })
  worker.on('stalled', (jobId) => {
    logger.warn({ jobId }, 'training job stalled (its worker stopped); moved back to waiting')
  })

  let lastErrorLog = 0
  let suppressedErrors = 0
  worker.on('error', (error) => {
    const now = Date.now()
    if (now - lastErrorLog < ERROR_LOG_INTERVAL_MS) {
      suppressedErrors += 1
      return
    }
    logger.error(
      { err: error, redis: redactUrl(config.redisUrl), suppressedErrors },
      'training worker error',
    )
    lastErrorLog = now
    suppressedErrors = 0
  })
  return worker
}
