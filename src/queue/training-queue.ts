import { Queue, type Job, type JobsOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Config } from '../config/index.ts'
import {
  parseTrainingJobData,
  TRAIN_JOB_NAME,
  TRAINING_QUEUE,
  trainingJobId,
  type TrainingJobData,
  type TrainingJobResult,
} from './training-job.ts'

export type TrainingJob = Job<TrainingJobData, TrainingJobResult>
export type TrainingQueue = Queue<TrainingJobData, TrainingJobResult>

/** Days a completed job is kept, so adding the same request again within them returns that job. */
export const KEEP_COMPLETED_DAYS = 30

/** Opens the training queue on a connected client; closing the queue leaves the client open. */
export function openTrainingQueue(client: Redis, config: Pick<Config, 'queue'>): TrainingQueue {
  return new Queue<TrainingJobData, TrainingJobResult>(TRAINING_QUEUE, {
    connection: client,
    prefix: config.queue.prefix,
  })
}

/** Job options from the configuration: attempts and exponential backoff between them. */
export function trainingJobOptions(config: Pick<Config, 'queue'>): JobsOptions {
  return {
    attempts: config.queue.attempts,
    backoff: { type: 'exponential', delay: config.queue.backoffSeconds * 1000 },
    removeOnComplete: { age: KEEP_COMPLETED_DAYS * 86_400 },
    // Failed jobs are kept until removed, so their reason stays readable.
    removeOnFail: false,
  }
}

export interface EnqueueResult {
  job: TrainingJob
  /** False when a job with the same id was already in the queue, so nothing was added. */
  created: boolean
}

/**
 * Validates a training request and adds it under its derived id. A request
 * already in the queue (waiting, running, completed or failed) is not added
 * again, and its job is returned.
 */
export async function enqueueTraining(
  queue: TrainingQueue,
  request: unknown,
  config: Pick<Config, 'queue'>,
): Promise<EnqueueResult> {
  const data = parseTrainingJobData(request)
  const jobId = trainingJobId(data)
  const existing = await queue.getJob(jobId)
  if (existing) return { job: existing, created: false }
  const job = await queue.add(TRAIN_JOB_NAME, data, { ...trainingJobOptions(config), jobId })
  // Two clients adding the same request at once may both report created, but BullMQ stores one job.
  return { job, created: true }
}

export interface TrainingJobStatus {
  id: string
  state: string
  progress: unknown
  data: TrainingJobData
  /** Runs finished so far, failed ones included; a run cut off by a stopped worker is not counted. */
  attemptsMade: number
  /** Runs started so far, the ones cut off by a stopped worker included. */
  attemptsStarted: number
  maxAttempts: number
  createdAt: string
  startedAt: string | null
  finishedAt: string | null
  result: TrainingJobResult | null
  failedReason: string | null
}

const isoOrNull = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null)

/** Reads the state, progress and result of a job. */
export async function describeTrainingJob(job: TrainingJob): Promise<TrainingJobStatus> {
  return {
    id: String(job.id),
    state: await job.getState(),
    progress: job.progress,
    data: job.data,
    attemptsMade: job.attemptsMade,
    attemptsStarted: job.attemptsStarted,
    maxAttempts: job.opts.attempts ?? 1,
    createdAt: new Date(job.timestamp).toISOString(),
    startedAt: isoOrNull(job.processedOn),
    finishedAt: isoOrNull(job.finishedOn),
    result: job.returnvalue ?? null,
    failedReason: job.failedReason || null,
  }
}
