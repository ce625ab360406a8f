import type { Command } from 'commander'
import type { Config } from '../../config/index.ts'
import { connectRedis } from '../../queue/connection.ts'
import {
  describeTrainingJob,
  enqueueTraining,
  KEEP_COMPLETED_DAYS,
  openTrainingQueue,
  type TrainingQueue,
} from '../../queue/training-queue.ts'
import { getConfig } from '../context.ts'

/** Raised when no job with the given id is in the training queue. */
export class JobNotFoundError extends Error {
  constructor(id: string, prefix: string) {
    super(
      `No job ${JSON.stringify(id)} in the training queue (prefix ${prefix}). ` +
        `Completed jobs are kept for ${KEEP_COMPLETED_DAYS} days. Check the id and SEGMENTS_QUEUE_PREFIX.`,
    )
    this.name = 'JobNotFoundError'
  }
}

/** Connects to Redis, runs `work` with the training queue, and closes both. */
async function withTrainingQueue<T>(
  config: Readonly<Config>,
  work: (queue: TrainingQueue) => Promise<T>,
): Promise<T> {
  const client = await connectRedis(config.redisUrl)
  const queue = openTrainingQueue(client, config)
  // A lost connection also rejects the command in flight, which reports it, and an 'error'
  // event without a listener would crash the process instead.
  queue.on('error', () => undefined)
  try {
    return await work(queue)
  } finally {
    await queue.close()
    await client.quit()
  }
}

/** Adds a training request to the queue and prints its job id, state and whether it was new. */
export async function enqueueTrainingCommand(
  config: Readonly<Config>,
  request: Record<string, unknown>,
): Promise<void> {
  await withTrainingQueue(config, async (queue) => {
    const { job, created } = await enqueueTraining(queue, request, config)
    const state = await job.getState()
    process.stdout.write(`${JSON.stringify({ jobId: job.id, state, created }, null, 2)}\n`)
    if (!created) {
      process.stderr.write(
        `segments: the same training request is already job ${job.id} (${state}); nothing was added.\n`,
      )
    }
  })
}

export function registerJobs(program: Command): void {
  const jobs = program
    .command('jobs')
    .description(
      'Read training jobs of the queue at REDIS_URL (add them with `segments train --queue`)',
    )

  jobs
    .command('status <id>')
    .description(
      'Print a job as JSON: its state (waiting, active, delayed, completed, failed), ' +
        'progress as { stage, percent of that stage }, attempts, and the result or the failure reason',
    )
    .action(async (id: string) => {
      const config = getConfig()
      await withTrainingQueue(config, async (queue) => {
        const job = await queue.getJob(id)
        if (!job) throw new JobNotFoundError(id, config.queue.prefix)
        const status = await describeTrainingJob(job)
        process.stdout.write(`${JSON.stringify(status, null, 2)}\n`)
      })
    })
}
