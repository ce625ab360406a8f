import type { ClickHouseClient } from '@clickhouse/client'
import { UnrecoverableError } from 'bullmq'
import type { Logger } from 'pino'
import {
  parseTrainingJobData,
  TrainingJobDataError,
  type TrainingJobResult,
  type TrainingProgress,
} from '../src/queue/training-job.ts'
import { TrainingDataError } from './errors.ts'
import { trainBundle, type TrainStageEvent } from './pipeline.ts'

/** Resources the worker owns and lends to every job: the store, the models folder and the default zone. */
export interface TrainingJobContext {
  client: ClickHouseClient
  modelsDir: string
  defaultZone: string
  logger: Logger
}

/** The part of a BullMQ job the handler uses. */
export interface TrainingJobHandle {
  id?: string
  data: unknown
  updateProgress(progress: TrainingProgress): Promise<void>
}

/**
 * Returns an onStage callback that stores `{ stage, percent }` on the job
 * when the stage or its whole percent changes, so a 100-tree forest sends at
 * most 100 updates. A failed update is logged and training goes on.
 */
export function progressReporter(
  job: TrainingJobHandle,
  logger: Logger,
): (event: TrainStageEvent) => void {
  let last: TrainingProgress | undefined
  return (event) => {
    const percent = event.total > 0 ? Math.floor((event.done / event.total) * 100) : 100
    if (last?.stage === event.stage && last.percent === percent) return
    last = { stage: event.stage, percent }
    job.updateProgress(last).catch((error: unknown) => {
      logger.warn({ jobId: job.id, err: error }, 'training job progress update failed')
    })
  }
}

/**
 * Runs one training job: validates its data, trains and publishes the bundle
 * with the worker's store and models folder, and returns where it went.
 * Invalid data and data the store cannot support raise UnrecoverableError,
 * because retrying them gives the same failure; other errors are retried.
 */
export async function runTrainingJob(
  job: TrainingJobHandle,
  context: TrainingJobContext,
): Promise<TrainingJobResult> {
  let data
  try {
    data = parseTrainingJobData(job.data)
  } catch (error) {
    if (error instanceof TrainingJobDataError) throw new UnrecoverableError(error.message)
    throw error
  }

  try {
    const result = await trainBundle(
      context.client,
      {
        name: data.name,
        modelsDir: context.modelsDir,
        asOfMs: Date.parse(data.asOf),
        horizonDays: data.horizonDays,
        k: data.k,
        kRange: data.kRange,
        seed: data.seed,
        nTrees: data.trees,
        defaultZone: context.defaultZone,
      },
      progressReporter(job, context.logger),
    )
    return {
      dir: result.dir,
      version: result.manifest.version,
      metrics: { ...result.manifest.metrics },
    }
  } catch (error) {
    if (error instanceof TrainingDataError) throw new UnrecoverableError(error.message)
    throw error
  }
}
