import { createHash } from 'node:crypto'
import { z } from 'zod'

/** Name of the BullMQ queue that training jobs go through. */
export const TRAINING_QUEUE = 'training'

/** Name every training job is added under; the queue contains no other kind. */
export const TRAIN_JOB_NAME = 'train'

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  const error =
    max === Number.MAX_SAFE_INTEGER
      ? `expected an integer of at least ${min}`
      : `expected an integer from ${min} to ${max}`
  return z.int({ error }).min(min, { error }).max(max, { error })
}

/**
 * Data of one training job: the same fields as `segments train`. The models
 * folder, the store and the default time zone come from the worker's
 * configuration, because the worker owns them.
 */
export const trainingJobSchema = z.strictObject({
  name: z
    .string({ error: 'expected a bundle name' })
    .regex(
      /^[a-z0-9][a-z0-9_-]*$/,
      'expected a bundle name of lower-case letters, digits, _ and -',
    ),
  asOf: z.iso
    .datetime({ offset: true, error: 'expected an ISO 8601 time with Z or an offset' })
    .transform((text) => new Date(text).toISOString()),
  horizonDays: integer(1, 3650),
  /** A fixed number of personas; without it, k is chosen by the silhouette over `kRange`. */
  k: integer(2, 1000).optional(),
  kRange: z
    .strictObject({ min: integer(2, 1000), max: integer(2, 1000) })
    .refine((range) => range.min <= range.max, { error: 'expected min <= max' })
    .optional(),
  seed: integer(0),
  trees: integer(1, 10_000),
})

export type TrainingJobData = z.output<typeof trainingJobSchema>

/** Raised when a training job's data does not match the schema; the message names every invalid field. */
export class TrainingJobDataError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid training job data: ${problems.join('; ')}`)
    this.name = 'TrainingJobDataError'
  }
}

/** Parses job data, normalizing the cutoff to UTC so equal requests compare equal. */
export function parseTrainingJobData(data: unknown): TrainingJobData {
  const parsed = trainingJobSchema.safeParse(data)
  if (parsed.success) return parsed.data
  const problems = parsed.error.issues.map((issue) => {
    const field = issue.path.join('.') || '(root)'
    return `${field}: ${issue.message}`
  })
  throw new TrainingJobDataError(problems)
}

/**
 * Derives the job id from the request, so adding the same request twice
 * yields one job: BullMQ ignores an add whose id is already in the queue.
 * Fields are hashed in a fixed order, so the order they were given in does
 * not matter.
 */
export function trainingJobId(data: TrainingJobData): string {
  const fields = Object.keys(trainingJobSchema.shape).sort() as (keyof TrainingJobData)[]
  const canonical = JSON.stringify(fields.map((field) => [field, data[field]]))
  const digest = createHash('sha256').update(canonical).digest('hex')
  return `${TRAIN_JOB_NAME}-${digest.slice(0, 32)}`
}

/** Progress a training job reports: the current stage and how much of that stage is done. */
export const trainingProgressSchema = z.object({
  stage: z.enum(['features', 'labels', 'personas', 'churn', 'bundle']),
  percent: z.number().min(0).max(100),
})

export type TrainingProgress = z.output<typeof trainingProgressSchema>

/** Result a completed training job stores: the published bundle and its metrics. */
export interface TrainingJobResult {
  dir: string
  version: string
  metrics: Record<string, number>
}
